"""Figures benchmark: the dashboard's whole-inventory figures computed cold, function by function.

On a database `bench_pages.py` filled (say with `--scale-from`, 1,000,000 meters), each function
of leapsync.dashboard.figures that `inventory_figures` calls is run in turn, in one transaction
with the figures task's settings (one core, work_mem: leapsync.dashboard.store), then the whole
dashboard set is computed as the task computes it when none is stored (`store.refresh`). Per
step it prints the wall time, this process's CPU time and the time spent in the database's
execute calls (Django's execute wrapper; rows a server-side cursor fetches later count in the
wall time only). On a shared machine the wall time follows the load; the CPU and SQL columns
say where it went.

Usage: python scripts/bench_figures.py --database-url URL [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    _setup_django(args.database_url)
    print(f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    runs: dict[str, list[tuple[float, float, float, int]]] = {}
    for _ in range(args.repeat):
        for label, step in _steps():
            runs.setdefault(label, []).append(_timed(step))
    print(f"{'step':<22} {'wall':>8} {'CPU':>8} {'SQL':>8}  queries  (medians of {args.repeat})")
    for label, samples in runs.items():
        wall, cpu, sql = (statistics.median(s[i] for s in samples) for i in range(3))
        print(f"{label:<22} {wall:6.0f} ms {cpu:6.0f} ms {sql:6.0f} ms  {samples[0][3]}")
    print(f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


def _setup_django(url: str) -> None:
    import django

    os.environ["DATABASE_URL"] = url
    os.environ.setdefault(
        "SECRET_KEY", "bench-only-secret-key-not-used-for-anything-else-0123456789"
    )
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapsync.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()


def _steps() -> list[tuple[str, Callable[[], object]]]:
    from django.utils import timezone

    from leapsync.dashboard import figures

    now = timezone.now()
    return [
        ("status_figures", lambda: _as_task(lambda: figures.status_figures(now))),
        ("readiness_figures", lambda: _as_task(figures.readiness_figures)),
        ("action_figures", lambda: _as_task(figures.action_figures)),
        ("next_deadlines", lambda: _as_task(lambda: figures.next_deadlines(now))),
        ("market_group_alerts", lambda: _as_task(lambda: figures.market_group_alerts(now))),
        ("the task, cold", _cold_task),
    ]


def _as_task(compute: Callable[[], object]) -> object:
    """`compute` in a transaction with the settings the figures task sets (store._store)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            cursor.execute("SET LOCAL work_mem = '64MB'")
        return compute()


def _cold_task() -> object:
    from leapsync.dashboard import store
    from leapsync.dashboard.models import FigureSet

    FigureSet.objects.filter(name=store.DASHBOARD).delete()
    return store.refresh([store.DASHBOARD])


def _timed(step: Callable[[], object]) -> tuple[float, float, float, int]:
    """Milliseconds of wall, CPU and database time, and the number of queries."""
    from django.db import connection

    sql = [0.0, 0]

    def wrapper(execute, query, params, many, context):
        started = time.perf_counter()
        try:
            return execute(query, params, many, context)
        finally:
            sql[0] += time.perf_counter() - started
            sql[1] += 1

    with connection.execute_wrapper(wrapper):
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall * 1000, cpu * 1000, sql[0] * 1000, int(sql[1])


if __name__ == "__main__":
    main()
