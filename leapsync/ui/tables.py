"""Shared table set-up: ordering from the request, count-free pagination, lean deep pages."""

from __future__ import annotations

import django_tables2.utils
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.db.models import QuerySet
from django.http import HttpRequest
from django_tables2 import LazyPaginator, RequestConfig, Table
from django_tables2.rows import BoundRow

# OFFSET is a signed 64-bit integer in PostgreSQL and SQLite: a page past it is past the end
# of any table, and asking the database for it raises (bigint out of range, OverflowError).
MAX_OFFSET = 2**63 - 1


def configure_table(request: HttpRequest, table: Table, per_page: int = 50) -> Table:
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


def fetch_page_rows(table: Table, queryset: QuerySet) -> Table:
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


_signature = django_tables2.utils.signature
_signatures: dict[tuple, tuple] = {}
# Render methods are defined once per class; should some code make callables per request,
# the memo is emptied rather than grown without bound.
_MAX_SIGNATURES = 2000


def _remembered_signature(fn):
    """django-tables2's `signature()`, computed once per render method instead of per cell.

    django-tables2 inspects a column's render method on every cell it renders (50 rows x 11
    columns on the actions inbox: about a fifth of the page's CPU). The answer depends only
    on the function, and on whether it is called bound (`self` is dropped), so it is kept
    per (function, bound). Installed by LeapsyncConfig.ready().
    """
    function = getattr(fn, "__func__", None)
    key = (function, True) if function is not None else (fn, False)
    try:
        return _signatures[key]
    except KeyError:
        if len(_signatures) >= _MAX_SIGNATURES:
            _signatures.clear()
        return _signatures.setdefault(key, _signature(fn))
    except TypeError:  # an unhashable callable
        return _signature(fn)


def remember_render_signatures() -> None:
    django_tables2.utils.signature = _remembered_signature
