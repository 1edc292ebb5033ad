"""Hostile input across the app: markup and formulas in Leap strings, big uploads, bad UUIDs."""

from __future__ import annotations

import csv
import io
import re

import httpx
import msgspec
import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from leapsync.leap.client import LeapClient
from leapsync.models import RunStatus
from leapsync.simulator import LeapSimulator
from leapsync.sync import sync_full
from meters.models import ReferenceImport, Site
from tests.helpers import truth_by_meter

pytestmark = pytest.mark.django_db

MARKUP = '<b>x</b> & <script>alert("leap")</script><img src=x onerror=alert(1)>'
FORMULA = '=CMD("calc")'
# A link as Leap might write one into free text; shown as "label (URL)", never live.
LINK = '<a href="https://leap.example/fix?a=1&amp;b=2">upload it here</a>'
LINK_AS_TEXT = "upload it here (https://leap.example/fix?a=1&amp;b=2)"  # as escaped in HTML


def _poison(text: str) -> str:
    return f"{FORMULA}{text}{MARKUP}"


def _hostile_transport(simulator: LeapSimulator) -> httpx.MockTransport:
    """Leap's answers with markup and spreadsheet formulas in every free-text field we show."""
    details, enrollments = [], []
    for payloads in truth_by_meter(simulator).values():
        raw = msgspec.json.decode(msgspec.json.encode(payloads["details"]))
        raw["partner_reference"] = f"{FORMULA}{raw['meter_id'][:8]}"
        raw["tags"] = [_poison("tag")]
        if raw.get("customer"):
            raw["customer"]["end_customer_name"] = _poison("name")
        details.append(raw)
        enrollment = msgspec.json.decode(msgspec.json.encode(payloads["enrollment"]))
        for owned in (enrollment.get("required_actions") or {}).values():
            for action in owned:
                action["action_description"] = _poison("description") + LINK
        for program in enrollment.get("program_enrollment") or []:
            if program.get("market_group_name"):
                program["market_group_name"] = _poison("group")
        for period in enrollment.get("participation_preferences") or []:
            period["reason"] = _poison("reason") + LINK
        enrollments.append(enrollment)

    def handler(request: httpx.Request) -> httpx.Response:
        meters = enrollments if "enrollments" in request.url.path else details
        return httpx.Response(200, content=msgspec.json.encode({"meters": meters}))

    return httpx.MockTransport(handler)


@pytest.fixture
def hostile(simulator):
    leap = LeapClient("http://leap.test", "k", transport=_hostile_transport(simulator))
    assert [run.status for run in sync_full(client=leap)] == [RunStatus.SUCCEEDED] * 2


def _pages(samples) -> list[str]:
    from actions.models import RequiredAction

    meter = samples.meter
    action = RequiredAction.objects.order_by("pk").first()
    return [
        reverse("dashboard"),
        reverse("trends"),
        reverse("meters:meter_list"),
        reverse("meters:meter_list") + "?q=name",
        reverse("meters:meter_detail", kwargs={"meter_id": meter.meter_id}),
        reverse("actions:action_list"),
        reverse("actions:action_detail", kwargs={"pk": action.pk}),
        reverse("enrollments:deadline_list"),
        reverse("enrollments:market_group_list"),
        reverse("enrollments:transition_list"),
        reverse("meters:mapping_queue"),
        reverse("meters:shared_reference_list"),
    ]


def _assert_text_only(body: str, where: str) -> None:
    """No tag of MARKUP is live in `body`."""
    for tag in ("<b>x</b>", "<script>alert", "<img src=x"):
        assert tag not in body, f"{where}: {tag} is live markup"


def test_leap_markup_is_always_escaped(samples, hostile, ops_client):
    for url in _pages(samples):
        for headers in ({}, {"HX-Request": "true"}):
            _assert_text_only(ops_client.get(url, headers=headers).content.decode(), url)
    detail = ops_client.get(_pages(samples)[3]).content.decode()
    assert "&lt;script&gt;alert" in detail  # shown, as text


