"""The stored best candidate site of each meter waiting for a mapping (MatchCandidate).

meters.matching ranks; this module stores its best pick per meter, in chunks, so the review
queue can sort, filter and bulk-accept over every meter rather than score one page at a time.
django-q2 runs `score_all` after a site import and nightly, and `score_stale` after sync runs
(leapsync.tasks); the mapping services delete a meter's row when it is mapped or marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django_q.tasks import async_task

from meters.matching import Suggestion, suggest
from meters.models import MatchCandidate, Meter

SCORE_ALL_TASK = "leapsync.tasks.score_match_candidates"
SCORE_STALE_TASK = "leapsync.tasks.score_new_match_candidates"
CHUNK = 500
# Tests score in the caller instead of queueing: the cluster's worker would have a connection
# of its own and could not see the rows a test made in its transaction.
SCORE_INLINE = False

# The fields of a meter that matching reads; the rest (the raw JSON above all) stays unread.
_SCORED_FIELDS = (
    "pk",
    "partner_reference",
    "end_customer_name",
    "end_customer_company_name",
    "street_1",
    "street_2",
    "postal_code",
    "electric_service_account_number",
)
_STORED_FIELDS = [
    "site",
    "score",
    "reason",
    "identified",
    "name_score",
    "address_score",
    "postal_score",
    "reference_score",
    "account_match",
    "computed_at",
    "changed_at",
]


def score_all() -> int:
    """Score every meter waiting for a mapping (the sites changed); how many were scored."""
    return _score(Meter.objects.awaiting_site())


def score_stale() -> int:
    """Score the waiting meters never scored, or changed by a sync since they were."""
    stale = Meter.objects.awaiting_site().filter(
        Q(match_candidate__isnull=True) | Q(updated_at__gt=F("match_candidate__computed_at"))
    )
    return _score(stale)


def queue_scoring(task: str) -> None:
    """Queue `task` (SCORE_ALL_TASK or SCORE_STALE_TASK) once the caller's transaction commits."""
    if SCORE_INLINE:
        (score_all if task == SCORE_ALL_TASK else score_stale)()
        return
    transaction.on_commit(lambda: async_task(task, task_name=task.rsplit(".", 1)[1]))


def _score(meters: QuerySet[Meter]) -> int:
    pks = list(meters.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), CHUNK):
        chunk = Meter.objects.filter(pk__any=pks[start : start + CHUNK]).only(*_SCORED_FIELDS)
        store(list(chunk))
    drop_settled()
    return len(pks)


def store(meters: Sequence[Meter]) -> None:
    """Store each meter's best candidate now (a row without a site when nothing fits).

    Three queries a chunk: the candidate sites, the stored rows, one upsert. A row keeps its
    `changed_at` while its site and score stay the same.
    """
    if not meters:
        return
    now = timezone.now()
    best = suggest(meters, limit=1)
    stored = MatchCandidate.objects.in_bulk([m.pk for m in meters])
    rows = [_row(meter, next(iter(best.get(meter.pk, [])), None), now) for meter in meters]
    for row in rows:
        old = stored.get(row.meter_id)
        if old is not None and (old.site_id, old.score) == (row.site_id, row.score):
            row.changed_at = old.changed_at
    MatchCandidate.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["meter"], update_fields=_STORED_FIELDS
    )


def _row(meter: Meter, best: Suggestion | None, now: datetime) -> MatchCandidate:
    if best is None:
        return MatchCandidate(meter=meter, computed_at=now, changed_at=now)
    return MatchCandidate(
        meter=meter,
        site=best.site,
        score=best.score,
        reason=best.reason,
        identified=best.identified,
        name_score=best.parts["name"],
        address_score=best.parts["address"],
        postal_score=best.parts["postal_code"],
        reference_score=best.parts["reference"],
        account_match=best.account_match,
        computed_at=now,
        changed_at=now,
    )


def drop_settled() -> int:
    """Delete the rows of meters mapped or marked since they were scored (by any path)."""
    settled = MatchCandidate.objects.filter(
        Q(meter__site__isnull=False) | Q(meter__no_site_yet=True)
    )
    deleted, _ = settled.delete()
    return deleted


def clear(meter_pks: Sequence[int]) -> None:
    """Forget the candidates of meters just mapped or marked "no site yet"."""
    if meter_pks:
        MatchCandidate.objects.filter(meter__any=list(meter_pks)).delete()
