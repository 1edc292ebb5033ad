"""Schema drift benchmark: the sync when every JSON object carries a field it does not know.

Leap adds fields; the sync must stay within 20% of its time without them. Both variants are
measured on the same meters in one run, alternately (so a machine slowing down in the middle
weighs on both), and the ratio is written to docs/benchmarks.md beside the ceiling:

  * default: full syncs into an empty PostgreSQL database from the simulator over HTTP, the
    simulator's drift switched off and on through its control route (`drift`, then `warm`, so
    that both variants are served from its cache), with the CPU time of the sync processes
    and the ceiling (fetch and JSON-parse every page) each way as yardsticks;
  * --parse: the sync's work on each page before the database (page decode, screening digests,
    record decode, parsing, the run's warnings), in this process, on pages the in-process
    simulator built, the field added to every object as `tests/leapsync/drift.py` adds it.

Usage: python scripts/bench_drift.py [--parse] [--meters N] [--rounds 2] [--database-url URL]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
from benchlib import (
    API_KEY,
    ROOT,
    ceiling,
    children_cpu,
    control,
    free_port,
    machine_line,
    manage,
    manage_output,
    process_cpu,
    recreate_database,
    running_simulator,
    sync_environment,
    timed_sync,
)

sys.path.insert(0, str(ROOT))  # the parse layer imports leapsync and tests in this process

TARGET = 1.20  # drift's time over the time without, at most (issue #20)
VARIANTS = ("without", "drift")


def main() -> None:
    args = _arguments()
    load = os.getloadavg()
    results = _parse_layer(args) if args.parse else _full_syncs(args)
    results["load"] = (load, os.getloadavg())
    _report(args, results)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parse", action="store_true", help="the parse layer alone, in-process")
    parser.add_argument("--meters", type=int, help="default 100,000; 10,000 with --parse")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each variant")
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
    args.meters = args.meters or (10_000 if args.parse else 100_000)
    args.port = args.port or free_port()
    return args


def _alternately(rounds: int) -> Iterator[str]:
    """without, drift, drift, without, ...: each variant as often first as second."""
    for number in range(rounds):
        yield from VARIANTS if number % 2 == 0 else reversed(VARIANTS)


# --- whole syncs against PostgreSQL ---------------------------------------------------------------


def _full_syncs(args: argparse.Namespace) -> dict[str, Any]:
    env = {
        **sync_environment(args.database_url, args.port),
        "LEAP_PAGE_SIZE": str(args.page_size),
    }
    base = f"http://127.0.0.1:{args.port}"
    wall, cpu, served, fetched = ({variant: [] for variant in VARIANTS} for _ in range(4))
    results: dict[str, Any] = {}
    with running_simulator(env, port=args.port, meters=args.meters, seed=args.seed) as simulator:
        # The machine's first sync after a while runs slower (caches, PostgreSQL's included):
        # one uncounted, so that it weighs on neither variant.
        recreate_database(args.database_url)
        manage(env, "migrate", "--noinput", "-v", "0")
        print("warm-up full sync:", end=" ", flush=True)
        timed_sync(env, "--full")
        for variant in _alternately(args.rounds):
            control(base, "drift", {"drift": variant == "drift"})
            # Switching drops the simulator's rendered JSON: render it again before timing, so
            # that both variants are served from its cache (Leap's work is not the sync's).
            control(base, "warm", {})
            fetched[variant].append(ceiling(base, args.page_size)["seconds"])
            recreate_database(args.database_url)
            manage(env, "migrate", "--noinput", "-v", "0")
            print(f"full sync, {variant}:", end=" ", flush=True)
            used, serving = children_cpu(), process_cpu(simulator.pid)
            wall[variant].append(timed_sync(env, "--full")["seconds"])
            cpu[variant].append(children_cpu() - used)
            served[variant].append(process_cpu(simulator.pid) - serving)
            if variant == "drift":
                results["warnings"] = _latest_warnings(env)
    # CPU time as a second yardstick: wall time on a shared machine varies from run to run.
    results["measures"] = {
        "full sync, both streams, empty database: wall time": wall,
        "the same: CPU time of the sync processes (PostgreSQL's not counted)": cpu,
        "the same: CPU time of the simulator serving it (Leap's work, on the same cores)": served,
        "ceiling: fetch + JSON-parse every page of both endpoints, no database": fetched,
    }
    return results


_WARNINGS = (
    "import json\n"
    "from leapsync.models import SyncRun\n"
    "runs = SyncRun.objects.filter(mode='full').order_by('-pk')[:2]\n"
    "print(json.dumps({r.stream: [r.warnings_count, r.warnings] for r in runs}))\n"
)


def _latest_warnings(env: dict[str, str]) -> dict[str, Any]:
    """Each stream's last full run: its warnings count and warnings."""
    output = manage_output(env, "shell", "-c", _WARNINGS)
    return json.loads(output.strip().splitlines()[-1])


# --- the parse layer alone, in this process -------------------------------------------------------


