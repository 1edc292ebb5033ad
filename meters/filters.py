"""FilterSets for the meters list (also used by the CSV export and the dashboard's links)."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from actions.models import ActionOwner, RequiredAction
from enrollments.models import ParticipationPeriod, ProgramEnrollment
from leapsync.leap.enums import (
    ActionType,
    CustomerClassification,
    EnrollmentStatus,
    LoadType,
    MeterType,
    ParticipationPreference,
    TransmissionRegion,
    choices,
)
from leapsync.lib.search import text_query
from leapsync.ui.filters import (
    BoundedDateFilter,
    BoundedIsoDateTimeFilter,
    BoundedNumberFilter,
    ChecklistFilter,
    SearchFilter,
    parse_uuid,
)
from meters.models import QUEUE_ORDERS, MatchReason, Meter, QueueOrder, Site

REFERENCE_CHOICES = (("set", "Set"), ("empty", "Empty"), ("shared", "Shared by several meters"))
MAPPING_CHOICES = (("mapped", "Mapped to a site"), ("unmapped", "Not mapped"))
DEADLINE_BUCKETS = (
    ("past", "Past deadline"),
    ("7d", "Within 7 days"),
    ("30d", "Within 8–30 days"),
    ("later", "Later"),
    ("none", "No deadline"),
)
YES_NO = (("true", "Yes"), ("false", "No"))
SITE_IDS_INLINED = 1000
# Ten years: past any participation period Leap plans.
TURNS_IDLE_MAX_DAYS = 3660
# These narrow one ProgramEnrollment row together ("ACTIVE in PJM-CAPACITY"), so they are applied
# as a single Exists() in `filter_queryset` rather than one by one.
PROGRAM_ROW_FILTERS = ("program", "delivery_period", "program_status", "market_group", "deadline")


def json_list_contains(field: str, value: str) -> Q:
    """`value` is an element of the JSON list in `field`, on SQLite and PostgreSQL alike.

    Matches the quoted JSON text of the element: SQLite stores Django's ASCII-escaped dump,
    PostgreSQL's jsonb prints UTF-8, so both spellings are tried.
    """
    # The stdlib's json, as Django's JSONField uses to store: the spelling is Django's, not ours.
    ascii_form = json.dumps(value)
    utf8_form = json.dumps(value, ensure_ascii=False)
    query = Q(**{f"{field}__icontains": ascii_form})
    if utf8_form != ascii_form:
        query |= Q(**{f"{field}__icontains": utf8_form})
    return query


def deadline_bucket(bucket: str, now: datetime | None = None) -> Q:
    """Open-action deadline buckets of the dashboard, on `enrollment_deadline_date_time`."""
    now = now or timezone.now()
    field = "enrollment_deadline_date_time"
    week, month = now + timedelta(days=7), now + timedelta(days=30)
    return {
        "past": Q(**{f"{field}__lt": now}),
        "7d": Q(**{f"{field}__gte": now, f"{field}__lt": week}),
        "30d": Q(**{f"{field}__gte": week, f"{field}__lt": month}),
        "later": Q(**{f"{field}__gte": month}),
        "none": Q(**{f"{field}__isnull": True}),
    }[bucket]


def _mapped_to_sites_matching(value: str) -> Q:
    """Meters mapped to a site whose search text (name, external_id, address, account) matches.

    The matching sites' ids are looked up first (one query), so that on PostgreSQL every
    branch of the search's OR has an index (the trigram ones of migration 0010, and the site
    foreign key's) and a search with few matches reads only those. A join, or a subquery, in the
    OR would make it read every meter. Past SITE_IDS_INLINED matching sites, a subquery.
    """
    sites = Site.objects.filter(text_query(value, folded=SITE_SEARCH)).values_list("pk", flat=True)
    ids = list(sites[: SITE_IDS_INLINED + 1])
    if len(ids) > SITE_IDS_INLINED:
        return Q(site__in=sites)
    return Q(site_id__in=ids) if ids else Q(pk__in=[])


# The normalised search columns of a meter, and of a site (leapsync.lib.search).
METER_SEARCH = tuple(Meter.SEARCH_COLUMNS)
SITE_SEARCH = tuple(Site.SEARCH_COLUMNS)


def meter_search() -> SearchFilter:
    """The meters' free-text search, of the meters list and of the mapping review queue."""
    return SearchFilter(folded=METER_SEARCH, uuid_field="meter_id", also=_mapped_to_sites_matching)


