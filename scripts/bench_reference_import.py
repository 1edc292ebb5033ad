"""partner_reference CSV benchmark: previewing (and confirming) a 10,000-row file.

In a fresh database (SQLite in a temporary directory by default, or DATABASE_URL) it creates an
inventory of meters, writes a `meter_id,partner_reference` file of --rows rows (about 60%
changed, 30% new, 5% unchanged, 2% invalid, 2% unknown meters, 1% listed twice, and every 50th
value shared with a meter outside the file), then times `preview_references` (what the preview
page runs, on upload and on display) and the confirmation (`apply_references`: every new and
changed row recorded through the single edit's service; the pushes' django-q2 tasks are queued
for real, into the ORM broker, unless --no-queue).

Usage: python scripts/bench_reference_import.py [--rows 10000] [--inventory 100000] [--no-queue]
"""

from __future__ import annotations

import argparse
import csv
import time
import uuid

from benchlib import setup_django_in_scratch_directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--inventory", type=int, default=100_000)
    parser.add_argument("--no-queue", action="store_true", help="do not queue the push tasks")
    args = parser.parse_args()
    work = setup_django_in_scratch_directory("bench-refs-")
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from meters import services
    from meters.models import Meter
    from meters.reference_imports import apply_references, claim_import, preview_references

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    meters = Meter.objects.bulk_create(
        (
            Meter(meter_id=uuid.uuid4(), partner_reference="" if n % 3 == 0 else f"OLD-{n:07d}")
            for n in range(args.inventory)
        ),
        batch_size=5000,
    )
    print(f"{args.inventory:,} meters created in {time.perf_counter() - started:.1f} s")
    path = work / "references.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["meter_id", "partner_reference", "note"])
        for n, meter in enumerate(meters[: args.rows]):
            value = f"NEW-{n:07d}"
            if n % 20 == 1:
                value = meter.partner_reference or "SAME"  # unchanged (or new)
            elif n % 50 == 2:
                value = "bad/value?"
            elif n % 50 == 3:
                value = meters[-1 - n].partner_reference or value  # shared with one outside
            meter_id = str(uuid.uuid4()) if n % 50 == 4 else str(meter.meter_id)
            writer.writerow([meter_id, value, "from the partner's CRM"])
            if n % 100 == 5:
                writer.writerow([meter_id, value + "-again", ""])
    size = path.stat().st_size / 1e6
    print(f"file: {args.rows:,} rows (+1% repeated), {size:.1f} MB; {connection.vendor}")

    for attempt in (1, 2, 3):
        with CaptureQueriesContext(connection) as queries, path.open("rb") as stream:
            started = time.perf_counter()
            preview = preview_references(stream)
            elapsed = time.perf_counter() - started
        print(
            f"preview {attempt}: {elapsed:.2f} s, {len(queries.captured_queries)} queries; "
            f"{preview.counts}, {len(preview.shared)} shared"
        )

    if args.no_queue:
        services.async_task = lambda *a, **k: None  # type: ignore[assignment]
    user = get_user_model().objects.create_user("bench")
    record = claim_import("bench", name=path.name, sha256="-", actor=user)
    assert record is not None
    with path.open("rb") as stream:
        started = time.perf_counter()
        apply_references(stream, preview.seen(), record=record, actor=user)
        elapsed = time.perf_counter() - started
    queued = "not queued" if args.no_queue else "queued in the ORM broker"
    print(
        f"confirm: {elapsed:.2f} s; {record.pushed:,} changes recorded, {record.skipped} "
        f"skipped; pushes {queued}"
    )


if __name__ == "__main__":
    main()
