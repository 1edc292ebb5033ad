"""partner_reference in bulk from a CSV file: the preview's classes, the confirmation through the
single edit's service, the progress panel, and who may do it."""

from __future__ import annotations

import io
import math
import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from leapsync import tasks
from leapsync.leap.client import LeapClient
from leapsync.leap.references import RULE, reference_problem
from leapsync.sync import sync_full, sync_refresh
from meters import pushes, services
from meters.imports import ImportFileError
from meters.models import Meter, PartnerReferenceChange, PushStatus, ReferenceImport
from meters.reference_imports import (
    BREAKS_RULE,
    CHUNK,
    RowClass,
    claim_import,
    preview_references,
)
from meters.services import set_partner_reference
from meters.uploads import REFERENCES, upload_dir, upload_path
from tests.meters.factories import MeterFactory

pytestmark = pytest.mark.django_db
UPLOAD = reverse("meters:reference_import")
CONFIRM = reverse("meters:reference_import_confirm")


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "async_task", lambda *args: calls.append(args))
    return calls


def _preview(text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return preview_references(io.BytesIO(data))


def _kinds(preview) -> dict[int, str]:
    return {row.line: row.kind for row in preview.rows}


# --- the preview's classes ----------------------------------------------------------------------


def test_preview_classifies_every_row():
    empty = MeterFactory(partner_reference="")
    other = MeterFactory(partner_reference="OLD-1")
    same = MeterFactory(partner_reference="SAME-1")
    bad = MeterFactory(partner_reference="KEEP-1")
    twice = MeterFactory(partner_reference="TWICE-0")
    holder = MeterFactory(partner_reference="TAKEN-1")  # not in the file
    shared = MeterFactory(partner_reference="")
    ghost = uuid.uuid4()
    text = (
        "meter_id,partner_reference\n"
        f"{empty.meter_id},NEW-1\n"  # 2 new
        f"{other.meter_id},NEW-2\n"  # 3 changed
        f"{same.meter_id},SAME-1\n"  # 4 unchanged
        f"{bad.meter_id},bad/ref?\n"  # 5 invalid
        f"{ghost},GHOST-1\n"  # 6 unknown
        "not-a-uuid,X-1\n"  # 7 unknown (malformed)
        f"{twice.meter_id},TWICE-1\n"  # 8 duplicate
        f"{twice.meter_id},TWICE-2\n"  # 9 duplicate
        f"{shared.meter_id},TAKEN-1\n"  # 10 new, shared with `holder`
    )
    preview = _preview(text)
    assert _kinds(preview) == {
        2: RowClass.NEW,
        3: RowClass.CHANGED,
        4: RowClass.UNCHANGED,
        5: RowClass.INVALID,
        6: RowClass.UNKNOWN,
        7: RowClass.UNKNOWN,
        8: RowClass.DUPLICATE,
        9: RowClass.DUPLICATE,
        10: RowClass.NEW,
    }
    rows = {row.line: row for row in preview.rows}
    assert reference_problem("bad/ref?") == RULE and rows[5].reason == BREAKS_RULE
    assert rows[6].reason == "no meter has this meter_id"
    assert rows[7].reason == "not a meter_id (a UUID)"
    assert "lines 8, 9" in rows[8].reason
    assert rows[3].old == "OLD-1"
    assert [row.line for row in preview.shared] == [10] and rows[10].shared_with == 1
    assert preview.counts == {
        "new": 2,
        "changed": 1,
        "unchanged": 1,
        "invalid": 1,
        "unknown": 2,
        "duplicate": 2,
    }
    assert holder.partner_reference == "TAKEN-1"


def test_an_invisible_character_is_named(ops_client):
    meter = MeterFactory(partner_reference="")
    data = f"meter_id,partner_reference\n{meter.meter_id},REF\u200b-1\n"
    (row,) = _preview(data).rows
    assert (
        row.kind == RowClass.INVALID
        and row.reason == "This value contains U+200B (zero width space)."
    )
    page, _ = _upload(ops_client, data.encode())
    assert escape(RULE) in page and "U+200B (zero width space)" in page


def test_a_value_given_to_two_meters_of_the_file_is_shared_and_one_leaving_it_is_not():
    a, b = MeterFactory(partner_reference=""), MeterFactory(partner_reference="")
    leaving = MeterFactory(partner_reference="SWAP-1")
    taking = MeterFactory(partner_reference="SWAP-2")
    preview = _preview(
        "meter_id,partner_reference\n"
        f"{a.meter_id},BOTH\n{b.meter_id},BOTH\n"
        f"{leaving.meter_id},SWAP-2\n{taking.meter_id},SWAP-1\n"
    )
    shared = {row.meter_id: row.shared_with for row in preview.shared}
    assert shared == {str(a.meter_id): 1, str(b.meter_id): 1}  # the swap shares nothing


def test_bom_crlf_blank_lines_quotes_and_extra_columns():
    one, two = MeterFactory(partner_reference=""), MeterFactory(partner_reference="")
    text = (
        "\ufeffMeter ID,Notes,Partner Reference\r\n"
        "\r\n"
        f'{one.meter_id},"a note, with a comma",  REF-1  \r\n'
        ",,\r\n"
        f'{two.meter_id},,"REF 2, quoted"\r\n'
    )
    preview = _preview(text)
    assert preview.ignored_columns == ["Notes"]
    assert [(r.line, r.value, r.kind) for r in preview.rows] == [
        (3, "REF-1", RowClass.NEW),
        (5, "REF 2, quoted", RowClass.NEW),
    ]


def test_a_row_with_too_many_or_too_few_fields_is_invalid():
    one, two = MeterFactory(), MeterFactory()
    preview = _preview(f"meter_id,partner_reference\n{one.meter_id},ACME, Inc\n{two.meter_id}\n")
    rows = preview.rows
    assert [row.kind for row in rows] == [RowClass.INVALID, RowClass.INVALID]
    assert "the header has 2" in rows[0].reason and "double quotes" in rows[0].reason
    assert rows[1].reason == "has 1 field: partner_reference is missing"


def test_empty_trailing_fields_and_a_short_extra_column_are_harmless():
    one, two = MeterFactory(partner_reference=""), MeterFactory(partner_reference="")
    preview = _preview(
        f"meter_id,partner_reference,note\n{one.meter_id},R-1,,,\n{two.meter_id},R-2\n"
    )
    assert [(row.value, row.kind) for row in preview.rows] == [
        ("R-1", RowClass.NEW),
        ("R-2", RowClass.NEW),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"meter_id,value\n", "no partner_reference column (found: meter_id, value)"),
        (b"id,ref\n", "no meter_id or partner_reference column"),
        (
            b"5f0c2d4e-8a1b-4c3d-9e2f-0a1b2c3d4e5f,REF-1\n",
            "The first line is a row of data, not column names",
        ),
        ("meter_id,partner_reference\nx,Caf\u00e9\n".encode("cp1252"), "Windows-1252"),
        (b"PK\x03\x04rest of a zip", "Excel or LibreOffice spreadsheet"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_with_how_to_fix_it(data, message):
    with pytest.raises(ImportFileError, match=re.escape(message)):
        _preview(data)


def test_a_file_longer_than_the_limit_is_refused_whole(monkeypatch):
    monkeypatch.setattr("meters.reference_imports.MAX_ROWS", 2)
    rows = "".join(f"{uuid.uuid4()},R-{i}\n" for i in range(3))
    with pytest.raises(ImportFileError, match="more than 2 rows: split it"):
        _preview(f"meter_id,partner_reference\n{rows}")


# --- the pages ----------------------------------------------------------------------------------


def _upload(client: Client, data: bytes, name: str = "refs.csv") -> tuple[str, dict[str, str]]:
    """Upload a file as a person would: the preview page and its confirm form's fields."""
    response = client.post(UPLOAD, {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 302, response.content[:500]
    page = client.get(response["Location"]).content.decode()
    assert f"Preview of {name}" in page
    form = re.search(rf'<form method="post" action="{CONFIRM}".*?</form>', page, re.DOTALL)
    assert form is not None
    fields = dict(re.findall(r'name="(upload|sha256)" value="([^"]*)"', form.group(0)))
    return page, fields


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_confirm_records_exactly_the_new_and_changed_rows_with_audit_and_pushes(
    ops_client, queued, django_capture_on_commit_callbacks
):
    new = MeterFactory(partner_reference="")
    changed = MeterFactory(partner_reference="OLD")
    unchanged = MeterFactory(partner_reference="SAME")
    invalid = MeterFactory(partner_reference="KEEP")
    data = (
        "meter_id,partner_reference\n"
        f"{new.meter_id},NEW-1\n{changed.meter_id},NEW-2\n"
        f"{unchanged.meter_id},SAME\n{invalid.meter_id},no|pipes\n{uuid.uuid4()},X-123\n"
    ).encode()
    page, form = _upload(ops_client, data)
    assert "Send 2 changes to Leap" in page
    assert not PartnerReferenceChange.objects.exists()  # nothing before the confirmation
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(CONFIRM, form)
    record = ReferenceImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("meters:reference_import_detail", args=[record.pk])
    changes = PartnerReferenceChange.objects.order_by("new")
    olivia = get_user_model().objects.get(username="olivia")
    assert [(c.meter_id, c.old, c.new, c.by, c.batch) for c in changes] == [
        (new.pk, "", "NEW-1", olivia, record),
        (changed.pk, "OLD", "NEW-2", olivia, record),
    ]
    assert all(c.push_status == PushStatus.PENDING and c.at for c in changes)
    assert sorted(queued) == sorted((services.PUSH_TASK, c.pk) for c in changes)
    assert (record.rows, record.pushed, record.skipped, record.by) == (5, 2, 0, olivia)
    assert not list(upload_dir(REFERENCES).iterdir())  # the file and its preview are gone


def test_confirming_the_same_upload_again_sends_nothing_twice(
    ops_client, queued, django_capture_on_commit_callbacks
):
    meter = MeterFactory(partner_reference="")
    _, form = _upload(ops_client, f"meter_id,partner_reference\n{meter.meter_id},ONCE\n".encode())
    with django_capture_on_commit_callbacks(execute=True):
        ops_client.post(CONFIRM, form)
        again = ops_client.post(CONFIRM, form)
    assert again["Location"] == UPLOAD
    assert any("no longer waiting" in m for m in _messages(again))
    assert PartnerReferenceChange.objects.count() == 1 and len(queued) == 1


def test_claiming_an_upload_is_once_only():
    user = get_user_model().objects.create_user("uma")
    assert claim_import("token-1", name="a.csv", sha256="0" * 64, actor=user) is not None
    assert claim_import("token-1", name="a.csv", sha256="0" * 64, actor=user) is None


def test_a_meter_changed_between_preview_and_confirm_is_skipped_with_the_reason(
    ops_client, queued, django_capture_on_commit_callbacks
):
    moved = MeterFactory(partner_reference="OLD-A")
    edited = MeterFactory(partner_reference="OLD-B")
    kept = MeterFactory(partner_reference="OLD-C")
    data = (
        "meter_id,partner_reference\n"
        f"{moved.meter_id},NEW-A\n{edited.meter_id},NEW-B\n{kept.meter_id},NEW-C\n"
    ).encode()
    _, form = _upload(ops_client, data)
    Meter.objects.filter(pk=moved.pk).update(partner_reference="SYNCED-A")  # a sync, meanwhile
    someone = get_user_model().objects.create_user("sam")
    set_partner_reference(edited, "HAND-B", actor=someone)  # an edit on the meter's page
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(CONFIRM, form)
    record = ReferenceImport.objects.get()
    assert (record.pushed, record.skipped) == (1, 2)
    reasons = {meter_id: reason for _, meter_id, reason in record.skipped_rows}
    assert "changed from “OLD-A” to “SYNCED-A”" in reasons[str(moved.meter_id)]
    assert "Another change (“HAND-B”, by sam" in reasons[str(edited.meter_id)]
    assert set(PartnerReferenceChange.objects.values_list("new", flat=True)) == {
        "HAND-B",
        "NEW-C",
    }
    page = ops_client.get(response["Location"]).content.decode()
    assert "Skipped at confirmation" in page and "SYNCED-A" in page


def test_the_preview_shown_again_names_the_meters_that_moved_since_the_upload(ops_client):
    moved, kept = MeterFactory(partner_reference="OLD-A"), MeterFactory(partner_reference="")
    data = f"meter_id,partner_reference\n{moved.meter_id},NEW-A\n{kept.meter_id},NEW-B\n"
    response = ops_client.post(UPLOAD, {"file": SimpleUploadedFile("r.csv", data.encode())})
    assert "Send 2 changes to Leap" in ops_client.get(response["Location"]).content.decode()
    Meter.objects.filter(pk=moved.pk).update(partner_reference="SYNCED-A")
    page = ops_client.get(response["Location"]).content.decode()
    assert "Changed since the upload (1)" in page and "SYNCED-A" in page
    assert "Send 1 change to Leap" in page


def test_a_confirmation_naming_another_digest_is_refused(ops_client, queued):
    meter = MeterFactory(partner_reference="")
    _, form = _upload(ops_client, f"meter_id,partner_reference\n{meter.meter_id},R-1\n".encode())
    response = ops_client.post(CONFIRM, {**form, "sha256": "0" * 64})
    assert "not the file that was previewed" in " ".join(_messages(response))
    assert not PartnerReferenceChange.objects.exists() and not ReferenceImport.objects.exists()


def test_a_stored_file_swapped_after_its_preview_is_refused(ops_client, queued):
    meter = MeterFactory(partner_reference="")
    _, form = _upload(ops_client, f"meter_id,partner_reference\n{meter.meter_id},R-1\n".encode())
    swapped = f"meter_id,partner_reference\n{meter.meter_id},EVIL-1\n".encode()
    upload_path(form["upload"], REFERENCES).write_bytes(swapped)
    response = ops_client.post(CONFIRM, form)
    assert "stored file changed after its preview" in " ".join(_messages(response))
    assert not PartnerReferenceChange.objects.exists() and not ReferenceImport.objects.exists()


def test_discarding_removes_the_file(ops_client):
    meter = MeterFactory(partner_reference="")
    _, form = _upload(ops_client, f"meter_id,partner_reference\n{meter.meter_id},R-1\n".encode())
    ops_client.post(CONFIRM, {**form, "cancel": "1"})
    assert not list(upload_dir(REFERENCES).iterdir())
    assert not PartnerReferenceChange.objects.exists()


def test_a_file_error_shows_on_the_preview_without_a_send_button(ops_client):
    page, _ = _upload(ops_client, b"id;ref\n1;2\n")
    assert "no meter_id or partner_reference column" in page
    assert "Send " not in page and "Discard this file" in page


def test_the_preview_shows_markup_escaped_and_links_known_meters(ops_client):
    meter = MeterFactory(partner_reference="")
    markup = "<b>x</b><img src=x onerror=alert(1)>"
    data = f"meter_id,partner_reference\n{meter.meter_id},OK {markup}\n{markup},X-1\n"
    page, _ = _upload(ops_client, data.encode())
    assert markup not in page and "<b>x</b>" not in page
    escaped = "&lt;b&gt;x&lt;/b&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert f"OK {escaped}" in page and f'<td class="mono">{escaped}</td>' in page
    assert reverse("meters:meter_detail", args=[meter.meter_id]) in page


def test_preview_lists_are_capped_with_and_more(ops_client):
    rows = "".join(f"{uuid.uuid4()},R-{i:04}\n" for i in range(130))
    page, _ = _upload(ops_client, f"meter_id,partner_reference\n{rows}".encode())
    assert "…and 30 more." in page


def _meters(count: int) -> list[Meter]:
    return Meter.objects.bulk_create(
        Meter(meter_id=uuid.uuid4(), partner_reference=f"OLD-{i:05}") for i in range(count)
    )


def _preview_queries(client: Client, meters: list[Meter]) -> int:
    body = "".join(f"{m.meter_id},NEW-{i:05}\n" for i, m in enumerate(meters))
    response = client.post(
        UPLOAD,
        {"file": SimpleUploadedFile("r.csv", f"meter_id,partner_reference\n{body}".encode())},
    )
    with CaptureQueriesContext(connection) as captured:
        page = client.get(response["Location"])
    assert f"Send {len(meters):,}".replace(",", "") in page.content.decode().replace(",", "")
    return len(captured.captured_queries)


def test_preview_queries_grow_only_by_chunks_not_rows(ops_client):
    meters = _meters(10_000)
    few = _preview_queries(ops_client, meters[:10])
    many = _preview_queries(ops_client, meters)
    # Per chunk of CHUNK rows: the meters, their open changes, the meters holding the values.
    assert many - few <= 3 * (math.ceil(len(meters) / CHUNK) - 1)
    # session, user, user and group permissions; then one chunk of each of the three; the
    # navigation's "My actions" count.
    assert few <= 9


def test_progress_page_query_count_is_flat(ops_client):
    record = ReferenceImport.objects.create(token="t", name="refs.csv", sha256="0" * 64)
    url = reverse("meters:reference_import_detail", args=[record.pk])

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            ops_client.get(url)
        return len(captured.captured_queries)

    PartnerReferenceChange.objects.create(meter=MeterFactory(), new="R-0", batch=record)
    few = count()
    for i, meter in enumerate(MeterFactory.create_batch(30)):
        PartnerReferenceChange.objects.create(meter=meter, new=f"R-{i + 1}", batch=record)
    assert count() == few
    # session, user, user and group permissions, the import, its changes counted by state,
    # the user's groups and the "My actions" count (the navigation)
    assert few <= 8


# --- the progress panel -------------------------------------------------------------------------


def test_progress_panel_polls_until_every_push_is_settled(ops_client, queued):
    meter = MeterFactory(partner_reference="")
    record = ReferenceImport.objects.create(token="t", name="refs.csv", sha256="0" * 64, pushed=1)
    change = PartnerReferenceChange.objects.create(meter=meter, new="R-1", batch=record)
    url = reverse("meters:reference_import_detail", args=[record.pk])
    moving = ops_client.get(url, headers={"HX-Request": "true"})
    assert 'id="reference-import-progress"' in moving.content.decode()
    assert 'hx-trigger="every 3s"' in moving.content.decode()
    assert "<h1>" not in moving.content.decode()  # the fragment only
    PartnerReferenceChange.objects.filter(pk=change.pk).update(push_status=PushStatus.CONFIRMED)
    settled = ops_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in settled and 'data-settled="true"' in settled
    assert "All 1 settled." in settled
    full = ops_client.get(url).content.decode()
    assert f"{reverse('meters:reference_change_list')}?show=all&amp;batch={record.pk}" in full


def test_the_changes_page_filters_to_one_file(ops_client):
    one, two = MeterFactory(), MeterFactory()
    record = ReferenceImport.objects.create(token="t", name="batch.csv", sha256="0" * 64)
    PartnerReferenceChange.objects.create(meter=one, new="FROM-FILE", batch=record)
    PartnerReferenceChange.objects.create(meter=two, new="BY-HAND")
    url = reverse("meters:reference_change_list")
    page = ops_client.get(url, {"show": "all", "batch": record.pk}).content.decode()
    assert "FROM-FILE" in page and "BY-HAND" not in page and "batch.csv" in page
    assert "BY-HAND" in ops_client.get(url, {"show": "all", "batch": "x"}).content.decode()


def test_end_to_end_the_pushes_reach_leap_and_the_panel_settles(
    simulator, leap, ops_client, monkeypatch, django_capture_on_commit_callbacks
):
    """Upload → confirm → each push run inline as django-q2 would → Leap has the values."""
    sync_full(client=leap)
    monkeypatch.setattr(services, "async_task", lambda name, pk: tasks.push_partner_reference(pk))
    monkeypatch.setattr(
        pushes,
        "async_task",
        lambda name, ids, trigger: sync_refresh(ids, client=leap, trigger=trigger),
    )
    monkeypatch.setattr(LeapClient, "from_settings", classmethod(lambda cls, **kw: leap))
    monkeypatch.setattr(LeapClient, "close", lambda self: None)
    meters = list(Meter.objects.order_by("meter_id")[:3])
    data = "meter_id,partner_reference\n" + "".join(
        f"{m.meter_id},BULK-{i}\n" for i, m in enumerate(meters)
    )
    _, form = _upload(ops_client, data.encode())
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(CONFIRM, form)
    for i, meter in enumerate(meters):
        assert simulator.find(str(meter.meter_id)).partner_reference == f"BULK-{i}"
    statuses = set(PartnerReferenceChange.objects.values_list("push_status", flat=True))
    assert statuses == {PushStatus.CONFIRMED}
    panel = ops_client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert "All 3 settled." in panel and "hx-trigger" not in panel


# --- who may -----------------------------------------------------------------------------------


def test_managers_and_outsiders_may_not_upload_or_confirm(manager_client, outsider_client):
    meter = MeterFactory(partner_reference="")
    upload = {
        "file": SimpleUploadedFile(
            "r.csv", f"meter_id,partner_reference\n{meter.meter_id},R\n".encode()
        )
    }
    for client in (manager_client, outsider_client):
        assert client.get(UPLOAD).status_code == 403
        assert client.post(UPLOAD, upload).status_code == 403
        assert client.post(CONFIRM, {"upload": "x", "sha256": "y"}).status_code == 403
    assert not list(upload_dir(REFERENCES).iterdir())


def test_anonymous_is_sent_to_sign_in():
    for url in (UPLOAD, reverse("meters:reference_import_detail", args=[1])):
        response = Client().get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = Client().post(CONFIRM)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_managers_may_watch_the_progress(manager_client):
    record = ReferenceImport.objects.create(token="t", name="refs.csv", sha256="0" * 64)
    url = reverse("meters:reference_import_detail", args=[record.pk])
    assert manager_client.get(url).status_code == 200
