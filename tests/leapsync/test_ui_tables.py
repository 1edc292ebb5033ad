"""The shared table body renders the cells django-tables2 renders, column work done once."""

from __future__ import annotations

import django_tables2 as tables
from django.utils.html import format_html

from leapsync.ui import tables as ui_tables

ROWS = [
    {"id": 1, "name": "<b>one</b>", "city": "Springfield", "state": "ACTIVE", "note": ""},
    {"id": 2, "name": "two", "city": "", "state": "PENDING", "note": "n"},
    {"id": 3, "name": "three", "city": None, "state": "", "note": "m"},
]


class Sample(ui_tables.Table):
    id = tables.Column(linkify=lambda record: f"/things/{record['id']}/")
    name = tables.Column(attrs={"td": {"class": "nowrap"}})
    city = tables.Column()
    state = tables.Column()
    note = tables.Column(empty_values=())
    extra = tables.Column(empty_values=(), orderable=False)

    def render_state(self, value, record):
        return format_html("<i>{}:{}</i>", value, record["id"])

    def render_note(self, **kwargs):
        return sorted(kwargs)

    def render_extra(self, bound_row, unknown_argument):
        raise AssertionError("a render method asking for an unknown argument is not called")


def _django_tables2_cells(table):
    return [
        [(" " + column.attrs["td"].as_html(), cell) for column, cell in row.items()]
        for row in table.page.object_list
    ]


def test_page_cells_are_those_of_django_tables2():
    table = Sample(ROWS)
    table.paginate(per_page=2, page=1)
    cells = table.page_cells()
    assert cells == _django_tables2_cells(table)
    assert cells[0][0] == (" ", '<a href="/things/1/">1</a>')
    assert cells[0][1] == (' class="nowrap"', "<b>one</b>")  # escaped by the template
    assert cells[1][2] == (" ", "—")  # empty value: the column's default
    assert cells[0][5] == (" ", None)


def test_render_methods_are_inspected_once_per_column_not_per_cell(monkeypatch):
    inspected = []
    real = ui_tables.signature
    monkeypatch.setattr(ui_tables, "signature", lambda fn: inspected.append(fn) or real(fn))
    table = Sample(ROWS * 20)
    table.paginate(per_page=50, page=1)
    table.page_cells()
    assert len(inspected) == len(table.columns)
