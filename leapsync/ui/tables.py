"""Shared tables: the base Table of templates/ui/table.html, ordering, numbered or count-free
pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_tables2 as tables
from django.core.paginator import EmptyPage, Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import mark_safe
from django_tables2 import LazyPaginator, RequestConfig
from django_tables2.columns import BoundColumn
from django_tables2.rows import BoundRow
from django_tables2.utils import signature

from leapsync.ui.counts import Total

# `?page=last`: the last page, which a count-free list reads from its end.
LAST = "last"
# OFFSET is a signed 64-bit integer in PostgreSQL and SQLite: a page past it is past the end
# of any table, and asking the database for it raises (bigint out of range, OverflowError).
# The look-ahead reads one row past the page: that row's offset must fit too.
MAX_OFFSET = 2**63 - 1


def configure_table(
    request: HttpRequest, table: tables.Table, per_page: int = 50, *, total: Total | None = None
) -> tables.Table:
    """Order by `?sort=`, paginate by `?page=`; with an exact `total`, number every page.

    Without one (or with an estimate) the pages are count-free (LazyPaginator: one row read
    past the page says whether another follows), fast at millions of rows, and `?page=last`
    reads the last rows from the end. The page size is
    fixed on purpose: a `per_page` from the URL could ask for every row. A page past the last
    one shows the last page, and a page that is no number the first, each with a `page.note`
    saying so; only then does a count-free list count its rows.
    """
    RequestConfig(request, paginate=False).configure(table)
    asked = request.GET.get(table.prefixed_page_field)
    exact = total is not None and total.exact
    if asked == LAST and not exact:
        return _last_page(table, per_page, total)
    number, note = page_number(asked)
    if exact:
        last = max(1, -(-total.value // per_page))
        if asked == LAST:
            number, note = last, ""
        elif number > last:
            number, note = last, past_the_end(number, last)
        table.paginate(
            paginator_class=CountedPaginator, per_page=per_page, page=number, count=total.value
        )
    else:
        try:
            if number >= MAX_OFFSET // per_page:  # no database can be asked for its rows
                raise EmptyPage(number)
            table.paginate(paginator_class=LazyPaginator, per_page=per_page, page=number)
        except EmptyPage:
            count = len(table.data)  # past the end: only now is the count worth its cost
            last = max(1, -(-count // per_page))
            table.paginate(
                paginator_class=CountedPaginator, per_page=per_page, page=last, count=count
            )
            note = past_the_end(number, last)
    table.page.note = note
    table.page.total = total
    table.page.numbers = page_links(table.page)
    return table


def _last_page(table: tables.Table, per_page: int, total: Total | None) -> tables.Table:
    """`?page=last` of a count-free list: its last `per_page` rows, read from the end (the
    order reversed, one row more to know whether any come before), so no count and no OFFSET
    past every row (OFFSET 999,950 read a million index entries). Its number is unknown:
    the pager links the first page."""
    rows = list(table.data.data.reverse()[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page][::-1]
    paginator = CountedPaginator(rows, per_page, count=len(rows))
    page = LastPage([BoundRow(row, table=table) for row in rows], 1, paginator)
    page.more_before = more
    table.paginator, table.page = paginator, page
    page.note, page.total, page.numbers = "", total, []
    return table


class LastPage(Page):
    """The last page of a count-free list (`_last_page`)."""

    is_last = True
    more_before = False


def page_number(value: str | None) -> tuple[int, str]:
    """`value` as a page number (1 when there is none), and a note when it is no page number."""
    if value is None or value == "":
        return 1, ""
    try:
        page = int(value)
    except ValueError:  # not a number, or more digits than int() reads
        page = 0
    if page < 1:
        return 1, f"There is no page “{value[:40]}”: showing page 1."
    return page, ""


def past_the_end(asked: int, last: int) -> str:
    return f"Page {asked:,} is past the end: showing the last page, {last:,}."


class CountedPaginator(Paginator):
    """A Paginator told its row count (counted once, capped or not, by the caller)."""

    def __init__(self, object_list: Any, per_page: int, *, count: int, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = count

    @property
    def count(self) -> int:
        return self._known_count


def page_links(page: Page) -> list[int | None]:
    """The page numbers the pager links, None where it elides some (`1 … 4 5 6 7 8 … 250`).

    A count-free list knows its pages only up to the next one.
    """
    paginator = page.paginator
    last = page.number + 1 if page.has_next() else page.number
    if not isinstance(paginator, LazyPaginator):
        last = paginator.num_pages
    numbers: list[int | None] = []
    for number in sorted(
        {1, *range(max(1, page.number - 2), min(last, page.number + 2) + 1), last}
    ):
        if numbers and number - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


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
    # Columns a person may not hide in the column chooser (see `choosable`).
    ALWAYS_SHOWN: tuple[str, ...] = ("select",)

    @classmethod
    def choosable(cls) -> list[tuple[str, str]]:
        """(name, header) of the columns a person can show or hide, in table order."""
        order = list(getattr(cls._meta, "sequence", ()) or ()) or list(cls.base_columns)
        names = [n for n in order if n in cls.base_columns and n not in cls.ALWAYS_SHOWN]
        names += [n for n in cls.base_columns if n not in names and n not in cls.ALWAYS_SHOWN]
        return [(n, str(cls.base_columns[n].verbose_name or n.replace("_", " "))) for n in names]

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
