"""What the API shows of each model, and what it accepts: explicit fields, read from rows the
views fetched with their joins and prefetches (no serializer runs a query)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from actions.models import RequiredAction
from enrollments.deadlines import Period, ProgramDeadlines
from leapsync.api.feed import cursor_of
from meters.models import MeterEvent, Site


class SiteRefSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    name = serializers.CharField()


class ReferencePushSerializer(serializers.Serializer):
    """A partner_reference change not confirmed by Leap yet."""

    new = serializers.CharField()
    push_status = serializers.CharField()
    at = serializers.DateTimeField()
    made_by = serializers.CharField()


class ProgramSerializer(serializers.Serializer):
    """A program's current delivery period for the meter (else its next listed one)."""

    program_identifier = serializers.CharField()
    delivery_period = serializers.CharField()
    delivery_period_start_date_time = serializers.DateTimeField()
    delivery_period_end_date_time = serializers.DateTimeField(allow_null=True)
    enrollment_status = serializers.CharField()
    market_group_id = serializers.UUIDField(allow_null=True)
    market_group_name = serializers.CharField()


def current_programs(rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Per program, the listed period containing `now`, else the soonest after it, else the
    latest before it; `rows` are one meter's listed periods (PROGRAM_COLUMNS)."""
    chosen: dict[str, dict[str, Any]] = {}
    for row in rows:
        held = chosen.get(row["program_identifier"])
        if held is None or _rank(row, now) < _rank(held, now):
            chosen[row["program_identifier"]] = row
    return sorted(chosen.values(), key=lambda row: row["program_identifier"])


def _rank(row: dict[str, Any], now: datetime) -> tuple[int, float]:
    start, end = row["delivery_period_start_date_time"], row["delivery_period_end_date_time"]
    if start <= now and (end is None or now < end):
        return (0, 0.0)
    if start > now:
        return (1, start.timestamp())
    return (2, -start.timestamp())


# What MeterSerializer shows of a delivery period (ProgramSerializer's fields).
PROGRAM_COLUMNS = tuple(ProgramSerializer._declared_fields)


_DATETIME = serializers.DateTimeField()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


class MeterSerializer(serializers.Serializer):
    """A meter, from a row the views read as a dict (METER_COLUMNS, `site` and
    `global_enrollment_status` joined, `programs` its current delivery periods, `reference_push`
    its latest open partner_reference change or None).

    The declared fields are the schema; `to_representation` builds the same dict by hand (a
    test checks the two agree): DRF's field-by-field path cost 0.35 ms of CPU per meter and
    made enough garbage for a full collection every few pages."""

    meter_id = serializers.UUIDField()
    partner_reference = serializers.CharField()
    reference_push = serializers.SerializerMethodField()
    global_enrollment_status = serializers.SerializerMethodField()
    programs = serializers.SerializerMethodField()
    site = SiteRefSerializer(allow_null=True)
    no_site_yet = serializers.BooleanField()
    mapping_source = serializers.CharField()
    mapped_at = serializers.DateTimeField(allow_null=True)
    transmission_region = serializers.CharField()
    customer_classification = serializers.CharField()
    meter_type = serializers.CharField()
    customer_group = serializers.CharField()
    is_archived = serializers.BooleanField()
    missing_from_leap = serializers.BooleanField()
    end_customer_name = serializers.CharField()
    end_customer_company_name = serializers.CharField()
    street_1 = serializers.CharField()
    city = serializers.CharField()
    state_or_province_code = serializers.CharField()
    postal_code = serializers.CharField()
    utility_name = serializers.CharField()
    electric_service_account_number = serializers.CharField()
    open_actions = serializers.IntegerField()
    leap_updated_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()

    def to_representation(self, meter: dict[str, Any]) -> dict[str, Any]:
        push = meter["reference_push"]
        return {
            "meter_id": str(meter["meter_id"]),
            "partner_reference": meter["partner_reference"],
            "reference_push": None
            if push is None
            else {
                "new": push.new,
                "push_status": push.push_status,
                "at": _iso(push.at),
                "made_by": push.made_by,
            },
            "global_enrollment_status": meter["global_enrollment_status"],
            "programs": [
                {
                    "program_identifier": row["program_identifier"],
                    "delivery_period": row["delivery_period"],
                    "delivery_period_start_date_time": _iso(row["delivery_period_start_date_time"]),
                    "delivery_period_end_date_time": _iso(row["delivery_period_end_date_time"]),
                    "enrollment_status": row["enrollment_status"],
                    "market_group_id": str(row["market_group_id"])
                    if row["market_group_id"]
                    else None,
                    "market_group_name": row["market_group_name"],
                }
                for row in meter["programs"]
            ],
            "site": meter["site"],
            "no_site_yet": meter["no_site_yet"],
            "mapping_source": meter["mapping_source"],
            "mapped_at": _iso(meter["mapped_at"]),
            **{name: meter[name] for name in METER_TEXT},
            "open_actions": meter["open_actions"],
            "leap_updated_at": _iso(meter["leap_updated_at"]),
            "updated_at": _iso(meter["updated_at"]),
        }

    @extend_schema_field(ReferencePushSerializer(allow_null=True))
    def get_reference_push(self, meter: dict[str, Any]) -> dict[str, Any] | None:
        change = meter["reference_push"]
        return None if change is None else ReferencePushSerializer(change).data

    @extend_schema_field(serializers.CharField())
    def get_global_enrollment_status(self, meter: dict[str, Any]) -> str:
        return meter["global_enrollment_status"]

    @extend_schema_field(ProgramSerializer(many=True))
    def get_programs(self, meter: dict[str, Any]) -> Any:
        return ProgramSerializer(meter["programs"], many=True).data


METER_TEXT = (
    "transmission_region",
    "customer_classification",
    "meter_type",
    "customer_group",
    "is_archived",
    "missing_from_leap",
    "end_customer_name",
    "end_customer_company_name",
    "street_1",
    "city",
    "state_or_province_code",
    "postal_code",
    "utility_name",
    "electric_service_account_number",
)

# The meter's own columns MeterSerializer reads (the views read only these).
METER_COLUMNS = (
    "meter_id",
    "partner_reference",
    "no_site_yet",
    "mapping_source",
    "mapped_at",
    *METER_TEXT,
    "leap_updated_at",
    "updated_at",
)


class SiteSerializer(serializers.ModelSerializer):
    meter_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Site
        fields = ["external_id", *Site.IMPORTED_FIELDS, "meter_count", "imported_at", "updated_at"]


class SiteUpsertSerializer(serializers.Serializer):
    """One site as the partner's system sends it (documentation only: meters.imports checks
    each record as it checks a CSV row). A field left out keeps its stored value."""

    external_id = serializers.CharField()
    name = serializers.CharField(required=False)
    street = serializers.CharField(required=False)
    city = serializers.CharField(required=False)
    state_or_province_code = serializers.CharField(required=False)
    postal_code = serializers.CharField(required=False)
    utility_name = serializers.CharField(required=False)
    utility_account_number = serializers.CharField(required=False)
    notes = serializers.CharField(required=False)


class SiteUpsertRequestSerializer(serializers.Serializer):
    sites = SiteUpsertSerializer(many=True)


class RowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The record's position in `sites`, from 0")
    detail = serializers.CharField()


class SiteUpsertReportSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    mapped = serializers.IntegerField()
    error_count = serializers.IntegerField()
    errors = RowErrorSerializer(many=True, help_text="Skipped records (the first 500)")
    ignored_fields = serializers.ListField(child=serializers.CharField())


class ReferenceSerializer(serializers.Serializer):
    partner_reference = serializers.CharField(max_length=256, allow_blank=True)


class ReferenceResultSerializer(serializers.Serializer):
    meter_id = serializers.UUIDField()
    partner_reference = serializers.CharField(help_text="Leap's value, until a push lands")
    reference_push = ReferencePushSerializer(allow_null=True)


class ActionSerializer(serializers.ModelSerializer):
    meter_id = serializers.UUIDField(source="meter.meter_id")
    assignee = serializers.SerializerMethodField()

    class Meta:
        model = RequiredAction
        fields = [
            "id",
            "meter_id",
            "owner",
            "program_identifier",
            "delivery_period",
            "action_type",
            "action_code",
            "action_description",
            "enrollment_deadline_date_time",
            "first_seen_at",
            "last_seen_at",
            "resolved_at",
            "status",
            "assignee",
            "due_date",
            "customer_notified_at",
            "status_changed_at",
        ]

    @extend_schema_field(serializers.CharField())
    def get_assignee(self, action: RequiredAction) -> str:
        return action.assignee.get_username() if action.assignee else ""


class RosterRowSerializer(serializers.Serializer):
    meter_id = serializers.UUIDField(source="meter.meter_id")
    partner_reference = serializers.CharField(source="meter.partner_reference")
    market_group_id = serializers.UUIDField(allow_null=True)
    market_group_name = serializers.CharField()
    site = SiteRefSerializer(source="meter.site", allow_null=True)
    missing_from_leap = serializers.BooleanField(source="meter.missing_from_leap")


class EventSerializer(serializers.Serializer):
    """One history event; `cursor` resumes the feed just after it.

    The declared fields are the schema; `to_representation` builds the same dict by hand (a
    test checks the two agree), as MeterSerializer does: a feed page holds 500 events."""

    id = serializers.IntegerField()
    cursor = serializers.SerializerMethodField()
    meter_id = serializers.UUIDField(source="meter.meter_id")
    kind = serializers.CharField()
    field = serializers.CharField()
    program_identifier = serializers.CharField()
    delivery_period = serializers.CharField()
    owner = serializers.CharField()
    action_type = serializers.CharField()
    action_code = serializers.CharField()
    old = serializers.CharField()
    new = serializers.CharField()
    observed_at = serializers.DateTimeField()
    leap_updated_at = serializers.DateTimeField(allow_null=True)
    sync_run = serializers.IntegerField(source="sync_run_id", allow_null=True)
    user = serializers.SerializerMethodField()
    token_name = serializers.CharField()

    def to_representation(self, event: MeterEvent) -> dict[str, Any]:
        return {
            "id": event.pk,
            "cursor": cursor_of(event),
            "meter_id": str(event.meter.meter_id),
            **{name: getattr(event, name) for name in EVENT_TEXT},
            "observed_at": _iso(event.observed_at),
            "leap_updated_at": _iso(event.leap_updated_at),
            "sync_run": event.sync_run_id,
            "user": self.get_user(event),
            "token_name": event.token_name,
        }

    @extend_schema_field(serializers.CharField())
    def get_cursor(self, event: MeterEvent) -> str:
        return cursor_of(event)

    @extend_schema_field(serializers.CharField())
    def get_user(self, event: MeterEvent) -> str:
        return event.user.get_username() if event.user else ""


# The event's text columns EventSerializer shows as they are, in its order.
EVENT_TEXT = (
    "kind",
    "field",
    "program_identifier",
    "delivery_period",
    "owner",
    "action_type",
    "action_code",
    "old",
    "new",
)


class FeedPageSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    next = serializers.CharField(help_text="Keep it: pass it as `after` on the next call.")
    has_more = serializers.BooleanField()


class FeedHeadSerializer(serializers.Serializer):
    cursor = serializers.CharField()


class StreamStatusSerializer(serializers.Serializer):
    stream = serializers.CharField()
    label = serializers.CharField()
    stale = serializers.BooleanField()
    last_success_run = serializers.IntegerField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)


