"""Every write to mappings and partner_reference beyond one save(): history and the push to Leap."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django_q.tasks import async_task

from leapsync.leap.references import reference_problem
from meters import candidates
from meters.models import (
    EventKind,
    MappingSource,
    MatchCandidate,
    Meter,
    MeterEvent,
    PartnerReferenceChange,
    PushStatus,
    ReferenceImport,
    Site,
)

PUSH_TASK = "leapsync.tasks.push_partner_reference"
NO_SITE_LABEL = "no site yet"
REFERENCE_BATCH = 2000
ACCEPT_CHUNK = 500


@dataclass(frozen=True)
class Integration:
    """An actor that is not a person: one of the partner's systems, by its API token's name.

    Its changes are recorded with the name (history's `token_name`) instead of a user.
    """

    name: str


Actor = AbstractBaseUser | Integration


def _attribution(actor: Actor) -> dict[str, object]:
    """The columns naming who made a change: a person (`by`) or an integration's token."""
    if isinstance(actor, Integration):
        return {"by": None, "token_name": actor.name}
    return {"by": actor}


class ReferenceRefused(ValueError):
    """A partner_reference edit that must not be sent (invalid, or Leap's value moved on)."""


# --- mapping -----------------------------------------------------------------------------------


def _mapping_event(meter: Meter, old: str, new: str, source: str, actor, now) -> MeterEvent:
    return MeterEvent(
        meter=meter,
        kind=EventKind.SITE_MAPPED,
        field=source,
        old=old,
        new=new,
        observed_at=now,
        user=actor,
    )


def _site_label(meter: Meter) -> str:
    if meter.site_id is not None:
        return meter.site.external_id
    return NO_SITE_LABEL if meter.no_site_yet else ""


@transaction.atomic
def map_meter(meter: Meter, site: Site, *, actor: AbstractBaseUser, source: str) -> bool:
    """Tie `meter` to `site` (source: a MappingSource); False when it already was."""
    if meter.site_id == site.pk:
        return False
    now = timezone.now()
    old = _site_label(meter)
    meter.site, meter.no_site_yet = site, False
    meter.mapping_source, meter.mapped_by, meter.mapped_at = source, actor, now
    meter.save(update_fields=_MAPPING_FIELDS)
    label = MappingSource(source).label.lower()
    _mapping_event(meter, old, site.external_id, label, actor, now).save()
    candidates.clear([meter.pk])
    return True


_MAPPING_FIELDS = ["site", "no_site_yet", "mapping_source", "mapped_by", "mapped_at", "updated_at"]


@transaction.atomic
def unmap_meter(meter: Meter, *, actor: AbstractBaseUser) -> bool:
    """Put `meter` back in the review queue; False when there was nothing to undo."""
    if meter.site_id is None and not meter.no_site_yet:
        return False
    old = _site_label(meter)
    now = timezone.now()
    meter.site, meter.no_site_yet = None, False
    meter.mapping_source, meter.mapped_by, meter.mapped_at = "", actor, now
    meter.save(update_fields=_MAPPING_FIELDS)
    _mapping_event(meter, old, "", "unmapped", actor, now).save()
    candidates.store([meter])  # back in the queue, with its candidate at once
    return True


@transaction.atomic
def mark_no_site(meter: Meter, *, actor: AbstractBaseUser) -> bool:
    """Record that the partner has no site for `meter` yet; False when already marked."""
    if meter.no_site_yet and meter.site_id is None:
        return False
    old = _site_label(meter)
    now = timezone.now()
    meter.site, meter.no_site_yet = None, True
    meter.mapping_source, meter.mapped_by, meter.mapped_at = MappingSource.MANUAL, actor, now
    meter.save(update_fields=_MAPPING_FIELDS)
    _mapping_event(meter, old, NO_SITE_LABEL, "marked by hand", actor, now).save()
    candidates.clear([meter.pk])
    return True


def _reference_matches(meters: QuerySet) -> QuerySet:
    """Unmapped meters whose partner_reference is one site's external_id and no other meter's."""
    shared = Meter.objects.filter(partner_reference=OuterRef("partner_reference")).exclude(
        pk=OuterRef("pk")
    )
    site = Site.objects.filter(external_id=OuterRef("partner_reference"))
    return (
        meters.filter(site__isnull=True, no_site_yet=False)
        .exclude(partner_reference="")
        .filter(Exists(site))
        .exclude(Exists(shared))
        .order_by()
    )


def map_by_reference(meter_ids: Iterable[UUID]) -> int:
    """Map these meters by exact reference match; called by the sync once per page.

    One query when nothing matches (the usual page); three when some do (select, update, events).
    """
    ids = list(meter_ids)
    if not ids:
        return 0
    return _map_matches(_reference_matches(Meter.objects.filter(meter_id__any=ids)))


def map_unmapped_by_reference() -> int:
    """Map every unmapped meter whose reference matches a site: on demand, after an import."""
    total = 0
    pks = list(_reference_matches(Meter.objects.all()).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), REFERENCE_BATCH):
        batch = pks[start : start + REFERENCE_BATCH]
        total += _map_matches(_reference_matches(Meter.objects.filter(pk__any=batch)))
    return total


