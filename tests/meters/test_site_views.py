"""The web site import: upload, preview, and a confirmation that imports exactly the previewed file."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from meters.models import Meter, Site
from meters.uploads import upload_dir, upload_path
from tests.meters.factories import MeterFactory, SiteFactory
from tests.meters.test_imports import BAD_ENDINGS, _good_rows

pytestmark = pytest.mark.django_db
CONFIRM = reverse("meters:site_import_confirm")


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def _upload(client: Client, data: bytes, name: str = "sites.csv") -> dict[str, str]:
    """Upload a file as a person would, and return the confirm form of its preview page."""
    response = client.post(reverse("meters:site_import"), {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 302
    preview = client.get(response["Location"]).content.decode()
    assert f"Preview of {name}" in preview
    return _confirm_form(preview)


def _confirm_form(page: str) -> dict[str, str]:
    form = re.search(rf'<form method="post" action="{CONFIRM}".*?</form>', page, re.DOTALL)
    assert form is not None, "the preview has no confirm form"
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0))
    return {name: value for name, value in fields if name != "csrfmiddlewaretoken"}


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_site_import_upload_preview_confirm(ops_client, data_dir):
    MeterFactory(partner_reference="S-1")
    form = _upload(ops_client, b"external_id,name\nS-1,Acme\n,bad\n")
    assert not Site.objects.exists()  # nothing written before the confirmation
    response = ops_client.post(CONFIRM, form)
    assert response["Location"] == reverse("meters:site_list")
    assert Site.objects.get().external_id == "S-1"
    assert Meter.objects.get().site.external_id == "S-1"
    assert "1 bad row skipped" in _messages(response)[0]
    assert not list(upload_dir().iterdir())  # a confirmed upload is deleted at once


def test_site_import_not_csv_shows_a_clear_error(ops_client):
    upload = SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    response = ops_client.post(reverse("meters:site_import"), {"file": upload})
    assert "not a CSV" in ops_client.get(response["Location"]).content.decode()


def test_site_import_confirm_imports_the_file_previewed_in_its_own_tab(ops_client):
    first_tab = _upload(ops_client, b"external_id,name\nS-1,a\nS-2,b\nS-3,c\n", "good.csv")
    second_tab = _upload(ops_client, b"external_id,name\nX-1,wrong\nX-2,file\n", "other.csv")
    response = ops_client.post(CONFIRM, first_tab)
    assert "Imported good.csv: 3 new" in _messages(response)[0]
    assert set(Site.objects.values_list("external_id", flat=True)) == {"S-1", "S-2", "S-3"}
    # The other tab's upload still waits for its own confirmation.
    assert upload_path(second_tab["upload"]).exists()
    ops_client.post(CONFIRM, second_tab)
    assert Site.objects.count() == 5


def test_site_import_confirm_refuses_a_digest_other_than_the_previewed_one(ops_client):
    form = _upload(ops_client, b"external_id,name\nS-1,a\n")
    response = ops_client.post(CONFIRM, {**form, "sha256": "0" * 64})
    assert _messages(response) == ["That is not the file that was previewed: nothing was imported."]
    assert not Site.objects.exists()
    assert upload_path(form["upload"]).exists()  # the right tab can still confirm it


def test_site_import_confirm_refuses_a_stored_file_changed_after_its_preview(ops_client):
    form = _upload(ops_client, b"external_id,name\nS-1,a\n")
    upload_path(form["upload"]).write_bytes(b"external_id,name\nX-1,swapped\n")
    response = ops_client.post(CONFIRM, form)
    assert "changed after its preview" in _messages(response)[0]
    assert not Site.objects.exists()


def test_site_import_confirm_refuses_an_upload_of_another_session(ops_client):
    form = _upload(ops_client, b"external_id,name\nS-1,a\n")
    other = Client()
    other.force_login(get_user_model().objects.get(username="olivia"))  # ops_client's user
    response = other.post(CONFIRM, form)
    assert "no longer waiting to be imported" in _messages(response)[0]
    assert not Site.objects.exists()
    assert upload_path(form["upload"]).exists()


def test_site_import_confirm_without_an_upload_says_so(ops_client):
    response = ops_client.post(CONFIRM)
    assert "upload the file again" in _messages(response)[0]


@pytest.mark.parametrize(("ending", "message"), BAD_ENDINGS)
def test_site_import_confirm_of_a_file_bad_near_its_end_writes_nothing(ops_client, ending, message):
    meter = MeterFactory(partner_reference="S-1")
    data = _good_rows(4500) + ending
    response = ops_client.post(
        reverse("meters:site_import"), {"file": SimpleUploadedFile("sites.csv", data)}
    )
    stored = ops_client.session["site_imports"]
    token = response["Location"].rsplit("=", 1)[1]
    # The preview refuses the file and offers no import; a confirmation posted anyway (an old
    # tab, a script) must not write the rows read before the bad byte.
    response = ops_client.post(CONFIRM, {"upload": token, "sha256": stored[token]["sha256"]})
    assert message in _messages(response)[0]
    assert not Site.objects.exists()
    assert Meter.objects.get(pk=meter.pk).site is None


def test_site_import_discard_removes_only_that_upload(ops_client):
    kept = _upload(ops_client, b"external_id,name\nS-1,a\n")
    dropped = _upload(ops_client, b"external_id,name\nS-2,b\n")
    ops_client.post(CONFIRM, {**dropped, "cancel": "1"})
    assert not upload_path(dropped["upload"]).exists()
    assert upload_path(kept["upload"]).exists()
    assert not Site.objects.exists()


def test_site_import_upload_from_a_preview_replaces_that_upload(ops_client):
    first = _upload(ops_client, b"external_id,name\nS-1,a\n")
    upload = SimpleUploadedFile("fixed.csv", b"external_id,name\nS-1,b\n")
    ops_client.post(reverse("meters:site_import"), {"file": upload, "replaces": first["upload"]})
    assert not upload_path(first["upload"]).exists()
    assert len(list(upload_dir().iterdir())) == 1


def test_site_import_posted_tokens_never_name_a_file(ops_client, data_dir):
    outside = data_dir / "keep.csv"
    outside.write_text("external_id\nS-1\n")
    ops_client.post(CONFIRM, {"upload": "../keep", "cancel": "1"})
    ops_client.post(CONFIRM, {"upload": "../keep", "sha256": ""})
    assert outside.exists() and not Site.objects.exists()


def test_site_import_preview_of_an_upload_no_longer_waiting_says_so(ops_client):
    form = _upload(ops_client, b"external_id,name\nS-1,a\n")
    upload_path(form["upload"]).unlink()
    page = ops_client.get(reverse("meters:site_import"), {"upload": form["upload"]})
    assert "no longer waiting to be imported" in page.content.decode()
    assert "Preview of" not in page.content.decode()


def test_site_import_session_forgets_uploads_whose_file_was_removed(ops_client):
    swept = _upload(ops_client, b"external_id,name\nS-1,a\n")
    upload_path(swept["upload"]).unlink()  # as the daily removal does
    kept = _upload(ops_client, b"external_id,name\nS-2,b\n")
    assert set(ops_client.session["site_imports"]) == {kept["upload"]}


@pytest.mark.parametrize("typed", ["lodz", "ŁÓDŹ", "ul. piotrkowska", "ext-ąę"])
def test_site_list_search_ignores_accents_and_case(ops_client, typed):
    SiteFactory(external_id="EXT-ĄĘ-1", name="Łódź Depot", street="ul. Piotrkowska 1")
    SiteFactory(external_id="OTHER", name="Warsaw")
    rows = ops_client.get(reverse("meters:site_list"), {"q": typed}).context["table"].page
    assert [row.record.external_id for row in rows.object_list] == ["EXT-ĄĘ-1"]
