"""django-tables2 inspects render methods once per (function, bound), not once per cell."""

from __future__ import annotations

from django_tables2 import utils

from leapsync.ui import tables


class Column:
    def render(self, value, record):
        return f"{value}:{record}"

    def render_everything(self, **kwargs):
        return sorted(kwargs)


def plain(value):
    return value * 2


ARGS = {"value": 3, "record": "r", "column": None, "bound_row": None, "table": None}


def test_the_patch_is_installed_at_start():
    assert utils.signature is tables._remembered_signature


def test_answers_are_those_of_django_tables2(monkeypatch):
    monkeypatch.setattr(tables, "_signatures", {})
    for fn in (Column().render, Column().render_everything, plain, Column.render):
        assert tables._remembered_signature(fn) == tables._signature(fn)
    assert utils.call_with_appropriate(Column().render, ARGS) == "3:r"
    assert utils.call_with_appropriate(plain, ARGS) == 6
    assert utils.call_with_appropriate(Column().render_everything, ARGS) == sorted(ARGS)


def test_one_inspection_per_function_whatever_the_instances(monkeypatch):
    calls = []
    monkeypatch.setattr(tables, "_signatures", {})
    monkeypatch.setattr(tables, "_signature", lambda fn: calls.append(fn) or (("value",), None))
    for _ in range(50):
        tables._remembered_signature(Column().render)
        tables._remembered_signature(plain)
    assert len(calls) == 2
    # The function unbound is another answer (its `self` is not dropped).
    tables._remembered_signature(Column.render)
    assert len(calls) == 3


def test_the_memo_stays_bounded(monkeypatch):
    monkeypatch.setattr(tables, "_signatures", {})
    monkeypatch.setattr(tables, "_MAX_SIGNATURES", 10)
    for n in range(35):
        tables._remembered_signature(lambda value, n=n: value)
    assert len(tables._signatures) <= 10
