"""The action catalogue: seeding, unknown codes, safe rendering of admin-edited templates."""

from __future__ import annotations

import pytest

from actions.admin import CatalogueEntryForm
from actions.catalogue import (
    TemplateError,
    ensure_entries,
    entry_for,
    load_catalogue,
    render_customer_email,
)
from actions.models import ActionCatalogueEntry, Fixer
from leapsync.leap.enums import ActionType
from tests.meters.factories import RequiredActionFactory

pytestmark = pytest.mark.django_db
KNOWN = [
    ("IS_AUTHORIZED", "AUTH_0001"),
    ("NOT_ENROLLED_IN_CONFLICTING_PROGRAM", "MRKT_0002"),
    ("NO_MISSING_FIELDS", "SERV_0005"),
    ("HAS_NOMINATIONS", "LEAP_0001"),
    ("NO_MISSING_FIELDS", "SERV_0002"),
]


def test_catalogue_seeds_every_spec_action_type():
    catalogue = load_catalogue()
    for action_type in ActionType:
        entry = catalogue[(action_type, "")]
        assert entry.title and entry.next_step and not entry.needs_review


@pytest.mark.parametrize("key", KNOWN)
def test_catalogue_seeds_known_codes(key):
    assert not load_catalogue()[key].needs_review


def test_catalogue_customer_fixable_entries_have_email_templates():
    entries = ActionCatalogueEntry.objects.filter(fixer=Fixer.CUSTOMER)
    assert entries.count() >= 4
    for entry in entries:
        assert entry.can_email_customer and entry.email_html


def test_catalogue_unknown_code_gets_flagged_copy_of_type_default():
    RequiredActionFactory(action_type="IS_AUTHORIZED", action_code="AUTH_0099")
    assert ensure_entries() == 1
    entry = ActionCatalogueEntry.objects.get(action_code="AUTH_0099")
    assert entry.needs_review and entry.fixer == Fixer.CUSTOMER and entry.email_text
    assert ensure_entries() == 0


def test_catalogue_unknown_type_gets_generic_entry_and_never_breaks():
    action = RequiredActionFactory(action_type="BRAND_NEW_CHECK", action_code="NEW_0001")
    assert entry_for(action, load_catalogue()).needs_review  # before any entry exists
    ensure_entries([action])
    entry = ActionCatalogueEntry.objects.get(action_type="BRAND_NEW_CHECK")
    assert entry.needs_review and entry.fixer == Fixer.OPERATIONS


def test_catalogue_render_escapes_html_but_not_text(customer_action):
    entry = load_catalogue()[("IS_AUTHORIZED", "AUTH_0001")]
    email = render_customer_email(customer_action, entry)
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt;" in email.html
    assert "Ada <b>Lovelace</b>" in email.text
    assert "REF-42" in email.subject and "\n" not in email.subject
    assert "CCA" in email.text and "CAISO-CCA_2024_NOV" in email.text


def test_catalogue_render_has_no_access_to_models(customer_action):
    entry = ActionCatalogueEntry(
        action_type="X",
        title="x",
        fixer=Fixer.CUSTOMER,
        email_subject="s",
        email_text="{{ meter.end_customer_email }}{{ action.meter }}|{{ customer_name }}",
    )
    assert render_customer_email(customer_action, entry).text == "|Ada <b>Lovelace</b>"


def test_catalogue_broken_template_raises_and_admin_refuses(customer_action):
    entry = ActionCatalogueEntry(
        action_type="X", title="x", fixer=Fixer.CUSTOMER, email_subject="s", email_text="{% if %}"
    )
    with pytest.raises(TemplateError):
        render_customer_email(customer_action, entry)
    form = CatalogueEntryForm(
        data={"action_type": "X", "title": "x", "fixer": "customer", "email_text": "{% for %}"}
    )
    assert not form.is_valid() and "email_text" in form.errors
