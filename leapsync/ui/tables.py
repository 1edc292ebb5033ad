"""Shared tables: the base Table of templates/ui/table.html, ordering, count-free pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_tables2 as tables
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import mark_safe
from django_tables2 import LazyPaginator, RequestConfig
from django_tables2.columns import BoundColumn
from django_tables2.rows import BoundRow
from django_tables2.utils import signature

# OFFSET is a signed 64-bit integer in PostgreSQL and SQLite: a page past it is past the end
# of any table, and asking the database for it raises (bigint out of range, OverflowError).
MAX_OFFSET = 2**63 - 1


def configure_table(request: HttpRequest, table: tables.Table, per_page: int = 50) -> tables.Table:
    """Order by `?sort=`, paginate by `?page=` without COUNT(*) (fast at millions of rows).

    The page size is fixed on purpose: a `per_page` from the URL could ask for every row. A
    page past the last one, or no page number at all, shows the first page.
    """
    RequestConfig(request, paginate=False).configure(table)
    page = page_number(request.GET.get(table.prefixed_page_field), per_page)
    try:
        table.paginate(paginator_class=LazyPaginator, per_page=per_page, page=page)
    except (EmptyPage, PageNotAnInteger):
        table.paginate(paginator_class=LazyPaginator, per_page=per_page, page=1)
    return table


def page_number(value: str | None, per_page: int) -> int:
    """`value` as a page number whose rows the database can be asked for, else 1.

    Without a row count the last page is unknown; beyond the 64-bit OFFSET it is certainly
    passed, so such a page is answered like any page past the end.
    """
    try:
        page = int(value or 1)
    except ValueError:  # not a number, or more digits than int() reads
        return 1
    # The look-ahead reads one row past the page: that row's offset must fit too.
    return page if 1 <= page < MAX_OFFSET // per_page else 1


def fetch_page_rows(table: tables.Table, queryset: QuerySet) -> tables.Table:
    """Swap a paginated table's key-only records for `queryset`'s rows, in the page's order.

    For a table built on a lean queryset (primary keys, plus the joins its sort needs): a deep
    page's OFFSET then skips index entries, not joined rows with computed columns, and the
    joins, annotations and subqueries of `queryset` run for the page's rows alone. One query
    more than paging `queryset` itself, whatever the page.
    """
    pks = [row.record.pk for row in table.page.object_list]
    records = queryset.in_bulk(pks)
    table.page.object_list = [BoundRow(records[pk], table=table) for pk in pks if pk in records]
    return table


class Table(tables.Table):
    """A table that `templates/ui/table.html` renders: its rows come from `page_cells()`."""

    def page_cells(self) -> list[list[tuple[str, str]]]:
        """The page's rows as (the <td>'s attributes, the cell's HTML), in column order.

        The cells of django-tables2's `row.items`, with the per-column work done once per
        column instead of once per cell (50 rows x 11 columns on the actions inbox): the
        <td> attributes (ours are static: a callable attribute would see no record here), and
        the inspection of the column's render method. The attributes keep django-tables2's
        form: a space, then the attributes (nothing for none).
        """
        columns = [
            (column, mark_safe(" " + column.attrs["td"].as_html()), _caller(column.render))
            for column in self.columns
        ]
        return [
            [(td, _cell(row, column, render)) for column, td, render in columns]
            for row in self.page.object_list
        ]


def _caller(fn: Callable[..., Any]) -> Callable[[dict[str, Any]], Any]:
    """django-tables2's `call_with_appropriate(fn, kwargs)`, with `fn` inspected once."""
    names, catch_all = signature(fn)
    if catch_all:
        return lambda kwargs: fn(**kwargs)
    return lambda kwargs: (
        fn(**{name: kwargs[name] for name in names}) if all(n in kwargs for n in names) else None
    )


def _cell(row: BoundRow, column: BoundColumn, render: Callable[[dict[str, Any]], Any]) -> str:
    """`row.get_cell(column.name)`, calling the column's render method through `render`.

    Mirrors django-tables2 3.0's `BoundRow._call_render`; tests/leapsync/test_ui_tables.py
    compares the result with `row.items()`, so an upgrade that changes it fails there.
    """

    def call_render(bound_column: BoundColumn, value: Any = None) -> Any:
        kwargs = row._optional_cell_arguments(bound_column, value)
        content = render(kwargs)
        return bound_column.link(content, **kwargs) if bound_column.link else content

    return row._get_and_render_with(column, render_func=call_render, default=column.default)
