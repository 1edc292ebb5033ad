"""The action catalogue: what each (action_type, action_code) means, and its customer email."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.template import Context, Engine, TemplateSyntaxError
from django.utils import timezone
from django.utils.formats import date_format

from actions.models import ActionCatalogueEntry, Fixer, RequiredAction
from leapsync.leap.enums import ActionType, labels
from leapsync.ui.emails import plain_text

Catalogue = dict[tuple[str, str], ActionCatalogueEntry]
# Admin-edited templates get the default tags and filters only, no app libraries; HTML
# autoescapes every value (customer names and Leap text are untrusted), text and subject don't.
HTML_ENGINE = Engine(autoescape=True)
TEXT_ENGINE = Engine(autoescape=False)
TYPE_LABELS = labels(ActionType)
UNKNOWN_NEXT_STEP = (
    "Leap sent an action code the catalogue does not describe yet: read Leap's description, "
    "ask Leap for the code's meaning, and update this catalogue entry."
)


class TemplateError(ValueError):
    """An admin-edited email template that does not render."""


def load_catalogue() -> Catalogue:
    """Every entry by (action_type, action_code); the catalogue is small (one query)."""
    return {(e.action_type, e.action_code): e for e in ActionCatalogueEntry.objects.all()}


def entry_for(action: RequiredAction, catalogue: Catalogue) -> ActionCatalogueEntry:
    """The code's own entry, else its type's default, else an unsaved generic one."""
    entry = catalogue.get((action.action_type, action.action_code))
    if entry is None:
        entry = catalogue.get((action.action_type, ""))
    return entry or _generic(action.action_type, action.action_code)


def _generic(action_type: str, action_code: str) -> ActionCatalogueEntry:
    label = TYPE_LABELS.get(action_type, action_type or "Unknown action")
    return ActionCatalogueEntry(
        action_type=action_type,
        action_code=action_code,
        title=label,
        fixer=Fixer.OPERATIONS,
        next_step=UNKNOWN_NEXT_STEP,
        needs_review=True,
    )


def ensure_entries(actions: Iterable[RequiredAction] | None = None) -> int:
    """Give every (type, code) pair among open actions an entry of its own; return how many new.

    A new entry copies its type's default (who fixes it, next step, email) and is flagged for
    an admin. `actions` limits the check to those rows; by default one query over open ones.
    """
    if actions is None:
        known = ActionCatalogueEntry.objects.filter(
            action_type=OuterRef("action_type"), action_code=OuterRef("action_code")
        )
        pairs = set(
            RequiredAction.objects.open()
            .filter(~Exists(known))
            .values_list("action_type", "action_code")
            .distinct()
        )
    else:
        pairs = {(a.action_type, a.action_code) for a in actions}
        known_pairs = set(
            ActionCatalogueEntry.objects.filter(
                action_type__in={t for t, _ in pairs}, action_code__in={c for _, c in pairs}
            ).values_list("action_type", "action_code")
        )
        pairs -= known_pairs
    if not pairs:
        return 0
    catalogue = load_catalogue()
    new = [_copy_for(action_type, code, catalogue) for action_type, code in sorted(pairs)]
    ActionCatalogueEntry.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _copy_for(action_type: str, code: str, catalogue: Catalogue) -> ActionCatalogueEntry:
    base = catalogue.get((action_type, "")) or _generic(action_type, code)
    return ActionCatalogueEntry(
        action_type=action_type,
        action_code=code,
        title=f"{base.title} ({code or 'no code'}, not yet reviewed)",
        fixer=base.fixer,
        next_step=base.next_step if base.pk else UNKNOWN_NEXT_STEP,
        customer_link=base.customer_link,
        email_subject=base.email_subject,
        email_html=base.email_html,
        email_text=base.email_text,
        needs_review=True,
    )


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def email_context(action: RequiredAction) -> dict[str, str]:
    """The placeholders a catalogue template may use: plain strings only, never model objects
    (an admin-edited template must not reach into the database through attributes)."""
    meter = action.meter
    address = ", ".join(
        p
        for p in (meter.street_1, meter.city, meter.state_or_province_code, meter.postal_code)
        if p
    )
    links = {"meter_id": str(meter.meter_id), "partner_reference": meter.partner_reference}
    return {
        "customer_name": meter.end_customer_name,
        "company_name": meter.end_customer_company_name,
        "meter_id": str(meter.meter_id),
        "partner_reference": meter.partner_reference,
        "meter_label": meter.partner_reference or str(meter.meter_id),
        "address": address,
        "utility_name": meter.utility_name,
        "program": action.program_identifier,
        "delivery_period": action.delivery_period,
        "deadline": _deadline_text(action.enrollment_deadline_date_time),
        "partner_name": settings.PARTNER_NAME,
        "support_email": settings.PARTNER_SUPPORT_EMAIL,
        "support_url": settings.PARTNER_SUPPORT_URL,
        "action_link": _link(action, links),
    }


def _deadline_text(deadline: datetime | None) -> str:
    if deadline is None:
        return "as soon as possible"
    return date_format(timezone.localtime(deadline), "j F Y, H:i T")


def _link(action: RequiredAction, values: dict[str, str]) -> str:
    entry = getattr(action, "catalogue_entry", None)
    if entry is None or not entry.customer_link:
        return ""
    return _render(TEXT_ENGINE, entry.customer_link, values).strip()


def render_customer_email(action: RequiredAction, entry: ActionCatalogueEntry) -> RenderedEmail:
    """The entry's templates filled with the action's facts; raises TemplateError if broken."""
    action.catalogue_entry = entry
    context = email_context(action)
    subject = " ".join(_render(TEXT_ENGINE, entry.email_subject, context).split())
    text = _render(TEXT_ENGINE, entry.email_text, context)
    html = _render(HTML_ENGINE, entry.email_html, context) if entry.email_html else ""
    return RenderedEmail(subject=subject, text=text, html=html)


def _render(engine: Engine, source: str, context: dict[str, str]) -> str:
    """HTML_ENGINE's output is markup (its values escaped); TEXT_ENGINE's is plain text."""
    try:
        rendered = engine.from_string(source).render(Context(context, autoescape=engine.autoescape))
    except TemplateSyntaxError as error:
        raise TemplateError(f"the catalogue template does not render: {error}") from error
    return rendered if engine.autoescape else plain_text(rendered)


def check_template(source: str) -> None:
    """Raise TemplateError if `source` is not a valid template (admin form validation)."""
    _render(TEXT_ENGINE, source, {})
