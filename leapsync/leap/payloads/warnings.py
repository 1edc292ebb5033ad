"""What the payload parser's warnings mean, for the people who read a run's report.

The parser (fields.py) words each warning as "<kind>: <where>" or "<kind> for <where>: ...";
`group` gathers a run's warnings by kind, so that "Leap sent a field this version does not use
yet", which every run after a Leap release sees once per field, reads as the news it is and not
as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# (message prefix, title, whether it is news rather than a problem), most specific first.
KINDS: tuple[tuple[str, str, bool], ...] = (
    (
        "unknown field",
        "Fields Leap sent that this version does not use yet (kept in the stored payload)",
        True,
    ),
    ("unknown value", "Values this version does not know yet (stored as Leap sent them)", True),
    ("very long value", "Values longer than leapsync stores (cut to fit)", False),
    ("wrong type", "Values of the wrong type (left out)", False),
    ("missing required field", "Fields Leap's specification requires but Leap left out", False),
    ("bad value", "Values that could not be read (left out)", False),
    ("dropped", "List items that could not be read (left out)", False),
)


@dataclass
class WarningGroup:
    title: str
    news: bool
    items: list[tuple[str, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(count for _, count in self.items)


def group(warnings: Mapping[str, int]) -> list[WarningGroup]:
    """`warnings` ({message: times}) by kind: problems first, then news; each kind's items
    without the repeated prefix, most frequent first."""
    groups: dict[str, WarningGroup] = {}
    for message, count in warnings.items():
        prefix, title, news = next(
            (kind for kind in KINDS if message.startswith(kind[0])), ("", "Other warnings", False)
        )
        detail = message[len(prefix) :].lstrip(" :") if prefix else message
        groups.setdefault(title, WarningGroup(title, news)).items.append((detail, count))
    for item in groups.values():
        item.items.sort(key=lambda pair: (-pair[1], pair[0]))
    return sorted(groups.values(), key=lambda g: (g.news, -g.total))
