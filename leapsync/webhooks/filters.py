"""Filters of the webhooks page."""

from __future__ import annotations

import django_filters

from leapsync.ui.filters import SearchFilter
from leapsync.webhooks.models import WebhookEvent, WebhookState


class WebhookEventFilterSet(django_filters.FilterSet):
    # Event id, partner reference, market group or a meter id the event names.
    q = SearchFilter(
        "webhook_event_id__icontains",
        "partner_reference__icontains",
        "market_group_id__icontains",
        "meter_ids__icontains",
    )
    state = django_filters.ChoiceFilter(choices=WebhookState.choices, empty_label="Any state")
    webhook_event_type = django_filters.CharFilter(label="Event type", lookup_expr="exact")

    class Meta:
        model = WebhookEvent
        fields = ["q", "state", "webhook_event_type"]
