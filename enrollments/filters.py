"""FilterSets of the enrollments pages: upcoming participation transitions."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from enrollments.models import ParticipationPeriod, ProgramEnrollment
from leapsync.leap.enums import ParticipationPreference, TransmissionRegion, choices
from leapsync.ui.filters import BoundedNumberFilter, ChecklistFilter, SearchFilter

DEFAULT_DAYS = 30
MAX_DAYS = 366


class TransitionFilterSet(django_filters.FilterSet):
    """Participation changes in the next `days` days (default 30), narrowed by the rest."""

    days = BoundedNumberFilter(
        method="noop", label="In the next (days)", min_value=1, max_value=MAX_DAYS
    )
    to = ChecklistFilter(
        field_name="transition_to", choices=choices(ParticipationPreference), label="Goes to"
    )
    region = ChecklistFilter(
        field_name="meter__transmission_region",
        choices=choices(TransmissionRegion),
        label="Region",
    )
    program = django_filters.CharFilter(method="by_program", label="Program")
    q = SearchFilter(
        "reason__icontains",
        folded=("meter__search_text", "meter__search_reference", "meter__site__search_text"),
        uuid_field="meter__meter_id",
    )

    class Meta:
        model = ParticipationPeriod
        fields = []

    def __init__(self, data=None, *args, now=None, **kwargs) -> None:
        super().__init__(data, *args, **kwargs)
        self.now = now or timezone.now()

    @property
    def window_days(self) -> int:
        if self.is_bound and self.form.is_valid() and self.form.cleaned_data.get("days"):
            return int(self.form.cleaned_data["days"])
        return DEFAULT_DAYS

    @property
    def qs(self) -> QuerySet:
        if not hasattr(self, "_qs"):
            days = self.window_days
            self.queryset = ParticipationPeriod.objects.transitions(
                self.now, self.now + timedelta(days=days)
            ).order_by("transition_at", "meter_id")
        return super().qs

    def noop(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        return queryset  # the window is applied in `qs`

    def by_program(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        rows = ProgramEnrollment.objects.filter(
            meter=OuterRef("meter"), listed=True, program_identifier__iexact=value
        )
        return queryset.filter(Exists(rows))
