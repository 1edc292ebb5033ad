"""The change feed: every MeterEvent once, in commit-safe order, from a cursor the client keeps.

Order is (txid, id): the writing transaction's id (leapsync.lib.commit_order), then the event's.
On PostgreSQL only events below the safe watermark are served: a transaction still running
(say a sync page that took ids 100-199 and has not committed) holds back every event of that
transaction and of any later one, even those already committed with higher ids, until it ends.
So once a cursor has passed a point, no event can appear before it: a client that stores the
last `next` it received never misses an event and never sees one twice. The price is latency:
a long write transaction in this database delays the feed (a sync commits per page, a few
seconds); those of other databases on the same server do not (see SAFE_WATERMARK).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import F, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields import BigIntegerField

# Tuple comparisons (Django 5.2): `(txid, id) > (a, b)`, one range scan of event_txid_id_idx.
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan

from leapsync.lib.commit_order import SAFE_WATERMARK
from meters.models import MeterEvent

START = "0-0"


class BadCursor(ValueError):
    """A cursor this feed never handed out."""


@dataclass(frozen=True)
class FeedPage:
    events: list[MeterEvent]
    next: str
    has_more: bool


def cursor_of(event: MeterEvent) -> str:
    return f"{event.txid}-{event.pk}"


def parse(cursor: str | None) -> tuple[int, int]:
    """(txid, id) of a cursor; the feed's start for none."""
    text = (cursor or START).strip()
    txid, _, pk = text.partition("-")
    if not (txid.isdigit() and pk.isdigit() and len(txid) < 20 and len(pk) < 20):
        raise BadCursor(f"Not a cursor of this feed: {text[:40]!r}.")
    return int(txid), int(pk)


def committed(events: QuerySet[MeterEvent]) -> QuerySet[MeterEvent]:
    """Only events no running transaction can precede (PostgreSQL; SQLite has one writer)."""
    if connection.vendor != "postgresql":
        return events
    return events.filter(txid__lt=RawSQL(SAFE_WATERMARK, [], output_field=BigIntegerField()))


def head() -> str:
    """The cursor after the last event served so far: where a fresh mirror starts following,
    once it has read the meters themselves."""
    last = committed(MeterEvent.objects.all()).order_by("-txid", "-id").first()
    return cursor_of(last) if last is not None else START


def page(events: QuerySet[MeterEvent], after: str | None, size: int) -> FeedPage:
    """The next `size` events of `events` (filtered as the caller likes) after `after`."""
    position = parse(after)
    newer = events.filter(TupleGreaterThan(Tuple(F("txid"), F("id")), position))
    rows = list(committed(newer).order_by("txid", "id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    nxt = cursor_of(rows[-1]) if rows else f"{position[0]}-{position[1]}"
    return FeedPage(rows, nxt, more)
