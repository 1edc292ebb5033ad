"""The actions inbox filters (also used by its CSV export and bulk notify)."""

from __future__ import annotations

from datetime import datetime, timedelta

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from actions.models import (
    ActionCatalogueEntry,
    Fixer,
    RequiredAction,
    WorkflowStatus,
)
from leapsync.leap.enums import ActionType, TransmissionRegion, choices
from leapsync.ui.filters import ChecklistFilter, SearchFilter
from meters.filters import DEADLINE_BUCKETS, deadline_bucket

ASSIGNEE_SPECIAL = (("me", "Me"), ("none", "Nobody"))
# How long ago Leap first listed an open action (the Trends page's age chart links here).
AGE_BUCKETS = (
    ("7d", "Under 7 days"),
    ("30d", "7–30 days"),
    ("90d", "30–90 days"),
    ("older", "Over 90 days"),
)
_AGE_DAYS = {"7d": (0, 7), "30d": (7, 30), "90d": (30, 90), "older": (90, None)}


def age_bucket(bucket: str, now: datetime | None = None) -> Q:
    """Actions first seen within the bucket's days before `now`."""
    now = now or timezone.now()
    newest, oldest = _AGE_DAYS[bucket]
    query = Q(first_seen_at__lte=now - timedelta(days=newest)) if newest else Q()
    if oldest is not None:
        query &= Q(first_seen_at__gt=now - timedelta(days=oldest))
    return query


def assignee_choices() -> list[tuple[str, str]]:
    """Me, nobody, then staff who can work actions (one query when the form renders)."""
    users = (
        get_user_model()
        .objects.filter(
            Q(groups__permissions__codename="change_requiredaction") | Q(is_superuser=True),
            is_active=True,
        )
        .distinct()
        .order_by("username")
        .values_list("pk", "username")
    )
    return [*ASSIGNEE_SPECIAL, *((str(pk), name) for pk, name in users)]


class ActionFilterSet(django_filters.FilterSet):
    """Every filter of the inbox; `request` is needed for "assigned to me"."""

    q = SearchFilter(
        "action_description__icontains",
        folded=("meter__search_text", "meter__search_reference", "meter__site__search_text"),
        uuid_field="meter__meter_id",
    )
    action_type = ChecklistFilter(choices=choices(ActionType), label="Type")
    action_code = django_filters.CharFilter(lookup_expr="iexact", label="Code")
    program = django_filters.CharFilter(
        field_name="program_identifier", lookup_expr="iexact", label="Program"
    )
    delivery_period = django_filters.CharFilter(lookup_expr="iexact", label="Delivery period")
    status = ChecklistFilter(
        choices=WorkflowStatus.choices,
        label="Status",
        help_text="All but done",  # what ticking none means (the summary says so)
    )
    assignee = django_filters.ChoiceFilter(
        empty_label="Anyone", method="by_assignee", choices=assignee_choices, label="Assignee"
    )
    deadline = django_filters.ChoiceFilter(
        empty_label="Any", method="by_deadline", choices=DEADLINE_BUCKETS, label="Deadline"
    )
    region = ChecklistFilter(
        field_name="meter__transmission_region",
        choices=choices(TransmissionRegion),
        label="Region",
    )
    fixer = django_filters.ChoiceFilter(
        empty_label="Anyone", method="by_fixer", choices=Fixer.choices, label="Who can fix it"
    )
    age = django_filters.ChoiceFilter(
        empty_label="Any", method="by_age", choices=AGE_BUCKETS, label="First seen"
    )

    class Meta:
        model = RequiredAction
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        """As filtered; with no status chosen, without the actions people marked done (they
        would bury the work still to do)."""
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.not_done()
        return queryset

    def by_assignee(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value == "me":
            return queryset.filter(assignee=self.request.user)
        return queryset.filter(assignee_id=value)

    def by_deadline(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(deadline_bucket(value))

    def by_age(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(age_bucket(value))

    def by_fixer(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        entries = ActionCatalogueEntry.objects.filter(
            action_type=OuterRef("action_type"), action_code=OuterRef("action_code"), fixer=value
        )
        return queryset.filter(Exists(entries))