def _parse_layer(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapsync.settings")
    os.environ.setdefault("DEBUG", "1")  # settings without a production SECRET_KEY; no query runs
    import django

    django.setup()
    from leapsync.leap.payloads import parse_meter_details, parse_meter_enrollment
    from leapsync.simulator import LeapSimulator

    simulator = LeapSimulator(meters=args.meters, seed=args.seed, api_key=API_KEY)
    streams = {
        "details": ("/v2/meters/search", parse_meter_details),
        "enrollments": ("/v2/meters/enrollments/search", parse_meter_enrollment),
    }
    seconds: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    results: dict[str, Any] = {"warnings": {}}
    pages = {
        stream: _pages(simulator, path, args.page_size) for stream, (path, _) in streams.items()
    }
    for variant in _alternately(args.rounds):
        total = 0.0
        for stream, (_, parse) in streams.items():
            elapsed, stats = _sync_pages(pages[stream][variant], parse, stream)
            total += elapsed
            if variant == "drift":
                results["warnings"][stream] = [len(stats.warnings), dict(stats.warnings)]
        print(f"parse layer, {variant}: {total:.2f} s of CPU")
        seconds[variant].append(total)
    results["measures"] = {"parse layer, both streams: CPU time": seconds}
    return results


def _pages(simulator: Any, path: str, page_size: int) -> dict[str, list[bytes]]:
    """Every page of one search as the API sends it, without and with the field added."""
    from tests.leapsync.drift import with_drift

    bodies: dict[str, list[bytes]] = {variant: [] for variant in VARIANTS}
    request: dict[str, Any] = {"page_size": page_size}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(transport=simulator.transport(), base_url="http://leap.test") as http:
        while True:
            body = http.post(path, content=msgspec.json.encode(request), headers=headers).content
            page = msgspec.json.decode(body)
            bodies["without"].append(body)
            drifted = page | {"meters": [with_drift(meter) for meter in page["meters"]]}
            bodies["drift"].append(msgspec.json.encode(drifted))
            if not page.get("next_page_token"):
                return bodies
            request["page_token"] = page["next_page_token"]


def _sync_pages(bodies: list[bytes], parse: Callable[[Any], Any], stream: str) -> tuple[float, Any]:
    """CPU seconds for what a first full sync does to these pages before writing them."""
    from leapsync.leap.client import LeapClient
    from leapsync.models import SyncRun
    from leapsync.sync.common import PageContext, RunStats, incoming, parse_all, screen

    replies = iter(bodies)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=next(replies)))
    client = LeapClient("http://leap.test", API_KEY, transport=transport)
    stats = RunStats()
    context = PageContext(run=SyncRun(stream=stream), stats=stats, now=datetime.now(UTC))
    gc.collect()
    began = time.process_time()
    for page in client.search_meter_details(raw=True):  # the path is not read: replies in order
        _, changed = screen(incoming(page.meters), lambda meter_id: None, context)
        parse_all(changed, parse, context)
    elapsed = time.process_time() - began
    client.close()
    return elapsed, stats


# --- the report -----------------------------------------------------------------------------------


def _report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Append the table; the target applies to the first measure."""
    what = "the parse layer" if args.parse else "full sync"
    warm_up = " after one uncounted full sync"
    command = f"python scripts/bench_drift.py{' --parse' if args.parse else ''}"
    began, ended = (", ".join(f"{figure:.1f}" for figure in load) for load in results["load"])
    lines = [
        f"\n## Schema drift, {what}, {args.meters:,} meters ({datetime.now(UTC):%Y-%m-%d})\n",
        f"Machine: {machine_line()}; load average (1, 5, 15 min) {began} at the start, {ended} at the end.",
        f"Command: `{command} --meters {args.meters} --rounds {args.rounds}`.",
        (
            "Drift: one unknown field (`x_drift_note`) in the meter record and every object in "
            f"it, both endpoints; the variants alternate{'' if args.parse else warm_up}, medians "
            "of the rounds (each round in brackets).\n"
        ),
        "| what | without | with drift | drift / without |",
        "| --- | --- | --- | --- |",
    ]
    ratios = []
    for label, seconds in results["measures"].items():
        median = {variant: statistics.median(seconds[variant]) for variant in VARIANTS}
        ratios.append(median["drift"] / median["without"])
        rounds = {variant: ", ".join(map(_seconds, seconds[variant])) for variant in VARIANTS}
        lines.append(
            f"| {label} | {_seconds(median['without'])} s ({rounds['without']}) "
            f"| {_seconds(median['drift'])} s ({rounds['drift']}) | **{ratios[-1]:.2f}** |"
        )
    verdict = "within" if ratios[0] <= TARGET else "over"
    lines += [
        "",
        (
            f"Target: at most {TARGET:.2f}; {verdict} it. Warnings of the drift run, per stream "
            "(one entry per field, counting the meters that carried it):"
        ),
        "",
    ]
    for stream, (count, warnings) in sorted(results.get("warnings", {}).items()):
        top = sorted(warnings.items(), key=lambda item: (-item[1], item[0]))
        listed = "; ".join(f"`{message}` × {times:,}" for message, times in top)
        lines.append(f"- {stream}: {count} warnings: {listed}")
    with open(args.output, "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def _seconds(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


if __name__ == "__main__":
    main()