def test_links_in_leap_text_become_plain_urls_everywhere(samples, hostile, ops_client):
    """One rule on every page that shows Leap's free text: its tags as typed, and a link's
    address kept as a plain URL after its label (not dropped, not a live link)."""
    from datetime import timedelta

    from django.utils import timezone

    from actions.models import RequiredAction
    from enrollments.models import ParticipationPeriod

    now = timezone.now()
    action = RequiredAction.objects.filter(action_description__contains="<a ").first()
    coming = ParticipationPeriod.objects.transitions(now, now + timedelta(days=366))
    period = coming.filter(reason__contains="<a ").first()
    assert action is not None and period is not None
    pages = {
        "action page": reverse("actions:action_detail", kwargs={"pk": action.pk}),
        "meter page (action)": reverse(
            "meters:meter_detail", kwargs={"meter_id": action.meter.meter_id}
        ),
        "meter page (period)": reverse(
            "meters:meter_detail", kwargs={"meter_id": period.meter.meter_id}
        ),
        "participation changes": reverse("enrollments:transition_list")
        + f"?q={period.meter.meter_id}&days=366",
    }
    for where, url in pages.items():
        body = ops_client.get(url).content.decode()
        assert LINK_AS_TEXT in body, f"{where}: the link's address is not shown"
        assert 'href="https://leap.example' not in body, f"{where}: Leap's link is live"


def test_links_in_leap_text_become_plain_urls_in_alert_emails(hostile):
    from django.template.loader import render_to_string

    from actions.models import RequiredAction

    action = RequiredAction.objects.filter(action_description__contains="<a ").first()
    context = {"action": action, "reason": "New action", "entry": None, "url": "http://x/"}
    html = render_to_string("emails/action_alert.html", context)
    assert LINK_AS_TEXT in html and 'href="https://leap.example' not in html
    text = render_to_string("emails/action_alert.txt", context)
    assert "upload it here (https://leap.example/fix?a=1&b=2)" in text


@pytest.fixture
def hostile_manager(groups, hostile, client):
    """A manager whose digest (a long window) lists the hostile meters; signed in on `client`."""
    from django.contrib.auth.models import Group

    from enrollments.models import DigestCadence, DigestSubscription

    user = get_user_model().objects.create_user("mona", "mona@example.com", "unused-pass-1")
    user.groups.add(Group.objects.get(name="Managers"))
    DigestSubscription.objects.create(user=user, cadence=DigestCadence.DAILY, window_days=60)
    client.force_login(user)
    return client


def test_digest_preview_shows_leap_markup_as_text(samples, hostile_manager):
    """The text part is rendered for a text/plain email; on the page it is text too."""
    page = hostile_manager.get(reverse("enrollments:digest_preview")).content.decode()
    _assert_text_only(page, "digest preview")
    text_part = page.split('<pre class="email-text"')[1]
    assert "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;alert" in text_part  # shown, as text
    frame = hostile_manager.get(reverse("enrollments:digest_preview_html")).content.decode()
    _assert_text_only(frame, "digest HTML part")
    assert "&lt;script&gt;alert" in frame


@pytest.fixture
def hostile_customer_action(hostile):
    """An open partner action the customer fixes, on a meter whose customer name is Leap's
    markup; its catalogue entry has a text email only (the HTML part is made from the text)."""
    from actions.catalogue import load_catalogue
    from actions.models import ActionCatalogueEntry, ActionOwner, Fixer, RequiredAction

    action = (
        RequiredAction.objects.open()
        .filter(owner=ActionOwner.PARTNER, action_description__contains="<script>")
        .select_related("meter")
        .order_by("pk")
        .first()
    )
    meter = action.meter
    meter.end_customer_name, meter.end_customer_email = MARKUP, "customer@example.com"
    meter.save()
    ActionCatalogueEntry.objects.update_or_create(
        action_type=action.action_type,
        action_code=action.action_code,
        defaults={
            "title": "Authorise us",
            "fixer": Fixer.CUSTOMER,
            "email_subject": "For {{ customer_name }}",
            "email_text": "Dear {{ customer_name }},\nplease authorise {{ meter_label }}.",
            "email_html": "",
        },
    )
    assert load_catalogue()[(action.action_type, action.action_code)].can_email_customer
    return action


