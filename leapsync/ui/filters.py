"""Filters that accept only values the database, and date arithmetic, can take.

A query string is anyone's to write. A number past 64 bits, or an instant before year 1 once
moved to UTC, would reach the ORM and answer 500; with these the filter form is invalid instead,
django-filter leaves that one filter out, and the page shows the field's error.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import django_filters
from django.core.validators import MaxValueValidator, MinValueValidator

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
