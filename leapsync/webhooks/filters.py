"""Filters of the webhooks page."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from leapsync.webhooks.models import WebhookEvent, WebhookState


class WebhookEventFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    state = django_filters.ChoiceFilter(choices=WebhookState.choices, empty_label="Any state")
    webhook_event_type = django_filters.CharFilter(label="Event type", lookup_expr="exact")

    class Meta:
        model = WebhookEvent
        fields = ["q", "state", "webhook_event_type"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Event id, partner reference, market group or a meter id the event names."""
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(webhook_event_id__icontains=value)
            | Q(partner_reference__icontains=value)
            | Q(market_group_id__icontains=value)
            | Q(meter_ids__icontains=value)
        )
