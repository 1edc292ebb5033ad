"""partner_reference: Leap's published pattern for it, and the stricter rule we send by.

The one home of both. Leap's PartnerReference schema only forbids a few punctuation marks, so it
takes a tab, a line break, U+200B (zero-width space) or U+202E (right-to-left override): values
that look like another reference, or like nothing, on every screen that shows them. We refuse
those before anything is recorded or sent. Imports no Django app: the client, the simulator and
the meters app all use it.
"""

from __future__ import annotations

import re
import unicodedata

# Leap's PartnerReference schema: 3-256 characters, none of / \ ? [ ] { } ! # $ % ^ & * ( ) < > |
# (the simulator holds Leap to it; our own rule below is stricter).
LEAP_PATTERN = re.compile(r"^[^/\\?\[\]{}!#$%^&*()<>|]{3,256}$")
FORBIDDEN_PUNCTUATION = "/ \\ ? [ ] { } ! # $ % ^ & * ( ) < > |"
LEAP_RULE = f"3-256 characters, none of {FORBIDDEN_PUNCTUATION}"

RULE = (
    f"partner_reference must be 3–256 characters, with none of {FORBIDDEN_PUNCTUATION} and no "
    "invisible character: no tab, line break or other control character, no format character "
    "(such as U+200B zero-width space or U+202E right-to-left override) and no space other "
    "than the ordinary one. Spaces at either end are removed."
)

# Unicode general categories of characters that print nothing or change how the rest prints,
# with the words the error uses for one that has no name of its own.
_HIDDEN_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "a format character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cn": "an unassigned code point",
    "Co": "a private-use character",
    "Cs": "a surrogate",
}
# Characters of other categories that still render as nothing (Unicode's
# Default_Ignorable_Code_Point outside Cf and Cn, plus the blank braille pattern).
_INVISIBLE = frozenset(
    {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x2800, 0x3164}
    | set(range(0xFE00, 0xFE10))  # variation selectors
    | {0xFFA0}
    | set(range(0xE0100, 0xE01F0))  # variation selectors supplement
)


def hidden_character(value: str) -> str | None:
    """The first character of `value` that would be invisible or misleading on screen, named."""
    for char in value:
        category = unicodedata.category(char)
        point = ord(char)
        if (
            category in _HIDDEN_CATEGORIES
            or point in _INVISIBLE
            or (category == "Zs" and char != " ")
        ):
            name = unicodedata.name(char, "") or _HIDDEN_CATEGORIES.get(category, "")
            return f"U+{point:04X} ({name.lower()})" if name else f"U+{point:04X}"
    return None


def reference_problem(value: str) -> str | None:
    """Why `value` must not be sent as a partner_reference, or None when it may.

    `value` is taken as given: callers strip leading and trailing whitespace first.
    """
    if not isinstance(value, str) or not LEAP_PATTERN.match(value):
        return RULE
    hidden = hidden_character(value)
    if hidden is not None:
        return f"{RULE} This value contains {hidden}."
    return None
