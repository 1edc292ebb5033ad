"""Leap's webhook envelope, read tolerantly: what to store, and which meters to re-read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec

# Bodies beyond this are refused; Leap's largest event (a market group's meter_ids) fits easily.
MAX_BODY_BYTES = 256 * 1024
EVENT_ID_MAX = 64
# The envelope's strings stored in their own columns (the body is stored as received).
STORED_TEXT = (
    "webhook_event_id",
    "webhook_event_type",
    "market_group_id",
    "partner_reference",
    "status",
)

GROUP_UPDATED = "meter.enrollment.group.updated"
# Events naming meters whose Leap state changed: each is a cue to re-read those meters.
REFRESH_TYPES = frozenset(
    {
        "meter.created",
        "meter.enrollment.global-status.updated",
        "meter.enrollment.participation-status.updated",
        "meter.enrollment.required-actions.updated",
        GROUP_UPDATED,
    }
)
# Leap Connect events: stored and shown; they change no meter we keep.
STORED_TYPES = frozenset({"connect_session.updated", "connect_session.authorization_updated"})


class EnvelopeError(ValueError):
    """A delivery that is not a Leap event; `reason` names the rejection counter."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Envelope:
    """What we keep of one event; `meter_ids` are canonical UUID strings, invalid ones dropped."""

    webhook_event_id: str
    webhook_event_type: str
    body: str
    meter_ids: list[str] = field(default_factory=list)
    market_group_id: str = ""
    partner_reference: str = ""
    status: str = ""

    @property
    def needs_refresh(self) -> bool:
        return self.webhook_event_type in REFRESH_TYPES and bool(self.meter_ids)


def parse_envelope(body: bytes) -> Envelope:
    """Read `{webhook_event_id, payload: {webhook_event_type, ...}}`; raise EnvelopeError."""
    try:
        text = body.decode("utf-8")
        data = msgspec.json.decode(body)
    except (UnicodeDecodeError, msgspec.DecodeError):
        raise EnvelopeError("malformed_json", "body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("payload"), dict):
        raise EnvelopeError("invalid_envelope", "body is not a Leap webhook envelope")
    event_id = data.get("webhook_event_id")
    payload = data["payload"]
    event_type = payload.get("webhook_event_type")
    # Lower-cased before the length check: a few characters lower-case to two.
    event_id = event_id.strip().lower() if isinstance(event_id, str) else None
    if event_id is None or not 0 < len(event_id) <= EVENT_ID_MAX:
        raise EnvelopeError("invalid_envelope", "webhook_event_id is missing or not a short string")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
        raise EnvelopeError("invalid_envelope", "payload.webhook_event_type is missing")
    envelope = Envelope(
        webhook_event_id=event_id,
        webhook_event_type=event_type,
        body=text,
        meter_ids=_meter_ids(event_type, payload),
        market_group_id=_text(payload.get("market_group_id"), 64),
        partner_reference=_text(payload.get("partner_reference"), 256),
        status=_status(payload),
    )
    _refuse_nul(envelope)
    return envelope


def _refuse_nul(envelope: Envelope) -> None:
    """PostgreSQL cannot store NUL in text: a field we keep that holds one (JSON's \\u0000)
    refuses the event. The body keeps the escape as six characters, which it can store."""
    for name in STORED_TEXT:
        if "\x00" in getattr(envelope, name):
            raise EnvelopeError("nul_character", f"{name} holds a NUL character (\\u0000)")


def _meter_ids(event_type: str, payload: dict[str, Any]) -> list[str]:
    """The group event lists its meters in `meter_ids`; the others name one `meter_id`."""
    raw = payload.get("meter_ids") if event_type == GROUP_UPDATED else [payload.get("meter_id")]
    if not isinstance(raw, list):
        return []
    ids: dict[str, None] = {}
    for value in raw:
        try:
            ids[str(UUID(value))] = None
        except (TypeError, ValueError, AttributeError):
            continue
    return list(ids)


def _status(payload: dict[str, Any]) -> str:
    """The one state the event announces, for the list: a status or a preference."""
    for key in ("global_enrollment_status", "participation_preference", "status"):
        if isinstance(payload.get(key), str):
            return payload[key][:64]
    return ""


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""
