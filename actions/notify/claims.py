"""Claims on action emails: one email's, or a deadline run's for many actions at once.

One email is claimed through leapsync.claims. A deadline run claims its actions in batches,
and needs to know which of them it won: that is the one thing the ORM cannot tell (an
INSERT ... ON CONFLICT DO NOTHING or an UPDATE reports a count, not the rows), so those two
statements are raw SQL with RETURNING, and databases without it claim each action alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from actions.models import ActionEmail, EmailKind, EmailStatus, RequiredAction
from leapsync import claims
from leapsync.lib.iterables import batched

# Ids per IN (...) list: under SQLite's default limit of 999 parameters per statement.
IN_BATCH = 900
# {(action pk, key): (claim pk, status, claimed_at)} of the claims a run read.
Claims = dict[tuple[int, str], tuple[int, str, datetime]]


def claim_email(
    action: RequiredAction,
    kind: str,
    key: str,
    *,
    to: str,
    subject: str,
    by: AbstractBaseUser | None = None,
) -> ActionEmail | None:
    """The claim to send this email now, or None when it is sent (or being sent).

    A failed earlier attempt, or one whose sender crashed, is claimed again.
    """
    return claims.claim(
        ActionEmail,
        {"action": action, "kind": kind, "key": key},
        taken=EmailStatus.SENDING,
        failed=EmailStatus.FAILED,
        now=timezone.now(),
        values={"to": to, "subject": subject[:300], "by": by, "error": ""},
    )


def retakable(claim: tuple[int, str, datetime], now: datetime) -> bool:
    """Whether a claim a run read may be taken again (failed, or its sender crashed)."""
    _pk, status, claimed_at = claim
    return claims.is_retakable(
        status, claimed_at, taken=EmailStatus.SENDING, failed=EmailStatus.FAILED, now=now
    )


def deadline_key(action: RequiredAction) -> str:
    """The occasion of a deadline alert: the action's current deadline."""
    return "deadline-" + action.enrollment_deadline_date_time.astimezone(UTC).strftime(
        "%Y%m%dT%H%M%S"
    )


def deadline_claims(actions: list[RequiredAction]) -> Claims:
    """The deadline claims these actions have."""
    found: Claims = {}
    for chunk in batched([action.pk for action in actions], IN_BATCH):
        rows = ActionEmail.objects.filter(kind=EmailKind.DEADLINE, action_id__in=chunk)
        columns = ("pk", "action_id", "key", "status", "claimed_at")
        for pk, action_id, key, status, claimed_at in rows.values_list(*columns):
            found[action_id, key] = (pk, status, claimed_at)
    return found


def claim_deadlines(
    actions: list[RequiredAction],
    known: Claims,
    *,
    to: str,
    subject: str,
) -> dict[int, int]:
    """{action pk: claim pk} of the actions this run won the right to alert about now.

    New claims are inserted in batches, and retakable ones (failed, or expired: their run
    crashed) taken back with one conditional UPDATE per batch; both report the rows they
    changed (RETURNING), so a claim another run made or took a moment earlier is never counted
    as ours, on PostgreSQL and SQLite alike. Claims still sending (another run's) are
    duplicates. Where the database cannot report them, each action is claimed on its own.
    """
    features = connection.features
    if not (
        features.can_return_rows_from_bulk_insert and features.supports_update_conflicts_with_target
    ):
        return _claim_each(actions, known, to=to, subject=subject)
    now = timezone.now()
    fresh: list[tuple[int, str]] = []
    retake: list[int] = []
    for action in actions:
        key = deadline_key(action)
        claim = known.get((action.pk, key))
        if claim is None:
            fresh.append((action.pk, key))
        elif retakable(claim, now):
            retake.append(claim[0])
    fresh.sort()  # every run inserts in one order: concurrent runs wait, never deadlock
    retake.sort()
    won: dict[int, int] = {}
    with transaction.atomic():
        for batch in batched(fresh, _insert_batch_size()):
            won.update(_insert_claims(batch, to=to, subject=subject, now=now))
        for batch in batched(retake, IN_BATCH):
            won.update(_retake_claims(batch, to=to, subject=subject, now=now))
    return won


def _claim_each(
    actions: list[RequiredAction], known: Claims, *, to: str, subject: str
) -> dict[int, int]:
    now = timezone.now()
    won = {}
    for action in actions:
        claim = known.get((action.pk, deadline_key(action)))
        if claim is not None and not retakable(claim, now):
            continue
        mine = claim_email(action, EmailKind.DEADLINE, deadline_key(action), to=to, subject=subject)
        if mine is not None:
            won[action.pk] = mine.pk
    return won


_CLAIM_COLUMNS = ("action", "kind", "key", "to", "subject", "status", "error")
_CLAIM_COLUMNS += ("created_at", "claimed_at", "attempts")


def _insert_batch_size() -> int:
    """Rows per INSERT: SQLite allows 999 parameters per statement by default."""
    limit = connection.features.max_query_params or 65535
    return min(1000, limit // len(_CLAIM_COLUMNS))


def _insert_claims(
    rows: Sequence[tuple[int, str]], *, to: str, subject: str, now: datetime
) -> dict[int, int]:
    """Insert a claim per (action pk, key); {action pk: claim pk} of those this statement made.

    ON CONFLICT DO NOTHING skips a claim that exists already, whoever made it, and RETURNING
    lists only the rows inserted.
    """
    quote = connection.ops.quote_name
    meta = ActionEmail._meta
    fields = [meta.get_field(name) for name in _CLAIM_COLUMNS]
    params: list = []
    for action_id, key in rows:
        values = (
            action_id,
            EmailKind.DEADLINE.value,
            key,
            to,
            subject[:300],
            EmailStatus.SENDING.value,
            "",
            now,
            now,
            1,
        )
        params += [f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    action, kind, key = (quote(meta.get_field(name).column) for name in ("action", "kind", "key"))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * len(rows))} "
        f"ON CONFLICT ({action}, {kind}, {key}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}, {action}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {action_id: pk for pk, action_id in cursor.fetchall()}


def _retake_claims(
    claim_pks: Sequence[int], *, to: str, subject: str, now: datetime
) -> dict[int, int]:
    """Take back retakable claims for this send; {action pk: claim pk} of those it took.

    The WHERE clause is the ORM's own rendering of leapsync.claims.retakable, so the rule
    lives once; only the RETURNING around it is written here.
    """
    quote = connection.ops.quote_name
    meta = ActionEmail._meta
    rows = ActionEmail.objects.filter(
        claims.retakable(taken=EmailStatus.SENDING, failed=EmailStatus.FAILED, now=now),
        pk__in=claim_pks,
    )
    where, where_params = rows.query.get_compiler(connection=connection).compile(rows.query.where)
    column = {
        name: quote(meta.get_field(name).column)
        for name in ("action", "status", "to", "subject", "error", "claimed_at", "attempts")
    }
    pk = quote(meta.pk.column)
    sql = (
        f"UPDATE {quote(meta.db_table)} "
        f"SET {column['status']} = %s, {column['error']} = %s, {column['to']} = %s, "
        f"{column['subject']} = %s, {column['claimed_at']} = %s, "
        f"{column['attempts']} = {column['attempts']} + 1 "
        f"WHERE {where} "
        f"RETURNING {pk}, {column['action']}"
    )
    claimed_at = meta.get_field("claimed_at").get_db_prep_save(now, connection)
    params = [EmailStatus.SENDING.value, "", to, subject[:300], claimed_at, *where_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {action_id: claim_pk for claim_pk, action_id in cursor.fetchall()}
