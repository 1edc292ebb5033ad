"""Shared filters: the free-text search, and filters bounded to what the database can take.

A query string is anyone's to write. A number past 64 bits, or an instant before year 1 once
moved to UTC, would reach the ORM and answer 500; with the bounded filters the form is invalid instead,
django-filter leaves that one filter out, and the page shows the field's error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID

import django_filters
from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Q, QuerySet

from leapsync.lib.search import id_range, text_query

# Far beyond any date Leap sends, and far enough inside years 1 to 9999 (Python's and the
# databases' range) that a filter's arithmetic on a date (the next day, another time zone)
# stays inside it.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)


class BoundedNumberFilter(django_filters.NumberFilter):
    """A number filter that must be given its bounds: a number outside them is a form error."""

    def __init__(self, *args: Any, min_value: int, max_value: int, **kwargs: Any) -> None:
        super().__init__(*args, min_value=min_value, max_value=max_value, **kwargs)


class BoundedDateFilter(django_filters.DateFilter):
    """A date between EARLIEST_DATE and LATEST_DATE."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        bounds = [MinValueValidator(EARLIEST_DATE), MaxValueValidator(LATEST_DATE)]
        super().__init__(*args, validators=bounds, **kwargs)


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 instant within the dates of BoundedDateFilter, whatever its time zone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        bounds = [
            MinValueValidator(datetime.combine(EARLIEST_DATE, time.min, tzinfo=UTC)),
            MaxValueValidator(datetime.combine(LATEST_DATE, time.max, tzinfo=UTC)),
        ]
        super().__init__(*args, validators=bounds, **kwargs)


class ChecklistFilter(django_filters.MultipleChoiceFilter):
    """Any of several values, offered as checkboxes (`meters/partials/filter_field.html` folds
    them into a disclosure): a <select multiple> needs Ctrl-click and cuts long labels off. The
    query string is a select's: `?region=PJM&region=ERCOT`.

    No DISTINCT unless asked (`distinct=True`): the values are ORed on one column of the row (or
    of a row it points to), which cannot repeat a row, and a DISTINCT would make the database
    sort the whole match instead of walking an index to the first page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("distinct", False)
        super().__init__(*args, widget=forms.CheckboxSelectMultiple, **kwargs)


class SearchFilter(django_filters.CharFilter):
    """The free-text `q` filter of every list: one OR, built by `leapsync.lib.search`.

    `folded` are normalised search columns (`search_text`, `meter__search_reference`): they
    match the text folded, whatever its accents and case. `lookups` are plain ORM lookups
    (`"webhook_event_id__icontains"`), given the stripped text. `uuid_field` matches a meter id
    as the pages show it: whole, or its first 6 or more hex digits, with or without its dashes
    (`leapsync.lib.search.id_range`). `also(text)` adds one more alternative that neither can
    say. Blank text leaves the queryset unchanged.
    """

    def __init__(
        self,
        *lookups: str,
        folded: tuple[str, ...] = (),
        uuid_field: str | None = None,
        also: Callable[[str], Q] | None = None,
        label: str = "Search",
        **kwargs: Any,
    ) -> None:
        super().__init__(label=label, **kwargs)
        self.lookups = lookups
        self.folded = folded
        self.uuid_field = uuid_field
        self.also = also

    def filter(self, qs: QuerySet, value: str | None) -> QuerySet:
        value = (value or "").strip()
        if not value:
            return qs
        query = text_query(value, folded=self.folded, lookups=self.lookups)
        bounds = id_range(value) if self.uuid_field else None
        if bounds is not None:
            query |= Q(**{f"{self.uuid_field}__range": bounds})
        if self.also is not None:
            query |= self.also(value)
        return qs.filter(query)


def is_filtered(filterset: django_filters.FilterSet) -> bool:
    """Whether a filter narrows the set: one was given a valid value (invalid ones are left out)."""
    if not filterset.is_bound:
        return False
    filterset.is_valid()  # cleans the form, as filtering does
    return any(value not in (None, "", [], ()) for value in filterset.form.cleaned_data.values())


def parse_uuid(value: str) -> UUID | None:
    """`value` as a UUID (surrounding blanks ignored), or None if it is not one."""
    try:
        return UUID(value.strip())
    except ValueError:
        return None
