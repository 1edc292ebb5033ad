"""How a free-text string from Leap is shown: as text, never as markup.

Leap's free text (an action's description, a participation period's reason, customer names)
is meant as text but may carry markup: a customer typed `<b>Bold</b> Bakery`, or Leap wrote
`Upload it <a href="https://...">here</a>`. The rule, the same on every page, fragment and
email: the string is escaped like any other value (its tags show as typed), except that a
link Leap sends keeps its address, as a plain URL after its label, so no page drops it and
none turns it into a live link a customer-facing person might click unchecked.

The stored value is never changed: this is only how it is shown.
"""

from __future__ import annotations

import re
from html import unescape

# One <a ... href="..."> ... </a>; the label may hold other tags, which are kept as text.
_ANCHOR = re.compile(
    r"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>(.*?)</a\s*>""",
    re.IGNORECASE | re.DOTALL,
)


def _plain_link(match: re.Match[str]) -> str:
    url = unescape(next(g for g in match.groups()[:3] if g is not None)).strip()
    label = match.group(4).strip()
    if not url:
        return label
    if not label or unescape(label) == url:
        return url
    return f"{label} ({url})"


def leap_text(value: object) -> str:
    """`value` as the text to show (its caller escapes it): links become "label (URL)"."""
    if value is None:
        return ""
    text = str(value)
    if "<" not in text:
        return text
    return _ANCHOR.sub(_plain_link, text)
