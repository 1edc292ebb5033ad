"""Our subscription at Leap's Webhooks API: find it, register or merge it, test it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from leapsync.leap.client import LeapClient
from leapsync.webhooks.envelope import REFRESH_TYPES, STORED_TYPES

EVENT_TYPES = sorted(REFRESH_TYPES | STORED_TYPES)
SAMPLE_METER_ID = "00000000-0000-4000-8000-000000000000"


def receiver_url() -> str:
    """The configured public URL; registering without it (or a secret) is a configuration error."""
    if not settings.LEAP_WEBHOOK_URL:
        raise ImproperlyConfigured("LEAP_WEBHOOK_URL (our public receiver URL) is not set")
    if not settings.LEAP_WEBHOOK_SECRET:
        raise ImproperlyConfigured(
            "LEAP_WEBHOOK_SECRET is not set; Leap's deliveries would be refused"
        )
    return settings.LEAP_WEBHOOK_URL


def find_ours(webhooks: list[dict]) -> dict | None:
    """The subscription pointing at our receiver URL, if Leap has one."""
    url = receiver_url()
    return next((w for w in webhooks if w.get("receiver_url") == url), None)


def merged_config(existing: dict | None) -> dict[str, Any]:
    """Our full config: PUT replaces everything, so keep the existing event types and headers.

    Our secret header replaces any header of the same name (names compared lower-cased, as
    Leap sends them); other headers and extra event types somebody added stay.
    """
    existing = existing or {}
    name = settings.LEAP_WEBHOOK_HEADER
    headers = [
        {"name": h["name"], "value": h["value"]}
        for h in existing.get("headers") or []
        if isinstance(h, dict) and str(h.get("name", "")).lower() != name
    ]
    headers.append({"name": name, "value": settings.LEAP_WEBHOOK_SECRET})
    types = set(existing.get("event_types") or []) | set(EVENT_TYPES)
    return {"receiver_url": receiver_url(), "event_types": sorted(types), "headers": headers}


def register(client: LeapClient) -> tuple[str, bool]:
    """Create our subscription, or read it and PUT the merged config; (webhook_id, created).

    Safe to run again, and safe when the create times out: the client then looks for the
    subscription before resending, so Leap never ends up with two.
    """
    existing = find_ours(client.list_webhooks())
    if existing is None:
        return client.create_webhook(merged_config(None)), True
    client.replace_webhook(existing["webhook_id"], merged_config(existing))
    return str(existing["webhook_id"]), False


def send_test(client: LeapClient) -> dict[str, Any]:
    """Ask Leap to send a sample meter.created event to our subscription; Leap's report."""
    existing = find_ours(client.list_webhooks())
    if existing is None:
        raise LookupError("no subscription at Leap points at LEAP_WEBHOOK_URL; register first")
    sample = {
        "webhook_event_type": "meter.created",
        "meter_id": SAMPLE_METER_ID,
        "transmission_region": "CAISO",
        "meter_type": "UTILITY_METER",
    }
    return client.test_webhook(existing["webhook_id"], sample)


def describe(webhook: dict) -> str:
    """One line for a subscription; header values are never shown."""
    names = ", ".join(str(h.get("name")) for h in webhook.get("headers") or [])
    types = ", ".join(webhook.get("event_types") or [])
    return (
        f"{webhook.get('webhook_id')} -> {webhook.get('receiver_url')} "
        f"[{types}] headers: {names or 'none'}"
    )
