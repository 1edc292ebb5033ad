"""The one rule for Leap's free text: tags shown as typed, a link's address kept as a plain URL."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from leapsync.leap.text import leap_text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Upload your bill.", "Upload your bill."),
        (None, ""),
        ("<b>Bold</b> Bakery", "<b>Bold</b> Bakery"),
        ('See <a href="https://l.example/a?x=1&amp;y=2">the form</a>.', "See the form (https://l.example/a?x=1&y=2)."),
        ("<A HREF='https://l.example/'>https://l.example/</A>", "https://l.example/"),
        ("<a href=https://l.example/b>  </a>", "https://l.example/b"),
        ('<a href="">empty</a>', "empty"),
        ('<a name="top">no address</a>', '<a name="top">no address</a>'),
        ('<a href="javascript:alert(1)">x</a>', "x (javascript:alert(1))"),
        ('<a href="1">one</a> and <a href="2">two</a>', "one (1) and two (2)"),
    ],
)  # fmt: skip
def test_leap_text(value, shown):
    assert leap_text(value) == shown


def test_the_filter_output_is_escaped_in_html():
    template = Template("{% load leapsync_ui %}{{ value|leap_text }}")
    html = template.render(
        Context({"value": '<script>x</script><a href="https://l.example/">go</a>'})
    )
    assert html == "&lt;script&gt;x&lt;/script&gt;go (https://l.example/)"
