"""Site import benchmark: a 100,000-row CSV through `meters.imports.import_sites`.

Writes a realistic CSV (every column filled, 1% bad rows), then in a fresh database (SQLite in a
temporary directory by default, or DATABASE_URL) times three imports: the first (all new), the
same file again (nothing changes), and a file where 10% of the rows changed. Memory is measured
as the process's maximum resident set size (and, with --trace, tracemalloc's peak of Python
allocations, which slows the run), to show memory stays flat whatever the file's size.

Usage: python scripts/bench_import_sites.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import resource
import time
import tracemalloc
from pathlib import Path

from benchlib import setup_django_in_scratch_directory


def write_csv(path: Path, rows: int, changed_every: int = 0) -> None:
    """`rows` sites; every 100th row lacks its external_id; every `changed_every`th is renamed."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "external_id",
                "name",
                "street",
                "city",
                "state",
                "postal_code",
                "utility_name",
                "utility_account_number",
                "notes",
            ]
        )
        for n in range(rows):
            name = f"Customer {n}"
            if changed_every and n % changed_every == 0:
                name += " (renamed)"
            writer.writerow(
                [
                    "" if n % 100 == 99 else f"SITE-{n:07d}",
                    name,
                    f"{n % 9000 + 1} Main Street Apt {n % 40}",
                    "Fresno",
                    "CA",
                    f"{93600 + n % 400}",
                    "PGE",
                    f"ACC-{n:09d}",
                    "imported for the benchmark",
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--trace", action="store_true", help="also trace Python allocations (slows the run 2-4x)"
    )
    args = parser.parse_args()
    work = setup_django_in_scratch_directory("bench-import-")
    from django.core.management import call_command
    from django.db import connection

    from meters.imports import import_sites

    call_command("migrate", verbosity=0)
    first, changed = work / "sites.csv", work / "sites-changed.csv"
    write_csv(first, args.rows)
    write_csv(changed, args.rows, changed_every=10)
    size_mb = first.stat().st_size / 1e6
    print(f"{args.rows} rows, {size_mb:.1f} MB, database {connection.vendor}")
    for label, path in (
        ("first import", first),
        ("same file again", first),
        ("10% changed", changed),
    ):
        if args.trace:
            tracemalloc.start()
        started = time.perf_counter()
        with path.open("rb") as stream:
            report = import_sites(stream)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 1e6 if args.trace else 0.0
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        traced = f"Python peak {peak:.1f} MB; " if args.trace else ""
        print(
            f"{label}: {elapsed:.1f} s ({args.rows / elapsed:,.0f} rows/s); {report.summary()}; "
            f"{traced}max RSS {rss:.0f} MB"
        )


if __name__ == "__main__":
    main()
