"""Webhook receiver benchmark: a burst of Leap deliveries against leapsync served by gunicorn.

Starts leapsync under gunicorn on a fresh database (SQLite in a temporary directory, or
--database-url), then POSTs --events deliveries (Leap's envelope, our secret header) for
--meters distinct meters, from --concurrency client threads, and measures each answer's latency.
No django-q2 worker runs, so the figures are the endpoint alone; afterwards it counts the
refreshes the burst queued (the coalescing: one, however many events). Prints a Markdown table.

Usage: python scripts/bench_webhooks.py [--events 1000] [--meters 50] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import msgspec
from benchlib import ROOT, free_port, manage, manage_output

SECRET = "bench-secret"


def main() -> None:
    args = _arguments()
    with tempfile.TemporaryDirectory() as data_dir:
        env = _environment(args, data_dir)
        manage(env, "migrate", "--noinput", "-v", "0")
        port = free_port()
        web = _start_gunicorn(env, port, args.workers)
        try:
            latencies, statuses, wall = _burst(f"http://127.0.0.1:{port}", args)
        finally:
            web.terminate()
            web.wait(timeout=30)
        refreshes = manage_output(env, "shell", "-c", _COUNT_REFRESHES).strip()
    _report(args, latencies, statuses, wall, refreshes)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--meters", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--database-url", default="")
    return parser.parse_args()


def _environment(args: argparse.Namespace, data_dir: str) -> dict[str, str]:
    env = {"DEBUG": "1", **os.environ, "DATA_DIR": data_dir, "LEAP_WEBHOOK_SECRET": SECRET}
    env["LOG_LEVEL"] = "WARNING"
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    return env


def _start_gunicorn(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "leapsync.wsgi",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not start")


def _burst(base: str, args: argparse.Namespace) -> tuple[list[float], dict[int, int], float]:
    meters = [str(uuid.uuid4()) for _ in range(args.meters)]
    bodies = [
        msgspec.json.encode(
            {
                "webhook_event_id": str(uuid.uuid4()),
                "payload": {
                    "webhook_event_type": "meter.enrollment.global-status.updated",
                    "meter_id": meters[i % len(meters)],
                    "transmission_region": "CAISO",
                    "global_enrollment_status": "ACTIVE",
                },
            }
        )
        for i in range(args.events)
    ]
    headers = {"x-leapsync-secret": SECRET, "content-type": "application/json"}
    url = f"{base}/webhooks/leap/"
    clients = [httpx.Client(timeout=10) for _ in range(args.concurrency)]

    def send(i: int) -> tuple[float, int]:
        began = time.perf_counter()
        status = clients[i % args.concurrency].post(url, content=bodies[i], headers=headers)
        return time.perf_counter() - began, status.status_code

    began = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(send, range(args.events)))
    wall = time.perf_counter() - began
    statuses: dict[int, int] = {}
    for _, status in results:
        statuses[status] = statuses.get(status, 0) + 1
    return [latency for latency, _ in results], statuses, wall


_COUNT_REFRESHES = (
    "from leapsync.webhooks.models import WebhookEvent, WebhookRefresh; "
    "print(WebhookRefresh.objects.count(), WebhookEvent.objects.count())"
)


def _report(args, latencies: list[float], statuses: dict[int, int], wall: float, counts: str):
    ms = sorted(latency * 1000 for latency in latencies)
    p95 = ms[int(len(ms) * 0.95) - 1]
    refreshes, stored = counts.strip().splitlines()[-1].split()
    database = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
    print(
        f"Date: {datetime.now(UTC):%Y-%m-%d}. Machine: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {database}, gunicorn {args.workers} workers, "
        f"DEBUG {os.environ.get('DEBUG', '1')}."
    )
    print()
    print(
        f"| measure | {args.events} events, {args.meters} meters, "
        f"{args.concurrency} client thread(s) |"
    )
    print("| --- | --- |")
    print(f"| answers | {', '.join(f'{n} x {s}' for s, n in sorted(statuses.items()))} |")
    print(f"| wall time | {wall:.2f} s ({args.events / wall:.0f} events/s) |")
    print(
        f"| latency p50 / p95 / max | {statistics.median(ms):.1f} / {p95:.1f} / {ms[-1]:.1f} ms |"
    )
    print(f"| events stored / refreshes queued | {stored} / {refreshes} |")  # fmt: skip


if __name__ == "__main__":
    main()
