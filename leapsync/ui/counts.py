"""How many rows a list holds, in a query or two that stay fast at millions of rows.

An exact COUNT(*) reads every matching row: fine for a few thousand, a second at a million. So
a filtered list counts at most EXACT_UP_TO rows and beyond says "more than"; an unfiltered one
on PostgreSQL reads the planner's estimate of the table's size (its `reltuples`, scaled to the
table's current size as the planner scales it) and counts only when that is at most
ESTIMATE_ABOVE, saying "about" otherwise. SQLite keeps no such estimate: it counts, capped.

Even capped, reading 10,000 matching rows of a million-meter table (a join, an EXISTS, a
trigram search) took 40-150 ms. So on PostgreSQL a filtered list that the planner expects to
hold more than LARGE_ESTIMATE rows (twice EXACT_UP_TO: it would most likely say "more than
10,000" anyway) is counted only up to QUICK_UP_TO ("more than 1,000"). The estimate only
chooses the cap: what the page says is always counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet

EXACT_UP_TO = 10_000
ESTIMATE_ABOVE = 100_000
LARGE_ESTIMATE = 2 * EXACT_UP_TO
QUICK_UP_TO = 1_000


@dataclass(frozen=True)
class Total:
    """A list's row count: exact, or `qualifier` ("about", "more than") `value`."""

    value: int
    qualifier: str = ""

    @property
    def exact(self) -> bool:
        return not self.qualifier

    def describe(self, noun: str, plural: str) -> str:
        """ "12,408 meters", "about 1,000,000 meters", "more than 10,000 meters", "1 meter"."""
        words = f"{self.value:,} {noun if self.value == 1 and self.exact else plural}"
        return f"{self.qualifier} {words}" if self.qualifier else words


def count_rows(queryset: QuerySet, *, filtered: bool) -> Total:
    """`queryset`'s row count (one query; two for a filtered list on PostgreSQL); `filtered`
    says whether it narrows the whole table."""
    postgresql = connections[queryset.db].vendor == "postgresql"
    cap = EXACT_UP_TO if filtered else ESTIMATE_ABOVE
    if filtered and postgresql and planned_rows(queryset) > LARGE_ESTIMATE:
        cap = QUICK_UP_TO
    capped = queryset.order_by().values("pk")[: cap + 1]
    if not filtered and postgresql:
        estimate, counted = _estimate_or_count(queryset, capped, cap)
        if counted is None:
            return Total(estimate, "about")
    else:
        counted = capped.count()
    return Total(counted) if counted <= cap else Total(cap, "more than")


# The scalar subquery is an InitPlan, which PostgreSQL runs only when the CASE reaches it: a
# large table is never counted. reltuples is -1 before the table's first ANALYZE (counted then).
_ESTIMATE_OR_COUNT = """
    SELECT estimate, CASE WHEN estimate > %s THEN NULL ELSE ({count}) END
    FROM (
        SELECT CASE WHEN c.reltuples < 0 OR c.relpages = 0 THEN c.reltuples::bigint
                    ELSE (c.reltuples / c.relpages * (pg_relation_size(c.oid)
                          / current_setting('block_size')::int))::bigint END AS estimate
        FROM pg_class c WHERE c.oid = %s::regclass
    ) table_size
"""


def _estimate_or_count(queryset: QuerySet, capped: QuerySet, cap: int) -> tuple[int, int | None]:
    count_sql, count_params = capped.query.get_compiler(using=queryset.db).as_sql()
    sql = _ESTIMATE_OR_COUNT.format(count=f"SELECT COUNT(*) FROM ({count_sql}) capped")
    connection = connections[queryset.db]
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [cap, *count_params, table])
        estimate, counted = cursor.fetchone()
    return estimate, counted


def planned_rows(queryset: QuerySet) -> int:
    """How many rows PostgreSQL's planner expects `queryset` to return (no row is read)."""
    sql, params = queryset.order_by().values("pk").query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class LargeTablePaginator(Paginator):
    """Django admin's paginator for tables of millions of rows.

    The admin counts its whole queryset for the pager (a second or more at a million rows).
    Unfiltered, this takes the table's size as the staff lists do (`count_rows`: the planner's
    estimate above ESTIMATE_ABOVE rows, so the last page link is approximate there); filtered,
    it counts exactly, as before.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where:
            return count_rows(queryset, filtered=False).value
        return super().count
