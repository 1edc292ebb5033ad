"""Meters as Leap describes them, the partner's own sites, and the history of both."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce

from leapsync.lib.commit_order import CurrentTransactionId
from leapsync.lib.search import search_column


class MappingSource(models.TextChoices):
    REFERENCE_MATCH = "reference_match", "Reference match"
    SUGGESTION = "suggestion", "Accepted suggestion"
    MANUAL = "manual", "Chosen by hand"


class SearchColumnsQuerySet(models.QuerySet):
    """A QuerySet whose bulk writes keep the model's SEARCH_COLUMNS current, as save() does."""

    def bulk_create(self, objs: Iterable[models.Model], *args: Any, **kwargs: Any) -> list:
        objs = list(objs)
        for obj in objs:
            fill_search_columns(obj, None)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = _with_search_columns(self.model, kwargs["update_fields"])
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(
        self, objs: Iterable[models.Model], fields: Iterable[str], *args: Any, **kwargs: Any
    ) -> int:
        objs, fields = list(objs), list(fields)
        for obj in objs:
            fill_search_columns(obj, fields)
        return super().bulk_update(objs, _with_search_columns(self.model, fields), *args, **kwargs)


def _with_search_columns(model: type[models.Model], fields: Iterable[str]) -> list[str]:
    fields = list(fields)
    return fields + [
        column
        for column, sources in model.SEARCH_COLUMNS.items()
        if column not in fields and set(sources) & set(fields)
    ]


class SiteQuerySet(SearchColumnsQuerySet):
    def for_list(self) -> SiteQuerySet:
        """Rows of the sites list, with their mapped-meter count as a subquery (no row fan-out)."""
        counts = (
            Meter.objects.filter(site=models.OuterRef("pk"))
            .order_by()
            .values("site")
            .annotate(n=models.Count("pk"))
            .values("n")
        )
        return self.annotate(
            meter_count=Coalesce(models.Subquery(counts, output_field=models.IntegerField()), 0)
        )


def fill_search_columns(
    instance: models.Model, update_fields: Iterable[str] | None
) -> list[str] | None:
    """Write `instance`'s SEARCH_COLUMNS from their sources before a save; the fields to save.

    Called by `save()`, `bulk_create()` and `bulk_update()`, so admin, forms, services and
    factories keep the columns current; the row-dict writers (the sync, the site import: see
    leapsync.lib.bulk) fill them in their rows instead, and an `update()` of a source field must
    set its column too. With `update_fields`, a column is refreshed, and saved, only when one of
    its sources is.
    """
    saving = None if update_fields is None else set(update_fields)
    for column, sources in instance.SEARCH_COLUMNS.items():
        if saving is None or saving & set(sources):
            setattr(instance, column, search_column(getattr(instance, s) for s in sources))
            if saving is not None:
                saving.add(column)
    return None if saving is None else sorted(saving)


