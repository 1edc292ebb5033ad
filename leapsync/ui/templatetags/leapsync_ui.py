"""Template tags shared by every page: status badges, navigation links, ages, durations, the
ticked choices of a checklist filter."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.forms import BoundField
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from leapsync.leap.enums import EnrollmentStatus, ParticipationPreference
from leapsync.leap.errors import explain
from leapsync.leap.text import leap_text as _leap_text

register = template.Library()

# One colour per status everywhere (CSS classes in static/leapsync/app.css): Leap's enrollment
# statuses and participation preferences keyed by their enum, then our sync run statuses and
# action workflow states (by value: this module imports no model).
BADGE_CLASSES: dict[str, str] = {
    EnrollmentStatus.ACTIVE: "ok",
    EnrollmentStatus.ELIGIBLE: "info",
    EnrollmentStatus.PENDING: "warn",
    EnrollmentStatus.INELIGIBLE: "bad",
    EnrollmentStatus.NOT_PARTICIPATING: "muted",
    ParticipationPreference.PARTICIPATE: "ok",
    ParticipationPreference.IDLE: "warn",
    ParticipationPreference.DISENROLL: "bad",
    "succeeded": "ok",
    "running": "info",
    "failed": "bad",
    "skipped": "muted",
    "new": "info",
    "in_progress": "warn",
    "waiting_on_customer": "warn",
    "done": "ok",
}
BADGE_LABELS = {EnrollmentStatus.NOT_PARTICIPATING: "NOT PARTICIPATING"}


@register.filter
def badge_class(value: str | None) -> str:
    """The CSS class of `value`'s colour; unknown values (Leap may add some) get the neutral one."""
    return f"badge-{BADGE_CLASSES.get(value or '', 'unknown')}"


@register.simple_tag
def status_badge(value: str | None, label: str | None = None) -> str:
    """A coloured badge; unknown values (Leap may add some) get a neutral outlined badge."""
    if not value:
        return format_html('<span class="badge badge-none">{}</span>', "none")
    text = label or BADGE_LABELS.get(value, value)
    return format_html('<span class="badge {}">{}</span>', badge_class(value), text)


@register.simple_tag(takes_context=True)
def nav_link(context: template.Context, name: str, label: str, section: str = "") -> str:
    """A navigation entry: a link, marked current on its pages (`section`: the path prefixes,
    separated by spaces, of the pages it stands for, when more than its own)."""
    url = reverse(name)
    path = context["request"].path
    prefixes = section.split() or [url]
    current = path == url if url == "/" else any(path.startswith(p) for p in prefixes)
    return format_html(
        '<a href="{}"{}>{}</a>', url, mark_safe(' aria-current="page"') if current else "", label
    )


@register.filter
def leap_text(value: object) -> str:
    """Free text from Leap as text: escaped like any value, its links as plain URLs."""
    return _leap_text(value)


@register.filter
def chosen_labels(field: BoundField) -> str:
    """The labels of a multiple-choice field's ticked values, in the choices' order ("" if none)."""
    ticked = {str(value) for value in field.value() or ()}
    return ", ".join(str(label) for value, label in field.field.choices if str(value) in ticked)


@register.filter
def age(value: datetime | None) -> str:
    """How long ago, compactly: "4 min", "3 h", "2 d"."""
    if value is None:
        return "never"
    seconds = int((timezone.now() - value).total_seconds())
    if seconds < 90:
        return f"{max(seconds, 0)} s"
    if seconds < 90 * 60:
        return f"{seconds // 60} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


@register.filter
def duration(value: timedelta | None) -> str:
    """A span of time, compactly: "45 s", "2 min 05 s", "1 h 03 min"; "—" when unknown."""
    if value is None:
        return "—"
    seconds = max(int(value.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@register.simple_tag(takes_context=True)
def error_text(context: template.Context, recorded: str | None, limit: int = 0) -> str:
    """A recorded error as a sentence a person understands; admins also get the text as
    recorded (exception, Leap's answer) under "Details"."""
    if not recorded:
        return ""
    words = explain(recorded)
    sentence = format_html('<span class="error-text">{}</span>', words)
    user = getattr(context.get("request"), "user", None)
    if not (user is not None and user.is_staff) or words == recorded:
        return sentence
    shown = recorded if not limit or len(recorded) <= limit else recorded[: limit - 1] + "…"
    return format_html(
        '{} <details class="error-details"><summary>Details</summary><code>{}</code></details>',
        sentence,
        shown,
    )
