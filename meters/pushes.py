"""Sending one recorded partner_reference change to Leap, and recording what Leap makes of it.

A change goes pending -> accepted (Leap answered the update with success) -> confirmed (a sync
read the value back from Leap) or not applied (it read another value). Leap's success answer is
not taken as proof: a full sync must leave every stored Leap field equal to what Leap returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

import httpx
import msgspec
from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone
from django_q.tasks import async_task

from leapsync.leap.client import LeapClient
from leapsync.leap.errors import LeapError, LeapUnavailableError
from meters.models import EventKind, Meter, MeterEvent, PartnerReferenceChange, PushStatus

# Read the meter back from Leap right after it accepted a change, so confirmation takes seconds.
REFRESH_TASK = "leapsync.tasks.refresh_meters"


def push_change(change_pk: int, *, client: LeapClient) -> str:
    """Push one change to Leap; returns a one-line outcome for the task log.

    Leap accepting it sets the meter's partner_reference, writes the history event, forgets
    the meter's digests (so the next sync re-applies Leap's record whatever it holds) and
    queues a read-back. Leap refusing marks it refused with Leap's answer; a change stopped
    before sending is not sent; Leap unreachable leaves it pending with the error. Each can
    be retried from the UI.
    """
    change = PartnerReferenceChange.objects.select_related("meter").filter(pk=change_pk).first()
    if change is None or not change.is_open:
        return f"change {change_pk}: nothing to push"
    meter = change.meter
    if meter.partner_reference not in (change.old, change.new):
        return _record(
            change,
            PushStatus.NOT_SENT,
            error=(
                f"Not sent: Leap's partner_reference is now “{meter.partner_reference}”, "
                f"not “{change.old}” as when this change was made. Edit it again if needed."
            ),
        )
    try:
        answer = client.update_partner_reference(meter.meter_id, change.new)
    except LeapUnavailableError as error:
        return _record(change, PushStatus.PENDING, error=f"Leap unreachable: {error}")
    except httpx.HTTPError as error:
        return _record(
            change, PushStatus.PENDING, error=f"Leap unreachable: {type(error).__name__}"
        )
    except LeapError as error:
        return _record(
            change, PushStatus.REFUSED, error=f"Leap refused: {error}", answer=_answer(error)
        )
    except ValueError as error:
        return _record(change, PushStatus.NOT_SENT, error=f"Not sent: {error}")
    return _accept(change, answer)


# Leap's answer kept as JSON text (UTF-8, not escaped); an odd value in it is written as its str.
_ANSWER = msgspec.json.Encoder(enc_hook=str)


def _answer(error: LeapError) -> str:
    return _ANSWER.encode(
        {"status": error.status, "title": error.title, "details": error.details}
    ).decode()


def _record(change: PartnerReferenceChange, status: str, *, error: str, answer: str = "") -> str:
    with transaction.atomic():
        locked = PartnerReferenceChange.objects.select_for_update().get(pk=change.pk)
        if not locked.is_open:  # superseded meanwhile: keep that outcome
            return f"change {change.pk}: superseded"
        locked.push_status = status
        locked.error = error
        locked.leap_answer = answer
        locked.attempts += 1
        locked.last_attempt_at = timezone.now()
        locked.save(
            update_fields=["push_status", "error", "leap_answer", "attempts", "last_attempt_at"]
        )
    return f"change {change.pk}: {status}: {error}"


def _accept(change: PartnerReferenceChange, answer: dict) -> str:
    accepted = answer.get("partner_reference") if isinstance(answer, dict) else None
    value = accepted if isinstance(accepted, str) else change.new
    now = timezone.now()
    with transaction.atomic():
        locked = PartnerReferenceChange.objects.select_for_update().get(pk=change.pk)
        locked.push_status = PushStatus.ACCEPTED
        locked.pushed_at = locked.last_attempt_at = now
        locked.attempts += 1
        locked.error = ""
        locked.leap_answer = _ANSWER.encode(answer).decode()
        locked.save()
        meter = Meter.objects.select_for_update().get(pk=change.meter_id)
        if meter.partner_reference != value:
            MeterEvent.objects.create(
                meter=meter,
                kind=EventKind.PARTNER_REFERENCE,
                field="partner_reference",
                old=meter.partner_reference,
                new=value,
                observed_at=now,
                user_id=change.by_id,
                token_name=change.token_name,
            )
        _write_locally(meter, value)
        meter_id = str(meter.meter_id)
        transaction.on_commit(lambda: async_task(REFRESH_TASK, [meter_id], "push"))
    return f"change {change.pk}: accepted"


def _write_locally(meter: Meter, value: str) -> None:
    """Show the value Leap accepted now, and make sure the next sync checks it against Leap.

    Without forgetting the digests a sync would find Leap's record unchanged, skip the meter,
    and keep our value forever should Leap not have applied it.
    """
    meter.partner_reference = value
    meter.identifiers_hash = Meter.STALE_DIGEST
    if meter.details_hash:  # empty means the details stream has not stored it: keep that
        meter.details_hash = Meter.STALE_DIGEST
    meter.save(
        update_fields=["partner_reference", "identifiers_hash", "details_hash", "updated_at"]
    )


def judge_accepted(digests: Mapping[UUID, str], *, run_pk: int) -> int:
    """Confirm, or flag as not applied, the accepted changes of the meters a sync page read.

    Called by the details stream once a page is applied: `digests` are the page's meters and
    the digest of the record each had. A meter whose stored digest is another one was written
    after this page read it (a push accepted meanwhile) and is left for the next read. One
    query when no change awaits confirmation (the usual page). Returns how many were judged.
    """
    if not digests:
        return 0
    # Unordered: the changes are judged one by one, and compiling the model's default ordering
    # cost more than the query itself on every page of a re-run.
    rows = (
        PartnerReferenceChange.objects.filter(
            push_status__in=PartnerReferenceChange.AWAITING_CONFIRMATION,
            meter__meter_id__any=list(digests),
        )
        .order_by()
        .values_list(
            "pk", "new", "meter__meter_id", "meter__partner_reference", "meter__details_hash"
        )
    )
    confirmed, not_applied = [], {}
    for pk, new, meter_id, leap_value, stored_digest in rows:
        if stored_digest != digests[meter_id]:
            continue
        if leap_value == new:
            confirmed.append(pk)
        else:
            not_applied[pk] = (
                f"Leap accepted this change, but sync run #{run_pk} read "
                f"“{leap_value or '(empty)'}” back from Leap. Retry, or edit it again."
            )
    open_ = PartnerReferenceChange.objects.filter(
        push_status__in=PartnerReferenceChange.AWAITING_CONFIRMATION
    )
    if confirmed:
        open_.filter(pk__any=confirmed).update(
            push_status=PushStatus.CONFIRMED, confirmed_at=timezone.now(), error=""
        )
    if not_applied:
        errors = [When(pk=pk, then=Value(text)) for pk, text in not_applied.items()]
        open_.filter(pk__any=list(not_applied)).update(
            push_status=PushStatus.NOT_APPLIED, error=Case(*errors, default=Value(""))
        )
    return len(confirmed) + len(not_applied)