class Site(models.Model):
    """One of the partner's own sites or customers, imported from the partner's systems.

    Written by people (CSV import, admin); the sync only links meters to it.
    """

    external_id = models.CharField(max_length=256, unique=True)
    name = models.CharField(max_length=256, blank=True)
    street = models.CharField(max_length=256, blank=True)
    city = models.CharField(max_length=128, blank=True)
    state_or_province_code = models.CharField(max_length=8, blank=True)
    postal_code = models.CharField(max_length=16, blank=True)
    utility_name = models.CharField(max_length=64, blank=True)
    utility_account_number = models.CharField(max_length=128, blank=True)
    notes = models.TextField(blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The fields of SEARCH_COLUMNS folded (leapsync.lib.search): what the free-text search reads.
    search_text = models.TextField(blank=True, editable=False)

    # The columns a CSV import writes (and compares, so re-importing a file changes nothing).
    IMPORTED_FIELDS = (
        "name",
        "street",
        "city",
        "state_or_province_code",
        "postal_code",
        "utility_name",
        "utility_account_number",
        "notes",
    )
    SEARCH_COLUMNS = {
        "search_text": (
            "external_id",
            "name",
            "street",
            "city",
            "postal_code",
            "utility_account_number",
        ),
    }

    objects = SiteQuerySet.as_manager()

    class Meta:
        ordering = ["external_id"]
        indexes = [
            # Mapping suggestions: candidate sites by account number and by postal code.
            models.Index(fields=["utility_account_number"], name="site_account_idx"),
            models.Index(fields=["postal_code"], name="site_postal_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} {self.name}".strip()

    def save(self, *args: Any, update_fields: Iterable[str] | None = None, **kwargs: Any) -> None:
        update_fields = fill_search_columns(self, update_fields)
        super().save(*args, update_fields=update_fields, **kwargs)


class MeterQuerySet(SearchColumnsQuerySet):
    def for_list(self) -> MeterQuerySet:
        """Rows of the meters list and its CSV export.

        Site and enrollment are one-to-one joins; the open partner action count is a subquery
        (a join would multiply rows); the raw Leap JSON, large and unused in lists, is deferred.
        """
        # The actions app is above this one: reach its model through the reverse relation,
        # never by import (actions.models imports this module).
        actions = self.model._meta.get_field("required_actions").related_model
        open_actions = (
            actions.objects.open_for_partner()
            .filter(meter=models.OuterRef("pk"))
            .order_by()
            .values("meter")
            .annotate(n=models.Count("pk"))
            .values("n")
        )
        return (
            self.select_related("site", "enrollment")
            .defer("details_raw", "enrollment__enrollment_raw")
            .annotate(
                open_actions=Coalesce(
                    models.Subquery(open_actions, output_field=models.IntegerField()), 0
                )
            )
        )

    def review_queue(self) -> MeterQuerySet:
        """The mapping review queue's rows, strongest stored candidate first (QUEUE_ORDERS).

        Unmapped meters first, then the ones marked "no site yet", mapped meters last. Each
        row's stored best candidate and its site are joined; unconfirmed partner_reference
        pushes are prefetched so the reference cell shows both values without a query per row.
        """
        return (
            self.select_related("site", "enrollment", "match_candidate__site")
            .defer("details_raw", "enrollment__enrollment_raw")
            .prefetch_related(open_changes())
            .annotate(
                shared_with=models.Case(
                    models.When(partner_reference="", then=0),
                    default=Coalesce(
                        models.Subquery(_sharing_count(), output_field=models.IntegerField()), 0
                    ),
                ),
            )
            .order_by(*QUEUE_ORDERS[QueueOrder.STRONGEST])
        )

    def awaiting_site(self) -> MeterQuerySet:
        """Meters waiting for a mapping: no site, and not marked "no site yet"."""
        return self.filter(site__isnull=True, no_site_yet=False)


class QueueOrder(models.TextChoices):
    """The review queue's orders; each ends with meter_id, so pages never overlap."""

    STRONGEST = "strongest", "Strongest first"
    SCORE = "score", "Highest score"
    SCORE_ASC = "score_asc", "Lowest score"
    REASON = "reason", "Match reason"
    ACTIVE = "active", "ACTIVE first"


class MatchReason(models.TextChoices):
    """The strongest part of a candidate's match (meters.matching decides it)."""

    REFERENCE = "reference", "Reference"
    ACCOUNT = "account", "Account number"
    ADDRESS = "address", "Address"
    NAME = "name", "Name"


_MAPPING_RANK = models.Case(
    models.When(site__isnull=False, then=2),
    models.When(no_site_yet=True, then=1),
    default=0,
)
_ACTIVE_RANK = models.Case(
    models.When(enrollment__global_enrollment_status="ACTIVE", then=0), default=1
)
_REASON_RANK = models.Case(
    *(models.When(match_candidate__reason=r, then=i) for i, r in enumerate(MatchReason.values)),
    default=len(MatchReason.values),
)
_IDENTIFIED = models.F("match_candidate__identified").desc(nulls_last=True)
_SCORE = models.F("match_candidate__score").desc(nulls_last=True)
# Meters with no stored candidate yet (nulls) come after the scored ones in every order, so
# nothing is hidden; a scored meter with no candidate site has score 0.
QUEUE_ORDERS: dict[str, tuple[Any, ...]] = {
    QueueOrder.STRONGEST: (_MAPPING_RANK, _IDENTIFIED, _SCORE, _ACTIVE_RANK, "meter_id"),
    QueueOrder.SCORE: (_MAPPING_RANK, _SCORE, _ACTIVE_RANK, "meter_id"),
    QueueOrder.SCORE_ASC: (
        _MAPPING_RANK,
        models.F("match_candidate__score").asc(nulls_last=True),
        _ACTIVE_RANK,
        "meter_id",
    ),
    QueueOrder.REASON: (_MAPPING_RANK, _REASON_RANK, _SCORE, _ACTIVE_RANK, "meter_id"),
    QueueOrder.ACTIVE: (_MAPPING_RANK, _ACTIVE_RANK, "meter_id"),
}


def _sharing_count() -> models.QuerySet:
    """How many other meters carry the same partner_reference (a subquery)."""
    return (
        Meter.objects.filter(partner_reference=models.OuterRef("partner_reference"))
        .exclude(pk=models.OuterRef("pk"))
        .order_by()
        .values("partner_reference")
        .annotate(n=models.Count("pk"))
        .values("n")
    )


def open_changes() -> models.Prefetch:
    """A meter's partner_reference changes Leap has not confirmed, as `meter.open_changes`."""
    return models.Prefetch(
        "reference_changes",
        queryset=PartnerReferenceChange.objects.filter(
            push_status__in=PartnerReferenceChange.OPEN_STATUSES
        ).select_related("by"),
        to_attr="open_changes",
    )


class Meter(models.Model):
    """One Leap meter (a utility meter, submeter or device), keyed by Leap's `meter_id`.

    The sync writes the SYNCED_FIELDS, from whichever stream (details or enrollments) delivers
    the meter first; people write the mapping to a Site and `partner_reference` (through
    meters.services, which records the change and pushes it to Leap).
    """

    meter_id = models.UUIDField(unique=True)
    partner_reference = models.CharField(max_length=256, blank=True)
    transmission_region = models.CharField(max_length=32, blank=True)
    customer_classification = models.CharField(max_length=32, blank=True)
    meter_type = models.CharField(max_length=32, blank=True)
    customer_group = models.CharField(max_length=128, blank=True)
    load_types = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    connection_references = models.JSONField(default=list, blank=True)
    is_archived = models.BooleanField(default=False)

    # Meter details, flattened where the UI searches, sorts or matches on them.
    end_customer_name = models.CharField(max_length=256, blank=True)
    end_customer_email = models.CharField(max_length=256, blank=True)
    end_customer_phone_number = models.CharField(max_length=64, blank=True)
    end_customer_company_name = models.CharField(max_length=256, blank=True)
    street_1 = models.CharField(max_length=256, blank=True)
    street_2 = models.CharField(max_length=256, blank=True)
    city = models.CharField(max_length=128, blank=True)
    state_or_province_code = models.CharField(max_length=8, blank=True)
    postal_code = models.CharField(max_length=16, blank=True)
    utility_name = models.CharField(max_length=64, blank=True)
    electric_service_account_number = models.CharField(max_length=128, blank=True)
    device_type = models.CharField(max_length=64, blank=True)
    # The customer, address and account fields (SEARCH_COLUMNS) folded, and partner_reference
    # folded (leapsync.lib.search): what the free-text search reads. Two columns, because the
    # two streams write partner_reference and only the details stream writes the others.
    search_text = models.TextField(blank=True, editable=False)
    search_reference = models.TextField(blank=True, editable=False)

    leap_created_by = models.CharField(max_length=32, blank=True)
    leap_created_at = models.DateTimeField(null=True, blank=True)
    leap_updated_at = models.DateTimeField(null=True, blank=True)
    # Digest of the identifier columns above as last written (by either stream): a page
    # compares it instead of reading the columns back (leapsync/sync/meters.py).
    identifiers_hash = models.CharField(max_length=32, blank=True, editable=False)
    details_raw = models.JSONField(null=True, blank=True)
    details_hash = models.CharField(max_length=32, blank=True)
    details_synced_at = models.DateTimeField(null=True, blank=True)

    missing_from_leap = models.BooleanField(default=False)
    missing_since = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="meters"
    )
    mapping_source = models.CharField(max_length=32, choices=MappingSource, blank=True)
    mapped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    mapped_at = models.DateTimeField(null=True, blank=True)
    # Staff looked and the partner has no site for this meter yet: out of the review queue's way.
    no_site_yet = models.BooleanField(default=False)

    # Identifier fields both Leap responses carry; either stream may write them.
    IDENTIFIER_FIELDS = (
        "partner_reference",
        "transmission_region",
        "customer_classification",
        "meter_type",
        "customer_group",
        "load_types",
        "tags",
        "connection_references",
        "is_archived",
        "leap_created_by",
        "leap_created_at",
        "leap_updated_at",
        "identifiers_hash",
        "search_reference",
    )
    DETAILS_FIELDS = (
        "end_customer_name",
        "end_customer_email",
        "end_customer_phone_number",
        "end_customer_company_name",
        "street_1",
        "street_2",
        "city",
        "state_or_province_code",
        "postal_code",
        "utility_name",
        "electric_service_account_number",
        "device_type",
        "search_text",
        "details_raw",
        "details_hash",
        "details_synced_at",
    )
    SYNCED_FIELDS = (
        "meter_id",
        *IDENTIFIER_FIELDS,
        *DETAILS_FIELDS,
        "missing_from_leap",
        "missing_since",
    )
    SEARCH_COLUMNS = {
        "search_text": (
            "end_customer_name",
            "end_customer_company_name",
            "street_1",
            "street_2",
            "city",
            "postal_code",
            "electric_service_account_number",
        ),
        "search_reference": ("partner_reference",),
    }

    # Stored in place of the digests after a local write of a Leap field (a partner_reference
    # Leap accepted): no payload digest equals it, so the next sync re-applies Leap's record,
    # with an event if it differs, instead of skipping the meter as unchanged.
    STALE_DIGEST = "stale"

    objects = MeterQuerySet.as_manager()

    class Meta:
        ordering = ["meter_id"]
        indexes = [
            # Reference matching and the "shared partner_reference" filter.
            models.Index(fields=["partner_reference"], name="meter_partner_ref_idx"),
            # The full sync's missing-from-Leap sweep and the missing filter.
            models.Index(fields=["missing_from_leap"], name="meter_missing_idx"),
            # The meters still in Leap (every dashboard figure counts only those), mapped or
            # not: their ids in order from this index alone, not from a million wide rows, so
            # a count joins them to another index's meter ids by merging, without a hash.
            models.Index(
                fields=["id", "site"],
                condition=models.Q(missing_from_leap=False),
                name="meter_in_leap_idx",
            ),
            # Meter list filters.
            models.Index(
                fields=["transmission_region", "meter_type"], name="meter_region_type_idx"
            ),
            # Search and mapping suggestions by account number.
            models.Index(fields=["electric_service_account_number"], name="meter_account_idx"),
            # Meter list sorts (MeterTable ends every sort with meter_id): one page is then an
            # index walk, not a sort of every meter.
            models.Index(fields=["leap_updated_at", "meter_id"], name="meter_leap_updated_idx"),
            models.Index(fields=["end_customer_name", "meter_id"], name="meter_customer_idx"),
            models.Index(fields=["city", "street_1", "meter_id"], name="meter_address_idx"),
            # Meters waiting for a mapping (site IS NULL AND NOT no_site_yet): the review
            # queue's default rows, bulk accept and the candidate scoring's chunks by pk.
            models.Index(
                fields=["id"],
                condition=models.Q(site__isnull=True, no_site_yet=False),
                name="meter_awaiting_site_idx",
            ),
        ]

    def __str__(self) -> str:
        return str(self.meter_id)

    def save(self, *args: Any, update_fields: Iterable[str] | None = None, **kwargs: Any) -> None:
        update_fields = fill_search_columns(self, update_fields)
        super().save(*args, update_fields=update_fields, **kwargs)


class MatchCandidate(models.Model):
    """The best candidate site for one meter waiting for a mapping, as meters.matching ranks
    it, with the parts of its score: what the review queue sorts, filters and bulk-accepts.

    Written by meters.candidates (a django-q2 task after a site import, after sync runs and
    nightly; a meter put back in the queue at once); deleted when the meter is mapped or
    marked "no site yet". A row with no site means the meter was scored and nothing fits.
    """

    meter = models.OneToOneField(
        Meter, on_delete=models.CASCADE, primary_key=True, related_name="match_candidate"
    )
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    score = models.PositiveSmallIntegerField(default=0)
    reason = models.CharField(max_length=16, choices=MatchReason, blank=True)
    # An exact reference or account number match: ranked before any score in the queue.
    identified = models.BooleanField(default=False)
    name_score = models.PositiveSmallIntegerField(default=0)
    address_score = models.PositiveSmallIntegerField(default=0)
    postal_score = models.PositiveSmallIntegerField(default=0)
    reference_score = models.PositiveSmallIntegerField(default=0)
    account_match = models.BooleanField(default=False)
    computed_at = models.DateTimeField()  # when the meter was last scored
    # When the site or score last changed: bulk accept maps only candidates unchanged since
    # its preview.
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-identified", "-score", "meter"]
        indexes = [
            # The queue's default order (identified DESC, score DESC) and its "min score" filter.
            models.Index(fields=["-identified", "-score", "meter"], name="candidate_strength_idx"),
            # The queue's score orders and min-score filter without identified.
            models.Index(fields=["-score", "meter"], name="candidate_score_idx"),
            # The queue's reason filter (reason = ... AND score >= ...).
            models.Index(fields=["reason", "-score"], name="candidate_reason_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} → {self.site_id or '—'} ({self.score})"

    @property
    def parts(self) -> dict[str, int]:
        """The score's parts, named as meters.matching.Suggestion names them."""
        return {
            "name": self.name_score,
            "address": self.address_score,
            "postal_code": self.postal_score,
            "reference": self.reference_score,
        }


class EventKind(models.TextChoices):
    FIRST_SEEN = "first_seen", "First seen"
    GLOBAL_STATUS = "global_status", "Global status changed"
    PROGRAM_STATUS = "program_status", "Program status changed"
    MARKET_GROUP = "market_group", "Market group changed"
    ACTION_ADDED = "action_added", "Required action added"
    ACTION_RESOLVED = "action_resolved", "Required action resolved by Leap"
    PARTICIPATION = "participation", "Participation schedule changed"
    PARTNER_REFERENCE = "partner_reference", "partner_reference changed"
    ARCHIVED = "archived", "Archived"
    UNARCHIVED = "unarchived", "Unarchived"
    MISSING = "missing", "Missing from Leap"
    RETURNED = "returned", "Back in Leap"
    SITE_MAPPED = "site_mapped", "Mapped to a site"
    # Staff work on a required action (`field`: ACTION_WORKFLOW_FIELDS), with its natural key.
    ACTION_WORKFLOW = "action_workflow", "Action workflow"


# What an ACTION_WORKFLOW event's `field` names.
ACTION_WORKFLOW_FIELDS = ("status", "assignee", "due_date", "customer_notified")


class MeterEvent(models.Model):
    """One tracked change to a meter: the history timeline.

    Written by the sync (with `sync_run`) or by a service acting for a person (with `user`);
    never edited afterwards.
    """

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=EventKind)
    # The changed field's path in Leap's record (`enrollment_status`, `partner_reference`).
    field = models.CharField(max_length=128, blank=True)
    # What the change belongs to, in Leap's names: a delivery period's program and period (its
    # status and market group events), or a required action's natural key (its added and
    # resolved events). Blank where they do not apply.
    program_identifier = models.CharField(max_length=64, blank=True)
    delivery_period = models.CharField(max_length=128, blank=True)
    owner = models.CharField(max_length=16, blank=True)
    action_type = models.CharField(max_length=64, blank=True)
    action_code = models.CharField(max_length=64, blank=True)
    old = models.TextField(blank=True)
    new = models.TextField(blank=True)
    observed_at = models.DateTimeField()
    leap_updated_at = models.DateTimeField(null=True, blank=True)
    sync_run = models.ForeignKey(
        "leapsync.SyncRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="meter_events",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The API token (its name when it wrote) that made the change for the partner's systems.
    # Text, not a key: history outlives a token, and the domain knows nothing of the API app.
    token_name = models.CharField(max_length=64, blank=True)
    # The writing transaction's id (leapsync.lib.commit_order): the change feed reads events
    # in (txid, id) order up to the oldest transaction still running, so it never skips one
    # that commits late. Filled by the database itself, whoever inserts.
    txid = models.BigIntegerField(db_default=CurrentTransactionId(), editable=False)

    class Meta:
        ordering = ["-observed_at", "-id"]
        indexes = [
            # A meter's timeline, newest first; also an action's added/resolved events
            # (meter = ..., kind IN (...), owner, action_type, action_code, program_identifier
            # = ...): one meter has few events, so the meter narrows enough.
            models.Index(fields=["meter", "-observed_at"], name="event_meter_time_idx"),
            # The dashboard's recent-changes feed.
            models.Index(fields=["-observed_at", "-id"], name="event_time_idx"),
            # The same feed filtered by kind; also the dashboard's market group alerts
            # (kind = market_group AND observed_at >= ... GROUP BY program_identifier,
            # delivery_period) and the digest's status losses (kind IN (...) AND observed_at >=
            # ... AND program_identifier IN (...)).
            # The change log filtered by kind pages through it too (its keyset is the time and
            # the id).
            models.Index(fields=["kind", "-observed_at", "-id"], name="event_kind_time_id_idx"),
            # A delivery period's market group moves since a sync (roster and digest):
            # kind = market_group AND program_identifier = ... AND delivery_period = ...
            # AND observed_at >= ...
            models.Index(
                fields=["program_identifier", "delivery_period", "-observed_at"],
                condition=models.Q(kind=EventKind.MARKET_GROUP),
                name="event_group_period_time_idx",
            ),
            # The change log, newest first (keyset: time, then id), filtered by program (and
            # delivery period), or by the person who made the change.
            models.Index(
                fields=["program_identifier", "-observed_at", "-id"],
                condition=~models.Q(program_identifier=""),
                name="event_program_time_id_idx",
            ),
            models.Index(
                fields=["user", "-observed_at", "-id"],
                condition=models.Q(user__isnull=False),
                name="event_user_time_id_idx",
            ),
            # The API's change feed: (txid, id) > cursor AND txid < watermark, in that order.
            models.Index(fields=["txid", "id"], name="event_txid_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.subject}".strip()

    @property
    def subject(self) -> str:
        """What changed, for display: the action or the delivery period, else the field."""
        parts = (
            self.owner,
            self.action_code,
            self.action_type,
            self.program_identifier,
            self.delivery_period,
        )
        return " ".join(part for part in parts if part) or self.field


class PushStatus(models.TextChoices):
    """Where a partner_reference change stands; the labels are what every page and export shows."""

    PENDING = "pending", "Waiting for Leap"
    # Leap answered the update with success. Not proof: only reading the value back is.
    ACCEPTED = "accepted", "Accepted by Leap, not confirmed yet"
    CONFIRMED = "confirmed", "Confirmed by Leap"
    # Leap accepted it, but a sync read back another value afterwards.
    NOT_APPLIED = "not_applied", "Accepted, but Leap returns another value"
    REFUSED = "refused", "Leap refused"
    # Stopped before sending (Leap's value had moved on, or the value broke the rule).
    NOT_SENT = "not_sent", "Not sent"
    SUPERSEDED = "superseded", "Superseded by a later change"


class ReferenceImport(models.Model):
    """One CSV file of partner_reference values a person confirmed after its preview.

    Written once by meters.reference_imports when the confirmation claims the upload (the
    upload's token is unique, so a file is applied at most once), then given its counts.
    Its changes (`changes`) carry the push states.
    """

    token = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    rows = models.PositiveIntegerField(default=0)
    pushed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    # The first skipped rows at confirmation: [line, meter_id, reason].
    skipped_rows = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.at:%Y-%m-%d %H:%M})" if self.at else self.name


class PartnerReferenceChange(models.Model):
    """One partner_reference value a person set, and whether it reached Leap: the audit trail.

    Written by meters.services (the change) and by the push task (its outcome).
    """

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="reference_changes")
    # The CSV file it came from, when set in bulk from one (the import's progress panel).
    batch = models.ForeignKey(
        ReferenceImport,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="changes",
    )
    old = models.CharField(max_length=256, blank=True)
    new = models.CharField(max_length=256)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set instead of `by` when an API token made the change (its name); the push's event
    # carries it on.
    token_name = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(auto_now_add=True)
    push_status = models.CharField(max_length=16, choices=PushStatus, default=PushStatus.PENDING)
    pushed_at = models.DateTimeField(null=True, blank=True)  # when Leap accepted it
    confirmed_at = models.DateTimeField(null=True, blank=True)  # when a sync read it back
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    leap_answer = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    OPEN_STATUSES = (
        PushStatus.PENDING,
        PushStatus.ACCEPTED,
        PushStatus.NOT_APPLIED,
        PushStatus.REFUSED,
        PushStatus.NOT_SENT,
    )
    # Sent and accepted: the next sync that reads the meter from Leap judges them.
    AWAITING_CONFIRMATION = (PushStatus.ACCEPTED, PushStatus.NOT_APPLIED)
    PROBLEM_STATUSES = (PushStatus.REFUSED, PushStatus.NOT_SENT, PushStatus.NOT_APPLIED)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The unconfirmed-changes list (open statuses, newest first) and the sync's look-up
            # of the changes awaiting confirmation.
            models.Index(fields=["push_status", "-at"], name="refchange_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.old or '—'} → {self.new}"

    @property
    def made_by(self) -> str:
        """Who made it, for display: a person's username, or the API token's name."""
        if self.token_name:
            return f"API: {self.token_name}"
        return self.by.get_username() if self.by else ""

    @property
    def is_open(self) -> bool:
        """Not confirmed by Leap yet and not replaced: the page shows both values."""
        return self.push_status in self.OPEN_STATUSES

    @property
    def needs_attention(self) -> bool:
        """Leap refused it, it was not sent, or Leap did not apply it: someone should look."""
        return self.push_status in self.PROBLEM_STATUSES