def test_customer_email_preview_shows_leap_markup_as_text(hostile_customer_action, ops_client):
    action = hostile_customer_action
    url = reverse("actions:action_notify", args=[action.pk])
    fragment = ops_client.get(url, headers={"HX-Request": "true"}).content.decode()
    _assert_text_only(fragment, "customer email preview")
    assert "Dear &lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;alert" in fragment
    frame = ops_client.get(reverse("actions:action_notify_html", args=[action.pk]))
    _assert_text_only(frame.content.decode(), "customer email HTML part")
    assert "Dear &lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;alert" in frame.content.decode()
    page = ops_client.get(reverse("actions:action_detail", args=[action.pk])).content.decode()
    _assert_text_only(page, "action page")
    data = {"pk": [action.pk], "bulk-kind": "notify"}
    bulk = ops_client.post(reverse("actions:action_bulk_preview"), data)
    assert bulk.status_code == 200
    _assert_text_only(bulk.content.decode(), "bulk notify preview")


def test_customer_email_html_part_sent_shows_leap_markup_as_text(hostile_customer_action):
    """The email itself: the HTML part made from the text template escapes what Leap sent."""
    from actions.catalogue import load_catalogue
    from actions.notify.customer import notify_customer

    user = get_user_model().objects.create_user("sender", password="unused-pass-1")
    outcome = notify_customer(hostile_customer_action, load_catalogue(), token="t" * 32, actor=user)
    assert outcome.result == "sent", outcome.message
    (message,) = mail.outbox
    assert MARKUP in message.body  # the text/plain part carries the text as it is
    html = message.alternatives[0].content
    _assert_text_only(html, "sent HTML part")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;alert" in html


def test_site_and_mapping_previews_show_markup_as_text(samples, hostile, ops_client):
    """Sites come from people's files, not Leap, but are shown beside Leap's meters."""
    meter = samples.meter
    site = Site.objects.create(
        external_id=f"S-{MARKUP}",
        name=MARKUP,
        street=meter.street_1,
        city=meter.city,
        state_or_province_code=meter.state_or_province_code,
        postal_code=meter.postal_code,
        utility_account_number=meter.electric_service_account_number,
    )
    pages = [
        reverse("meters:site_list"),
        reverse("meters:site_detail", kwargs={"pk": site.pk}),
        reverse("meters:mapping_bulk_preview") + "?threshold=1",
        reverse("meters:meter_mapping", kwargs={"meter_id": meter.meter_id}),
        reverse("meters:site_search") + f"?meter={meter.meter_id}&site_q=x",
    ]
    for url in pages:
        for headers in ({}, {"HX-Request": "true"}):
            _assert_text_only(ops_client.get(url, headers=headers).content.decode(), url)
    upload = SimpleUploadedFile("sites.csv", f'external_id,name\nS-9,"{MARKUP}"\n'.encode())
    ops_client.post(reverse("meters:site_import"), {"file": upload})
    preview = ops_client.get(reverse("meters:site_import")).content.decode()
    _assert_text_only(preview, "site import preview")


