"""The API's writes, through the same code as the pages': the site import and the
partner_reference service. Requests never call Leap: the push is queued, as the UI's is."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError

from leapsync.api.models import ApiToken
from meters.candidates import SCORE_ALL_TASK, queue_scoring
from meters.imports import import_records
from meters.models import Meter, PartnerReferenceChange
from meters.services import Integration, ReferenceRefused, map_by_site_references
from meters.services import set_partner_reference as set_partner_reference_service

# Sites per call: a call is one transaction and its body is read whole (and, like every
# request's, at most DATA_UPLOAD_MAX_MEMORY_SIZE: 2.5 MB, about 8,000 full sites); more go in
# pages.
MAX_SITES = 5_000


def upsert_sites(data: Any, token: ApiToken, *, dry_run: bool) -> dict[str, Any]:
    """Import `data["sites"]` as a CSV import imports rows, then map meters by reference (as
    the import does, once the import's transaction has committed), and queue the scoring of
    candidates when a site was created or changed."""
    records = data.get("sites") if isinstance(data, dict) else None
    if not isinstance(records, list) or not records:
        raise ValidationError({"sites": ["A non-empty list of site objects is required."]})
    if len(records) > MAX_SITES:
        raise ValidationError({"sites": [f"At most {MAX_SITES} sites per call; send pages."]})
    wrong = [str(i) for i, record in enumerate(records) if not isinstance(record, dict)]
    if wrong:
        raise ValidationError({"sites": {i: ["A site is a JSON object."] for i in wrong[:50]}})
    report = import_records(records, dry_run=dry_run)
    mapped = 0
    if not dry_run:
        # Only this call's sites can map a meter now (the import maps every unmapped meter: a
        # scan that, repeated for each page of a large upsert, would cost more than the writes).
        external_ids = [r["external_id"] for r in records if isinstance(r.get("external_id"), str)]
        mapped = map_by_site_references(
            (external_id.strip() for external_id in external_ids), actor=Integration(token.name)
        )
        if report.created or report.updated:
            queue_scoring(SCORE_ALL_TASK)
    return {
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "mapped": mapped,
        "error_count": report.error_count,
        "errors": [{"index": index, "detail": reason} for index, reason in report.errors],
        "ignored_fields": report.ignored_columns,
    }


def set_reference(meter: Meter, value: str, token: ApiToken) -> PartnerReferenceChange | None:
    """The UI's service, with the token as the actor; a refusal is a 400 on the field."""
    try:
        return set_partner_reference_service(meter, value, actor=Integration(token.name))
    except ReferenceRefused as refused:
        raise ValidationError({"partner_reference": [str(refused)]}) from None


def reference_push(change: PartnerReferenceChange | None) -> dict[str, Any] | None:
    if change is None:
        return None
    return {
        "new": change.new,
        "push_status": change.push_status,
        "at": change.at,
        "made_by": change.made_by,
    }