def map_by_site_references(external_ids: Iterable[str], *, actor: Integration) -> int:
    """Map the unmapped meters whose reference is one of these sites' external_ids: after an
    integration upserted them, the meters they can newly map (an index look-up per batch, not
    a scan); the events name the integration."""
    ids = sorted(set(external_ids))
    total = 0
    for start in range(0, len(ids), REFERENCE_BATCH):
        meters = Meter.objects.filter(partner_reference__in=ids[start : start + REFERENCE_BATCH])
        total += _map_matches(_reference_matches(meters), token_name=actor.name)
    return total


def _map_matches(matches: QuerySet, *, token_name: str = "") -> int:
    rows = list(matches.values_list("pk", "partner_reference"))
    if not rows:
        return 0
    site_pk = Site.objects.filter(external_id=OuterRef("partner_reference")).values("pk")[:1]
    with transaction.atomic():
        _map_in_bulk(rows, Subquery(site_pk), MappingSource.REFERENCE_MATCH, token_name=token_name)
    # Their stored candidates stay until the next scoring sweeps them (candidates.drop_settled):
    # the sync calls this every page, within a query budget, and the queue and bulk accept
    # read candidates of waiting meters only.
    return len(rows)


def _map_in_bulk(
    rows: list[tuple[int, str]],
    site: Subquery,
    source: MappingSource,
    *,
    actor: AbstractBaseUser | None = None,
    token_name: str = "",
) -> None:
    """Inside a transaction: map the meters of `rows` ((pk, the site's external_id)) to the
    site `site` names for each, in one UPDATE, with one SITE_MAPPED event each."""
    now = timezone.now()
    Meter.objects.filter(pk__any=[pk for pk, _ in rows]).update(
        site=site,
        no_site_yet=False,
        mapping_source=source,
        mapped_by=actor,
        mapped_at=now,
        updated_at=now,
    )
    label = source.label.lower()
    MeterEvent.objects.bulk_create(
        MeterEvent(
            meter_id=pk,
            kind=EventKind.SITE_MAPPED,
            field=label,
            new=external_id,
            observed_at=now,
            user=actor,
            token_name=token_name,
        )
        for pk, external_id in rows
    )


@dataclass(frozen=True)
class BulkAcceptReport:
    """What a bulk accept did: meters mapped, and those skipped because their stored
    candidate changed (another site or score) after the preview."""

    mapped: int
    changed: int


def accept_candidates(
    meters: QuerySet[Meter], *, threshold: int, as_of: datetime, actor: AbstractBaseUser
) -> BulkAcceptReport:
    """Map each of `meters` to its stored candidate site, with one history event each.

    Only meters still waiting (no site, not marked) whose candidate scores at least
    `threshold` and has not changed since `as_of` (the preview's time) are mapped; the
    others are counted as changed. Chunks of ACCEPT_CHUNK meters, each in one transaction
    with its rows locked, so the number of meters is not bounded by a request's size.
    """
    eligible = meters.awaiting_site().filter(
        match_candidate__site__isnull=False, match_candidate__score__gte=threshold
    )
    rows = list(eligible.order_by("pk").values_list("pk", "match_candidate__changed_at"))
    pks = [pk for pk, changed_at in rows if changed_at <= as_of]
    mapped = 0
    for start in range(0, len(pks), ACCEPT_CHUNK):
        mapped += _accept_chunk(pks[start : start + ACCEPT_CHUNK], threshold, as_of, actor)
    return BulkAcceptReport(mapped=mapped, changed=len(rows) - mapped)


