"""The change log: every history event (what the sync saw change in Leap, and what staff did:
mappings, partner_reference edits, action workflow), filtered, paged by keyset, exported.

`MeterEvent` is the one history table, so the log is one query over it, newest first by its
time and then its id; every filter here has an index to walk in that order (models.py).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import django_filters
from django import forms
from django.contrib.auth.decorators import permission_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from actions.models import RequiredAction
from leapsync.lib.search import id_range
from leapsync.replica import replica_reads
from leapsync.ui.csv_download import csv_download, csv_lines
from leapsync.ui.filters import BoundedDateFilter, ChecklistFilter, is_filtered
from leapsync.ui.htmx import wants_partial
from leapsync.ui.keyset import keyset_page
from meters.models import EventKind, MeterEvent

PER_PAGE = 50
EXPORT_CHUNK = 2000
EXPORT_COLUMNS = (
    "event_id",
    "observed_at",
    "kind",
    "field",
    "meter_id",
    "partner_reference",
    "program",
    "delivery_period",
    "owner",
    "action_type",
    "action_code",
    "old",
    "new",
    "user",
    "sync_run",
    "leap_updated_at",
)


class ChangeLogFilterSet(django_filters.FilterSet):
    """The log's filters; each narrows with an equality an index serves (or a short range)."""

    kind = ChecklistFilter(choices=EventKind.choices, label="Kind of change")
    field = django_filters.CharFilter(field_name="field", label="Field")
    program = django_filters.CharFilter(field_name="program_identifier", label="Program")
    period = django_filters.CharFilter(field_name="delivery_period", label="Delivery period")
    meter = django_filters.CharFilter(method="by_meter", label="Meter (meter_id or its start)")
    site = django_filters.CharFilter(
        field_name="meter__site__external_id", label="Site (external_id)"
    )
    user = django_filters.CharFilter(field_name="user__username", label="Changed by (username)")
    action = django_filters.NumberFilter(method="by_action", label="Action", min_value=1)
    since = BoundedDateFilter(method="by_since", label="From (date)")
    until = BoundedDateFilter(method="by_until", label="To (date, included)")

    class Meta:
        model = MeterEvent
        fields: list[str] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.action: RequiredAction | None = None  # set when the action filter runs
        self.form.fields["action"].widget = forms.HiddenInput()
        for name in ("field", "program", "period", "site", "user"):
            self.form.fields[name].strip = True

    def by_meter(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        bounds = id_range(value)
        if bounds is None:
            return queryset.none()
        return queryset.filter(meter__meter_id__range=bounds)

    def by_action(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        """An action's slice: its workflow, and Leap adding and resolving it (its natural key)."""
        action = RequiredAction.objects.select_related("meter").filter(pk=value).first()
        self.action = action  # the page names it
        if action is None:
            return queryset.none()
        return queryset.filter(
            meter_id=action.meter_id,
            owner=action.owner,
            action_type=action.action_type,
            action_code=action.action_code,
            program_identifier=action.program_identifier,
        )

    def by_since(self, queryset: QuerySet, name: str, value) -> QuerySet:
        start = timezone.make_aware(datetime.combine(value, time.min))
        return queryset.filter(observed_at__gte=start)

    def by_until(self, queryset: QuerySet, name: str, value) -> QuerySet:
        end = timezone.make_aware(datetime.combine(value + timedelta(days=1), time.min))
        return queryset.filter(observed_at__lt=end)


def _events(data) -> tuple[ChangeLogFilterSet, QuerySet]:
    rows = MeterEvent.objects.select_related("meter", "user", "sync_run").only(
        *(f.name for f in MeterEvent._meta.concrete_fields),
        "meter__meter_id",
        "meter__partner_reference",
        "user__username",
        "sync_run__id",
        "sync_run__mode",
    )
    filterset = ChangeLogFilterSet(data, queryset=rows)
    return filterset, filterset.qs


@require_GET
@replica_reads
@permission_required("meters.view_meterevent", raise_exception=True)
@vary_on_headers("HX-Request")
def change_log(request: HttpRequest) -> HttpResponse:
    filterset, events = _events(request.GET)
    page = keyset_page(
        events,
        time_field="observed_at",
        before=request.GET.get("before"),
        after=request.GET.get("after"),
        size=PER_PAGE,
    )
    context = {
        "filterset": filterset,
        "page": page,
        "filtered": is_filtered(filterset),
        "query": _query_without_cursor(request),
        "action": filterset.action,
    }
    template = (
        "meters/partials/change_table.html" if wants_partial(request) else "meters/change_log.html"
    )
    return render(request, template, context)


def _query_without_cursor(request: HttpRequest) -> str:
    query = request.GET.copy()
    for key in ("before", "after"):
        query.pop(key, None)
    return query.urlencode()


@require_GET
@permission_required("meters.view_meterevent", raise_exception=True)
def change_log_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered log as CSV, newest first, streamed in chunks: flat memory at any size."""
    _filterset, events = _events(request.GET)
    rows = events.order_by("-observed_at", "-pk").iterator(chunk_size=EXPORT_CHUNK)
    return csv_download(csv_lines(EXPORT_COLUMNS, map(_export_row, rows)), "changes")


def _export_row(event: MeterEvent) -> list[object]:
    return [
        event.pk,
        event.observed_at.isoformat(),
        event.kind,
        event.field,
        str(event.meter.meter_id),
        event.meter.partner_reference,
        event.program_identifier,
        event.delivery_period,
        event.owner,
        event.action_type,
        event.action_code,
        event.old,
        event.new,
        event.user.get_username() if event.user else _token_label(event),
        event.sync_run_id or "",
        event.leap_updated_at.isoformat() if event.leap_updated_at else "",
    ]


def _token_label(event: MeterEvent) -> str:
    return f"API: {event.token_name}" if event.token_name else ""
