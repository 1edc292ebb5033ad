"""Site upsert through the API: 100,000 sites in calls of 5,000 (`POST /api/v1/sites/`).

In a fresh database (SQLite in a temporary directory by default, or DATABASE_URL) with
--meters meters whose partner_reference names one of the sites, times three rounds through
Django's test client (JSON parsing, token check, import, mapping, serialising the report): all
new (meters get mapped), the same sites again (nothing changes), 10% renamed. Each call is one
transaction: all or nothing per call.

Usage: python scripts/bench_api_sites.py [--sites 100000] [--per-call 5000] [--meters 20000]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import uuid

from benchlib import setup_django_in_scratch_directory


def sites(count: int, renamed_every: int = 0) -> list[dict[str, str]]:
    rows = []
    for n in range(count):
        name = f"Customer {n}" + (" (renamed)" if renamed_every and n % renamed_every == 0 else "")
        rows.append(
            {
                "external_id": f"SITE-{n:07d}",
                "name": name,
                "street": f"{n % 9000 + 1} Main Street Apt {n % 40}",
                "city": "Fresno",
                "state_or_province_code": "CA",
                "postal_code": f"{93600 + n % 400}",
                "utility_name": "PGE",
                "utility_account_number": f"ACC-{n:09d}",
                "notes": "sent by the benchmark",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100_000)
    parser.add_argument("--per-call", type=int, default=5_000)
    parser.add_argument("--meters", type=int, default=20_000)
    args = parser.parse_args()
    setup_django_in_scratch_directory("bench-api-sites-")
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from leapsync.api import tokens
    from meters.models import Meter

    settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"api_token": "100000/min"}
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    step = max(1, args.sites // max(1, args.meters))
    Meter.objects.bulk_create(
        (
            Meter(meter_id=uuid.uuid4(), partner_reference=f"SITE-{n:07d}")
            for n in range(0, args.sites, step)
        ),
        batch_size=5000,
    )
    _, secret = tokens.issue("bench", ["write:sites"])
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    print(
        f"{args.sites} sites in calls of {args.per_call}, {Meter.objects.count()} meters, "
        f"{connection.vendor}"
    )
    for label, rows in (
        ("all new", sites(args.sites)),
        ("same sites again", sites(args.sites)),
        ("10% renamed", sites(args.sites, renamed_every=10)),
    ):
        totals = {"created": 0, "updated": 0, "unchanged": 0, "mapped": 0}
        calls, started = [], time.perf_counter()
        for start in range(0, len(rows), args.per_call):
            body = json.dumps({"sites": rows[start : start + args.per_call]})
            began = time.perf_counter()
            response = client.post("/api/v1/sites/", body, content_type="application/json")
            calls.append(time.perf_counter() - began)
            assert response.status_code == 200, response.content[:500]
            for key in totals:
                totals[key] += response.json()[key]
        elapsed = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        print(
            f"{label}: {elapsed:.1f} s ({args.sites / elapsed:,.0f} sites/s; slowest call "
            f"{max(calls):.2f} s); {totals}; max RSS {rss:.0f} MB"
        )


if __name__ == "__main__":
    main()