def _accept_chunk(pks: list[int], threshold: int, as_of: datetime, actor: AbstractBaseUser) -> int:
    with transaction.atomic():
        locked = (
            Meter.objects.select_for_update(of=("self",))
            .awaiting_site()
            .filter(
                pk__any=pks,
                match_candidate__site__isnull=False,
                match_candidate__score__gte=threshold,
                match_candidate__changed_at__lte=as_of,
            )
            .values_list("pk", "match_candidate__site__external_id")
        )
        rows = list(locked)
        if not rows:
            return 0
        site = MatchCandidate.objects.filter(meter=OuterRef("pk")).values("site")[:1]
        _map_in_bulk(rows, Subquery(site), MappingSource.SUGGESTION, actor=actor)
        candidates.clear([pk for pk, _ in rows])
    return len(rows)


# --- partner_reference -------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What the editing page showed: Leap's value, and the meter's open change (its pk) if any.

    An edit is bound to it, so one made on an out-of-date page is refused, not applied over
    a change the user never saw.
    """

    reference: str
    open_change: int | None


def set_partner_reference(
    meter: Meter, value: str, *, actor: Actor, seen: Seen | None = None
) -> PartnerReferenceChange | None:
    """Record the change and queue its push to Leap; None when nothing needs sending.

    `meter.partner_reference` keeps mirroring Leap: the push task writes it once Leap accepts
    the change, and a sync confirms or corrects it. With `seen` (what the user's page showed),
    the edit is refused if a sync brought another value since, or if another change was made
    since: the meter's row is locked first, so of two simultaneous saves the second sees the
    first. Without it (bulk actions, the API), an open change is superseded. An
    `Integration` actor is recorded by its token's name, here and in the push's event.
    """
    value = value.strip()
    problem = reference_problem(value)
    if problem:
        raise ReferenceRefused(problem)
    with transaction.atomic():
        changes, refused = _record_edits([ReferenceEdit(meter, value, seen)], actor, None)
    if refused:
        raise ReferenceRefused(refused[0][1])
    return changes[0] if changes else None


@dataclass(frozen=True)
class ReferenceEdit:
    """One partner_reference to set, bound (`seen`) to what a page or preview showed."""

    meter: Meter
    value: str
    seen: Seen | None = None


def set_partner_references(
    edits: Sequence[ReferenceEdit], *, actor: Actor, batch: ReferenceImport | None
) -> tuple[list[PartnerReferenceChange], list[tuple[ReferenceEdit, str]]]:
    """Record many edits exactly as `set_partner_reference` records one, REFERENCE_BATCH
    meters per transaction and a few queries each; every change's push is queued on commit.

    Returns the changes queued and the (edit, reason) pairs refused: a value breaking the
    rule, or a meter whose value or open change moved on since `seen`. An edit equal to
    Leap's value records nothing.
    """
    changes: list[PartnerReferenceChange] = []
    refused: list[tuple[ReferenceEdit, str]] = []
    valid = []
    for edit in edits:
        edit = ReferenceEdit(edit.meter, edit.value.strip(), edit.seen)
        problem = reference_problem(edit.value)
        if problem:
            refused.append((edit, problem))
        else:
            valid.append(edit)
    for start in range(0, len(valid), REFERENCE_BATCH):
        with transaction.atomic():
            done, stopped = _record_edits(valid[start : start + REFERENCE_BATCH], actor, batch)
        changes += done
        refused += stopped
    return changes, refused


def _record_edits(
    edits: Sequence[ReferenceEdit], actor: Actor, batch: ReferenceImport | None
) -> tuple[list[PartnerReferenceChange], list[tuple[ReferenceEdit, str]]]:
    """Inside a transaction: lock the meters, check each edit against what it saw, supersede
    the meters' open changes, record the changes and queue their pushes on commit."""
    pks = [edit.meter.pk for edit in edits]
    locked = Meter.objects.select_for_update().filter(pk__any=pks).order_by("pk")
    current = {m.pk: m for m in locked.only("pk", "partner_reference")}
    open_changes: dict[int, PartnerReferenceChange] = {}
    for change in (
        PartnerReferenceChange.objects.filter(
            meter_id__any=pks, push_status__in=PartnerReferenceChange.OPEN_STATUSES
        )
        .select_related("by")
        .order_by("-at", "-id")
    ):
        open_changes.setdefault(change.meter_id, change)
    refused, supersede, records = [], [], []
    for edit in edits:
        meter = current.get(edit.meter.pk)
        problem = "the meter no longer exists" if meter is None else None
        if meter is not None and edit.seen is not None:
            problem = _seen_problem(meter, edit.seen, open_changes.get(meter.pk))
        if problem or meter is None:
            refused.append((edit, problem or ""))
            continue
        supersede.append(meter.pk)
        edit.meter.partner_reference = meter.partner_reference
        if edit.value != meter.partner_reference:
            records.append(
                PartnerReferenceChange(
                    meter=meter,
                    old=meter.partner_reference,
                    new=edit.value,
                    batch=batch,
                    **_attribution(actor),
                )
            )
    if any(pk in open_changes for pk in supersede):
        PartnerReferenceChange.objects.filter(
            meter_id__any=[pk for pk in supersede if pk in open_changes],
            push_status__in=PartnerReferenceChange.OPEN_STATUSES,
        ).update(push_status=PushStatus.SUPERSEDED)
    changes = PartnerReferenceChange.objects.bulk_create(records)
    if changes:
        pks = [change.pk for change in changes]
        transaction.on_commit(lambda: _queue_pushes(pks))
    return changes, refused


def _queue_pushes(pks: list[int]) -> None:
    """Queue one push task per change, as a retry does, in one transaction: with the ORM
    broker, a commit per task would cost more than the tasks' rows (seconds per thousand)."""
    with transaction.atomic():
        for pk in pks:
            async_task(PUSH_TASK, pk)


def _seen_problem(meter: Meter, seen: Seen, other: PartnerReferenceChange | None) -> str | None:
    """Why an edit made on a page that no longer shows the meter as it is must be refused."""
    if meter.partner_reference != seen.reference:
        return (
            f"Leap's partner_reference changed from “{seen.reference or '(empty)'}” to "
            f"“{meter.partner_reference or '(empty)'}” since this page was loaded "
            "(a sync brought the new value). Nothing was sent; check it and edit again."
        )
    if other is not None and other.pk != seen.open_change:
        who = other.made_by or "someone"
        when = timezone.localtime(other.at).strftime("%Y-%m-%d %H:%M")
        return (
            f"Another change (“{other.new}”, by {who} at {when}) was made since this page was "
            f"loaded and is {other.get_push_status_display().lower()}. Nothing was saved: "
            "reload and edit again."
        )
    return None


def set_reference_from_site(
    meter: Meter, *, actor: AbstractBaseUser, seen: Seen | None = None
) -> PartnerReferenceChange:
    """Set a mapped meter's partner_reference to its site's external_id.

    ReferenceRefused says why not: not mapped, already set, or refused as an edit would be.
    """
    if meter.site_id is None:
        raise ReferenceRefused("not mapped to a site")
    change = set_partner_reference(meter, meter.site.external_id, actor=actor, seen=seen)
    if change is None:
        raise ReferenceRefused("already set")
    return change


def set_references_from_sites(
    meters: Iterable[Meter], *, actor: AbstractBaseUser
) -> tuple[list[PartnerReferenceChange], list[tuple[Meter, str]]]:
    """Set each mapped meter's partner_reference to its site's external_id (a bulk action),
    through `set_partner_references`. Returns the changes queued and the (meter, reason) pairs
    skipped: not mapped, already set, or refused as an edit would be.
    """
    meters = list(meters)
    edits = [ReferenceEdit(m, m.site.external_id) for m in meters if m.site_id is not None]
    changes, refused = set_partner_references(edits, actor=actor, batch=None)
    changed = {change.meter_id for change in changes}
    reasons = {edit.meter.pk: reason for edit, reason in refused}
    skipped = []
    for meter in meters:
        if meter.site_id is None:
            skipped.append((meter, "not mapped to a site"))
        elif meter.pk in reasons:
            skipped.append((meter, reasons[meter.pk]))
        elif meter.pk not in changed:
            skipped.append((meter, "already set"))
    return changes, skipped


@transaction.atomic
def retry_push(change: PartnerReferenceChange, *, actor: AbstractBaseUser) -> bool:
    """Queue another push of an unconfirmed change; False when it is no longer open."""
    change = PartnerReferenceChange.objects.select_for_update().get(pk=change.pk)
    if not change.is_open:
        return False
    change.push_status = PushStatus.PENDING
    change.save(update_fields=["push_status"])
    transaction.on_commit(lambda: async_task(PUSH_TASK, change.pk))
    return True