def test_partner_reference_csv_preview_and_progress_show_markup_as_text(
    samples, hostile, ops_client, settings, tmp_path
):
    """A partner's file: markup in values, in ids and in the file's name stays text."""
    settings.DATA_DIR = tmp_path
    meter = samples.meter
    rows = io.StringIO()
    csv.writer(rows).writerows(
        [["meter_id", "partner_reference"], [meter.meter_id, MARKUP], [MARKUP, "X-1"]]
    )
    name = f"{MARKUP}.csv"
    upload = SimpleUploadedFile(name, rows.getvalue().encode())
    response = ops_client.post(reverse("meters:reference_import"), {"file": upload})
    preview = ops_client.get(response["Location"]).content.decode()
    assert "Invalid partner_reference (1)" in preview and "Unknown meter (1)" in preview
    _assert_text_only(preview, "partner_reference CSV preview")
    record = ReferenceImport.objects.create(
        token="hostile", name=name, sha256="0", skipped_rows=[[2, MARKUP, MARKUP]], skipped=1
    )
    url = reverse("meters:reference_import_detail", kwargs={"pk": record.pk})
    for headers in ({}, {"HX-Request": "true"}):
        _assert_text_only(ops_client.get(url, headers=headers).content.decode(), url)


def test_an_oversized_partner_reference_file_gets_a_clear_error(ops_client, monkeypatch):
    monkeypatch.setattr("meters.forms.MAX_REFERENCE_UPLOAD_BYTES", 1024)
    upload = SimpleUploadedFile("refs.csv", b"meter_id,partner_reference\n" + b"x,y\n" * 400)
    response = ops_client.post(reverse("meters:reference_import"), {"file": upload})
    assert response.status_code == 200
    assert "larger than 20 MB" in response.content.decode()


def test_pages_carry_no_inline_script_or_style(samples, ops_client):
    """What the Content-Security-Policy would block must not be in our templates."""
    for url in _pages(samples):
        response = ops_client.get(url)
        assert "script-src 'self'" in response["Content-Security-Policy"]
        body = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), url
        assert not re.search(r"<style\b", body), url
        assert not re.search(r"\sstyle=", body), url
        assert not re.search(r"\s(on[a-z]+|hx-on[:\w-]*)=", body), url


EXPORTS = [
    ("meters:meter_export", {}),
    ("actions:action_export", {}),
    ("enrollments:market_group_export", {"fmt": "csv"}),
    ("enrollments:transition_export", {}),
]


@pytest.mark.parametrize(("name", "kwargs"), EXPORTS)
def test_every_csv_export_neutralises_formulas(samples, hostile, ops_client, name, kwargs):
    from enrollments.models import ProgramEnrollment

    query = ""
    if name == "enrollments:market_group_export":
        program = ProgramEnrollment.objects.exclude(market_group_name="").order_by("pk").first()
        query = f"?program={program.program_identifier}&period={program.delivery_period}"
    response = ops_client.get(reverse(name, kwargs=kwargs) + query)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    poisoned = [cell for cell in cells if "CMD(" in cell]
    assert poisoned, f"{name}: the hostile data did not reach the export"
    assert all(cell.startswith("'") for cell in poisoned), poisoned[:3]


def test_an_oversized_site_import_gets_a_clear_error(ops_client, monkeypatch):
    monkeypatch.setattr("meters.forms.MAX_UPLOAD_BYTES", 1024)
    upload = SimpleUploadedFile("sites.csv", b"external_id,name\n" + b"S1,x\n" * 400)
    response = ops_client.post(reverse("meters:site_import"), {"file": upload})
    assert response.status_code == 200
    assert "larger than" in response.content.decode()


def test_an_oversized_form_post_is_refused_not_a_crash(ops_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = ops_client.post(reverse("actions:action_bulk_preview"), {"note": "x" * 5000})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "/meters/not-a-uuid/",
        "/meters/12345678-1234-1234-1234-1234567890zz/",
        "/meters/00000000-0000-4000-8000-000000000000/",
        "/meters/00000000-0000-4000-8000-000000000000/mapping/",
        "/sites/search/?meter=not-a-uuid",
        "/sites/search/",
        "/meters/search/?q=%00%27%22%3Cx",
        "/actions/99999999/",
        "/sync/99999999/",
        "/webhooks/99999999/",
        "/enrollments/market-groups/export.exe",
    ],
)
def test_bad_identifiers_are_404_not_500(samples, ops_client, url):
    ops_client.raise_request_exception = False
    assert ops_client.get(url).status_code in (302, 400, 404)
