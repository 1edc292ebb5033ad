"""The shared table body renders the cells django-tables2 renders, column work done once."""

from __future__ import annotations

import django_tables2 as tables
import pytest
from django.utils.html import format_html

from leapsync.ui import tables as ui_tables
from leapsync.ui.counts import Total

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


def _configured(page: str, total=None, rows: int = 95):
    from django.test import RequestFactory

    request = RequestFactory().get("/things/", {"page": page})
    return ui_tables.configure_table(request, Sample((ROWS * 40)[:rows]), per_page=10, total=total)


@pytest.mark.parametrize(
    ("page", "number", "numbers"),
    [
        ("1", 1, [1, 2]),
        ("4", 4, [1, 2, 3, 4, 5]),
        ("7", 7, [1, None, 5, 6, 7, 8]),
        ("10", 10, [1, None, 8, 9, 10]),
    ],
)
def test_count_free_pages_link_up_to_the_next_page(page, number, numbers):
    table = _configured(page)
    assert table.page.number == number and table.page.numbers == numbers and not table.page.note


def test_count_free_page_past_the_end_counts_once_and_shows_the_last_page():
    table = _configured("500")
    assert table.page.number == 10 and len(table.page.object_list) == 5
    assert table.page.note == "Page 500 is past the end: showing the last page, 10."


def test_counted_pages_number_every_page_and_send_a_page_past_the_end_to_the_last():
    table = _configured("4", total=Total(95))
    assert table.page.numbers == [1, 2, 3, 4, 5, 6, None, 10]
    table = _configured("11", total=Total(95))
    assert table.page.number == 10 and table.page.note.startswith("Page 11 is past the end")


@pytest.mark.parametrize("value", ["x", "0", "-1", "1.5", "9" * 5000])
def test_a_page_that_is_no_number_shows_the_first_page_with_a_note(value):
    table = _configured(value)
    assert table.page.number == 1 and table.page.note.startswith("There is no page")


def test_a_page_no_database_can_reach_is_past_the_end():
    table = _configured(str(2**63))
    assert table.page.number == 10 and "past the end" in table.page.note


def test_total_describes_itself():
    assert Total(12408).describe("meter", "meters") == "12,408 meters"
    assert Total(1).describe("meter", "meters") == "1 meter"
    assert Total(1_000_000, "about").describe("meter", "meters") == "about 1,000,000 meters"
    assert Total(10_000, "more than").describe("meter", "meters") == "more than 10,000 meters"
