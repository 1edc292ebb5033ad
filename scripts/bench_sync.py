"""Sync benchmark: the simulator as a separate HTTP server, leapsync syncing into PostgreSQL.

Measures, side by side on one machine:
  * the ceiling: every page of both search endpoints fetched and JSON-parsed, no database;
  * a full sync of N meters, both streams (wall time, meters/s, peak RSS of the sync process);
  * an incremental sync after mutate(0.01);
  * a full re-run with nothing changed.
Results are appended to docs/benchmarks.md with the machine and the date.

Usage: python scripts/bench_sync.py [--meters 100000] [--database-url postgres://...]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"


def main() -> None:
    args = _arguments()
    env = _environment(args)
    _recreate_database(args.database_url)
    _manage(env, "migrate", "--noinput", "-v", "0")
    simulator = _start_simulator(args, env)
    try:
        base = f"http://127.0.0.1:{args.port}"
        _control(base, "warm", {})  # the simulator renders lazily: the ceiling is a cached pass
        results = {"ceiling": _ceiling(base, args.page_size)}
        results["full"] = _timed_sync(env, "--full")
        _control(base, "mutate", {"fraction": 0.01, "seed": 42})
        results["incremental"] = _timed_sync(env, "--incremental")
        results["rerun"] = _timed_sync(env, "--full")
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)
    _report(args, results)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leapsync_bench"
        ),
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    if args.port == 0:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            args.port = probe.getsockname()[1]
    return args


def _environment(args: argparse.Namespace) -> dict[str, str]:
    # DEBUG off, as in production (with DEBUG on Django records every query).
    return {
        **{k: v for k, v in os.environ.items() if k != "DEBUG"},
        "SECRET_KEY": "bench-only-secret-key-not-used-for-anything-else-0123456789",
        "ALLOWED_HOSTS": "localhost",
        "DATABASE_URL": args.database_url,
        "LEAP_BASE_URL": f"http://127.0.0.1:{args.port}",
        "LEAP_API_KEY": API_KEY,
        "LEAP_PAGE_SIZE": str(args.page_size),
        "LOG_LEVEL": "WARNING",
    }


def _recreate_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    host = url.split("@", 1)[1].split("/", 1)[0].split(":")[0]
    subprocess.run(["dropdb", "-h", host, "-U", "postgres", "--if-exists", name], check=True)
    subprocess.run(["createdb", "-h", host, "-U", "postgres", name], check=True)


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def _start_simulator(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen:
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "leap_simulator",
            "--meters",
            str(args.meters),
            "--seed",
            str(args.seed),
            "--port",
            str(args.port),
            "--api-key",
            API_KEY,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while time.monotonic() - started < 300:
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=1).close()
            print(f"simulator up after {time.monotonic() - started:.1f} s")
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the simulator did not start within 5 minutes")


def _ceiling(base: str, page_size: int) -> dict[str, float]:
    """Fetch and JSON-parse every page of both endpoints: what any sync must at least spend."""
    started, meters, pages = time.monotonic(), 0, 0
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
    ) as http:
        for path in ("/v2/meters/search", "/v2/meters/enrollments/search"):
            body: dict = {"page_size": page_size}
            while True:
                page = msgspec.json.decode(
                    http.post(path, content=msgspec.json.encode(body)).content
                )
                meters, pages = meters + len(page["meters"]), pages + 1
                if not page.get("next_page_token"):
                    break
                body["page_token"] = page["next_page_token"]
    seconds = time.monotonic() - started
    print(f"ceiling: {pages} pages, {meters} records in {seconds:.1f} s")
    return {"seconds": seconds, "records": meters, "pages": pages}


# Runs manage.py in this interpreter and reports the peak RSS of the sync when it ends: its
# own, or that of the larger stream process when the streams ran side by side (forked).
_MEASURED = (
    "import resource, runpy, sys\n"
    "sys.argv = ['manage.py', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_path('manage.py', run_name='__main__')\n"
    "finally:\n"
    "    kb = max(resource.getrusage(who).ru_maxrss\n"
    "             for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n"
    "    print(f'PEAK_RSS_KB {kb}', file=sys.stderr)\n"
)


def _timed_sync(env: dict[str, str], mode: str) -> dict[str, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED, "leap_sync", mode],
        cwd=ROOT,
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.monotonic() - started
    peak_kb = int(result.stderr.rsplit("PEAK_RSS_KB ", 1)[1].split()[0])
    print(f"leap_sync {mode}: {seconds:.1f} s, peak RSS {peak_kb / 1024:.0f} MB")
    return {"seconds": seconds, "peak_mb": peak_kb / 1024}


def _control(base: str, action: str, payload: dict) -> None:
    response = httpx.post(
        f"{base}/_simulator/{action}",
        json=payload,
        timeout=3600,  # warm renders every meter: minutes at 1,000,000
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    response.raise_for_status()


def _report(args: argparse.Namespace, results: dict[str, dict[str, float]]) -> None:
    meters = args.meters
    ceiling = results["ceiling"]

    def row(label: str, result: dict[str, float], count: int | None) -> str:
        rate = f"{count / result['seconds']:,.0f}" if count else "—"
        return f"| {label} | {result['seconds']:.1f} s | {rate} | {result['peak_mb']:.0f} MB |"

    machine = (
        f"{os.cpu_count()} cores, {_memory_gib():.0f} GiB, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )
    ceiling_row = (
        "| ceiling: fetch + JSON-parse every page of both endpoints, no database "
        f"| {ceiling['seconds']:.1f} s | {2 * meters / ceiling['seconds']:,.0f} records/s | — |"
    )
    lines = [
        f"\n## Sync, {meters:,} meters ({datetime.now(UTC):%Y-%m-%d})\n",
        f"Machine: {machine}; simulator, sync and PostgreSQL on the same machine.",
        f"Command: `python scripts/bench_sync.py --meters {meters}` (page size {args.page_size}).\n",
        "| what | wall time | meters/s | peak RSS (largest sync process) |",
        "| --- | --- | --- | --- |",
        ceiling_row,
        row("full sync, both streams, empty database", results["full"], meters),
        row("incremental after mutate(0.01)", results["incremental"], None),
        row("full re-run, nothing changed", results["rerun"], meters),
        "",
        "Wall times include starting Django for each `leap_sync` (about 1 s).",
    ]
    with open(args.output, "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def _memory_gib() -> float:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        return int(meminfo.readline().split()[1]) / 1024 / 1024


if __name__ == "__main__":
    main()
