"""Building and posting Leap webhook deliveries in tests."""

from __future__ import annotations

import uuid

import msgspec
from django.test import Client
from django.urls import reverse

SECRET = "webhook-test-secret"
HEADER = "x-leapsync-secret"


def envelope(event_type: str = "meter.enrollment.global-status.updated", **fields) -> dict:
    """A Leap webhook envelope; `webhook_event_id` may be passed to repeat one."""
    event_id = fields.pop("webhook_event_id", None) or str(uuid.uuid4())
    if event_type != "meter.enrollment.group.updated" and not event_type.startswith("connect"):
        fields.setdefault("meter_id", str(uuid.uuid4()))
        fields.setdefault("transmission_region", "CAISO")
    return {"webhook_event_id": event_id, "payload": {"webhook_event_type": event_type, **fields}}


def deliver(client: Client, body: dict | bytes, secret: str | None = SECRET, **headers):
    """POST one delivery the way Leap does: JSON body, our secret header."""
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    if secret is not None:
        headers[HEADER] = secret
    return client.post(
        reverse("webhooks:webhook_receive"),
        data=content,
        content_type="application/json",
        headers=headers,
    )