class MeterFilterSet(django_filters.FilterSet):
    """Every filter of the meters list; the page shows PRIMARY ones first, the rest folded."""

    PRIMARY = ("q", "global_status", "region", "meter_type", "program", "program_status")

    q = meter_search()
    # distinct=False on the multi-value filters: they follow one-to-one or plain columns, so
    # rows never repeat, and DISTINCT would make PostgreSQL sort every matching row (≈1 s at
    # 100,000 meters) before it can return one page.
    global_status = ChecklistFilter(
        field_name="enrollment__global_enrollment_status",
        choices=choices(EnrollmentStatus),
        label="Global status",
        distinct=False,
    )
    program = django_filters.CharFilter(method="by_program_row", label="Program")
    delivery_period = django_filters.CharFilter(method="by_program_row", label="Delivery period")
    program_status = django_filters.ChoiceFilter(
        empty_label="Any",
        method="by_program_row",
        choices=choices(EnrollmentStatus),
        label="Program status",
    )
    market_group = django_filters.CharFilter(method="by_program_row", label="Market group")
    deadline = BoundedDateFilter(method="by_program_row", label="Enrollment deadline on")
    meter_type = ChecklistFilter(choices=choices(MeterType), label="Meter type", distinct=False)
    region = ChecklistFilter(
        field_name="transmission_region",
        choices=choices(TransmissionRegion),
        label="Region",
        distinct=False,
    )
    classification = django_filters.ChoiceFilter(
        empty_label="Any",
        field_name="customer_classification",
        choices=choices(CustomerClassification),
        label="Classification",
    )
    # Leap's published load types; values Leap adds later still match through the free tag-like
    # JSON filter, they just are not offered in the drop-down.
    load_type = django_filters.ChoiceFilter(
        empty_label="Any",
        method="by_load_type",
        choices=choices(LoadType),
        label="Load type",
    )
    tag = django_filters.CharFilter(method="by_tag", label="Tag")
    archived = django_filters.ChoiceFilter(
        empty_label="Any", method="by_flag", choices=YES_NO, label="Archived"
    )
    missing = django_filters.ChoiceFilter(
        empty_label="Any", method="by_flag", choices=YES_NO, label="Missing from Leap"
    )
    mapping = django_filters.ChoiceFilter(
        empty_label="Any", method="by_mapping", choices=MAPPING_CHOICES, label="Site mapping"
    )
    reference = django_filters.ChoiceFilter(
        empty_label="Any",
        method="by_reference",
        choices=REFERENCE_CHOICES,
        label="partner_reference",
    )
    open_action = django_filters.ChoiceFilter(
        empty_label="Any", method="by_open_action", choices=YES_NO, label="Open partner action"
    )
    action_type = django_filters.ChoiceFilter(
        empty_label="Any",
        method="by_action_type",
        choices=choices(ActionType),
        label="Open action type",
    )
    action_deadline = django_filters.ChoiceFilter(
        empty_label="Any",
        method="by_action_deadline",
        choices=DEADLINE_BUCKETS,
        label="Partner action deadline",
    )
    action_program = django_filters.CharFilter(
        method="by_action_row", label="Open partner action of program"
    )
    action_due_by = BoundedIsoDateTimeFilter(
        method="by_action_row", label="Open partner action due by (ISO 8601)"
    )
    turns_idle_within = BoundedNumberFilter(
        method="by_turns_idle",
        label="Turns IDLE/DISENROLL within (days)",
        min_value=0,
        max_value=TURNS_IDLE_MAX_DAYS,
    )

    class Meta:
        model = Meter
        fields = []

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        return self._by_action_rows(self._by_program_rows(queryset))

    def by_program_row(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        return queryset  # applied together in `_by_program_rows`

    def _by_program_rows(self, queryset: QuerySet) -> QuerySet:
        data = {k: self.form.cleaned_data.get(k) for k in PROGRAM_ROW_FILTERS}
        if not any(data.values()):
            return queryset
        rows = ProgramEnrollment.objects.filter(meter=OuterRef("pk"), listed=True)
        if data["program"]:
            rows = rows.filter(program_identifier__iexact=data["program"].strip())
        if data["delivery_period"]:
            rows = rows.filter(delivery_period__iexact=data["delivery_period"].strip())
        if data["program_status"]:
            rows = rows.filter(enrollment_status=data["program_status"])
        if data["market_group"]:
            value = data["market_group"].strip()
            group_id = parse_uuid(value)
            rows = rows.filter(
                Q(market_group_id=group_id) if group_id else Q(market_group_name__iexact=value)
            )
        if data["deadline"]:
            start = timezone.make_aware(datetime.combine(data["deadline"], time.min))
            rows = rows.filter(
                deadlines__enrollment_deadline_date_time__gte=start,
                deadlines__enrollment_deadline_date_time__lt=start + timedelta(days=1),
            )
        return queryset.filter(Exists(rows))

    def by_action_row(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        return queryset  # applied together in `_by_action_rows`

    def _by_action_rows(self, queryset: QuerySet) -> QuerySet:
        """One open partner action matching both: of this program, due by this instant."""
        program = (self.form.cleaned_data.get("action_program") or "").strip()
        due_by = self.form.cleaned_data.get("action_due_by")
        if not program and due_by is None:
            return queryset
        actions = _open_partner_actions()
        if program:
            actions = actions.filter(program_identifier__iexact=program)
        if due_by is not None:
            actions = actions.filter(enrollment_deadline_date_time__lte=due_by)
        return queryset.filter(Exists(actions))

    def by_load_type(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(json_list_contains("load_types", value))

    def by_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.filter(json_list_contains("tags", value)) if value else queryset

    def by_flag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        field = {"archived": "is_archived", "missing": "missing_from_leap"}[name]
        return queryset.filter(**{field: value == "true"})

    def by_mapping(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(site__isnull=value == "unmapped")

    def by_reference(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "empty":
            return queryset.filter(partner_reference="")
        if value == "set":
            return queryset.exclude(partner_reference="")
        others = Meter.objects.filter(partner_reference=OuterRef("partner_reference")).exclude(
            pk=OuterRef("pk")
        )
        return queryset.exclude(partner_reference="").filter(Exists(others))

    def by_open_action(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        exists = Exists(_open_partner_actions())
        return queryset.filter(exists if value == "true" else ~exists)

    def by_action_type(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Exists(_open_partner_actions().filter(action_type=value)))

    def by_action_deadline(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Exists(_open_partner_actions().filter(deadline_bucket(value))))

    def by_turns_idle(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        if value is None:
            return queryset
        now = timezone.now()
        periods = ParticipationPeriod.objects.filter(
            meter=OuterRef("pk"),
            participation_preference__in=[
                ParticipationPreference.IDLE,
                ParticipationPreference.DISENROLL,
            ],
            start_time__gte=now,
            start_time__lt=now + timedelta(days=float(value)),
        )
        return queryset.filter(Exists(periods))


def _open_partner_actions() -> QuerySet:
    return RequiredAction.objects.open().filter(meter=OuterRef("pk"), owner=ActionOwner.PARTNER)


QUEUE_CHOICES = (
    ("unmapped", "Not mapped yet"),
    ("no_site", "Marked “no site yet”"),
    ("mapped", "Mapped"),
    ("all", "All meters"),
)


class ReviewQueueFilterSet(django_filters.FilterSet):
    """The mapping review queue's filters; `show` defaults to the unmapped meters."""

    show = django_filters.ChoiceFilter(
        choices=QUEUE_CHOICES, method="by_show", empty_label=None, label="Show"
    )
    q = meter_search()
    global_status = ChecklistFilter(
        field_name="enrollment__global_enrollment_status",
        choices=choices(EnrollmentStatus),
        label="Global status",
    )
    reference = django_filters.CharFilter(field_name="partner_reference", label="partner_reference")
    reason = django_filters.ChoiceFilter(
        field_name="match_candidate__reason",
        choices=MatchReason.choices,
        empty_label="Any",
        label="Match reason",
    )
    min_score = BoundedNumberFilter(
        field_name="match_candidate__score",
        lookup_expr="gte",
        min_value=0,
        max_value=100,
        label="Score at least",
    )
    sort = django_filters.ChoiceFilter(
        choices=QueueOrder.choices, method="by_sort", empty_label=None, label="Order"
    )

    class Meta:
        model = Meter
        fields = []

    # Filters that choose rows (bulk accept carries them from the queue to its preview).
    ROW_FILTERS = ("show", "q", "global_status", "reference", "reason", "min_score")

    def __init__(self, data=None, *args, **kwargs) -> None:
        data = data.copy() if data is not None else None
        if data is not None and not data.get("show"):
            data["show"] = "unmapped"
        if data is not None and not data.get("sort"):
            data["sort"] = QueueOrder.STRONGEST
        super().__init__(data, *args, **kwargs)

    def by_sort(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.order_by(*QUEUE_ORDERS[value])

    def by_show(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "unmapped":
            return queryset.awaiting_site()
        if value == "no_site":
            return queryset.filter(site__isnull=True, no_site_yet=True)
        if value == "mapped":
            return queryset.filter(site__isnull=False)
        return queryset


class SiteFilterSet(django_filters.FilterSet):
    q = SearchFilter(folded=SITE_SEARCH)
    mapped = django_filters.ChoiceFilter(
        empty_label="Any",
        method="by_mapped",
        choices=(("yes", "With meters"), ("no", "No meters")),
        label="Meters",
    )

    class Meta:
        model = Site
        fields = []

    def by_mapped(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        exists = Exists(Meter.objects.filter(site=OuterRef("pk")))
        return queryset.filter(exists if value == "yes" else ~exists)
