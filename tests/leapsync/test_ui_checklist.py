"""The checklist filter: checkboxes for several values, and the labels its summary names."""

from __future__ import annotations

from django import forms
from django.http import QueryDict

from leapsync.ui.filters import ChecklistFilter
from leapsync.ui.templatetags.leapsync_ui import chosen_labels

COLOURS = (("r", "Red"), ("g", "Green"), ("b", "Blue"))


class ColourForm(forms.Form):
    """A filter form of one checklist, as django-filter builds it."""

    colour = ChecklistFilter(choices=COLOURS, label="Colour").field


def bound(query: str | None) -> forms.BoundField:
    return ColourForm(None if query is None else QueryDict(query))["colour"]


def test_checklist_filter_renders_checkboxes_with_a_selects_query_string():
    field = bound("colour=b&colour=r")
    assert isinstance(field.field.widget, forms.CheckboxSelectMultiple)
    assert field.widget_type == "checkboxselectmultiple"
    html = str(field)
    assert html.count('type="checkbox" name="colour"') == 3
    assert html.count("checked") == 2


def test_chosen_labels_name_the_ticked_values_in_the_choices_order():
    assert chosen_labels(bound("colour=b&colour=r")) == "Red, Blue"
    assert chosen_labels(bound("colour=g&colour=nope")) == "Green"
    assert chosen_labels(bound("")) == ""
    assert chosen_labels(bound(None)) == ""