class PeriodSerializer(serializers.Serializer):
    program = serializers.CharField()
    name = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True)
    meters = serializers.IntegerField()


class StatusCountSerializer(serializers.Serializer):
    status = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class DeadlineSerializer(serializers.Serializer):
    delivery_period = serializers.CharField()
    enrollment_deadline_date_time = serializers.DateTimeField()
    activation_date_time = serializers.DateTimeField(allow_null=True)
    statuses = StatusCountSerializer(many=True)
    blocked = serializers.IntegerField(allow_null=True, help_text="Meters with an open action")


class ProgramDeadlinesSerializer(serializers.Serializer):
    program = serializers.CharField()
    current = PeriodSerializer(allow_null=True)
    next = PeriodSerializer(allow_null=True)
    deadlines = DeadlineSerializer(many=True)


class DeadlinesSerializer(serializers.Serializer):
    computing = serializers.BooleanField(help_text="Not computed yet: ask again shortly")
    computed_at = serializers.DateTimeField(allow_null=True)
    programs = ProgramDeadlinesSerializer(many=True)


def program_deadlines(item: ProgramDeadlines) -> dict[str, Any]:
    """A stored ProgramDeadlines as plain values for DeadlinesSerializer."""
    return {
        "program": item.program,
        "current": _period(item.current),
        "next": _period(item.next),
        "deadlines": [
            {
                "delivery_period": d.period.name,
                "enrollment_deadline_date_time": d.deadline,
                "activation_date_time": d.activation,
                "statuses": [
                    {"status": f.status, "label": f.label, "count": f.value} for f in d.statuses
                ],
                "blocked": d.blocked.value if d.blocked else None,
            }
            for d in item.deadlines
        ],
    }


def _period(period: Period | None) -> dict[str, Any] | None:
    if period is None:
        return None
    return {
        "program": period.program,
        "name": period.name,
        "start": period.start,
        "end": period.end,
        "meters": period.meters,
    }
