"""Free-text search: the one folding of text (accents, case) and the one query of every page.

`fold` turns text into the form the normalised search columns store (`Meter.search_text`,
`Meter.search_reference`, `Site.search_text`) and a search's text is matched in: lower case,
accents and other marks removed, the letters that Unicode does not decompose (Ł, Đ, Ø, Þ, Æ,
ß...) spelt as PostgreSQL's `unaccent` spells them, and runs of blanks made one space. The
columns are written in Python by every writer, so SQLite and PostgreSQL hold the same text
and answer a search alike; on PostgreSQL a trigram index serves the `LIKE '%text%'`.

`id_range` reads a meter id as the pages show it, cut to 8 characters or whole, with or without
dashes: the lowest and highest UUIDs it can stand for, a range the unique index serves.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from uuid import UUID

from django.db.models import Q

# Letters NFKD leaves whole, lower case (fold lowers first), as PostgreSQL's unaccent.rules
# writes them; and the typographic quotes and dashes people paste from documents.
_LETTERS = {
    "ł": "l",
    "ŀ": "l",
    "ƚ": "l",
    "đ": "d",
    "ð": "d",
    "ɗ": "d",
    "ø": "o",
    "ɵ": "o",
    "þ": "th",
    "æ": "ae",
    "œ": "oe",
    "ı": "i",
    "ɨ": "i",
    "ħ": "h",
    "ŧ": "t",
    "ƭ": "t",
    "ŋ": "n",
    "ƞ": "n",
    "ĸ": "q",
    "ƀ": "b",
    "ɓ": "b",
    "ƈ": "c",
    "ȼ": "c",
    "ƒ": "f",
    "ɠ": "g",
    "ƙ": "k",
    "ƥ": "p",
    "ʂ": "s",
    "ʉ": "u",
    "ʋ": "v",
    "ƴ": "y",
    "ƶ": "z",
    "ȥ": "z",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
}
_FOLD = str.maketrans(_LETTERS)
# Between the folded fields of one column: `fold` turns it (a blank) into a space, so a
# search's text never holds it and never matches across two fields.
SEPARATOR = "\n"
# Fewer hex digits than this are too short to be taken for a meter id (a postal code, a year).
ID_PREFIX_MIN = 6
_HEX = re.compile(r"[0-9a-f]+")


def fold(text: str) -> str:
    """`text` lowered, without accents, its blanks collapsed: the search columns' spelling."""
    if text.isascii():
        return " ".join(text.lower().split())
    text = text.casefold().translate(_FOLD)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    # NFKD spells some compatibility characters in capitals (℡, ㎒): lower them too.
    return " ".join(text.casefold().translate(_FOLD).split())


def search_column(values: Iterable[object]) -> str:
    """The value of a normalised search column: each non-empty value folded, one per line."""
    return SEPARATOR.join(folded for value in values if value and (folded := fold(str(value))))


def text_query(text: str, *, folded: Iterable[str] = (), lookups: Iterable[str] = ()) -> Q:
    """Rows whose `folded` columns contain `text` folded, or whose `lookups` match `text`.

    `folded` names normalised search columns (paths such as `meter__search_text`); `lookups` are
    plain ORM lookups (`webhook_event_id__icontains`) given the text as it is. Matches nothing
    when there is nothing to match.
    """
    query = Q(pk__in=[])
    needle = fold(text)
    if needle:
        for column in folded:
            query |= Q(**{f"{column}__contains": needle})
    for lookup in lookups:
        query |= Q(**{lookup: text})
    return query


def id_range(text: str) -> tuple[UUID, UUID] | None:
    """The first and last UUID that start with `text`'s hex digits, else None.

    `text` is a whole UUID (as UUID() reads it) or its first ID_PREFIX_MIN or more hex digits,
    without dashes or with them where a UUID has them (`0002d62f`, `0002d62f-1a`).
    """
    text = text.strip().lower()
    try:
        whole = UUID(text)
    except ValueError:
        digits = text.replace("-", "")
        if not (ID_PREFIX_MIN <= len(digits) < 32 and _HEX.fullmatch(digits)):
            return None
        low = UUID(digits.ljust(32, "0"))
        if text != digits and not str(low).startswith(text):
            return None
        return low, UUID(digits.ljust(32, "f"))
    return whole, whole
