"""Stages benchmark: where a first full load's time goes, stage by stage, against the ceiling.

Starts the simulator (warmed), measures the fetch-and-parse ceiling, then runs `leap_sync --full`
into an empty PostgreSQL database in a child process whose sync functions are wrapped with
timers: each stream's page applications (wall and CPU), the steps inside them (screening,
parsing, building rows, writes per table: each write's time includes PostgreSQL's work on it,
which the sync waits for), and the end of the run (indexes added back). Each process of the
sync (the streams run side by side) writes its timings to a file; this script adds them up.
The CPU of the whole machine during the load is split into the sync's processes, the simulator
and the rest (PostgreSQL, on an otherwise quiet machine).

Nothing here changes what the sync does; the wrappers cost a few microseconds per call.

Usage: python scripts/bench_stages.py [--meters 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import benchlib
from benchlib import ROOT

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/leapsync_bench_stages"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--child", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child))
        return
    port = benchlib.free_port()
    env = benchlib.sync_environment(args.database_url, port) | {
        "LEAP_PAGE_SIZE": str(args.page_size)
    }
    print(f"Machine: {benchlib.machine_line()}")
    with benchlib.running_simulator(env, port=port, meters=args.meters, seed=args.seed) as sim:
        base = f"http://127.0.0.1:{port}"
        benchlib.control(base, "warm", {})
        ceiling = benchlib.ceiling(base, args.page_size)
        benchlib.recreate_database(args.database_url)
        benchlib.manage(env, "migrate", "-v", "0")
        with tempfile.TemporaryDirectory(prefix="leapsync-stages-") as folder:
            machine, simulator = _machine_cpu(), benchlib.process_cpu(sim.pid)
            sync_cpu, started = benchlib.children_cpu(), time.monotonic()
            command = [sys.executable, str(Path(__file__).resolve()), "--child", folder]
            subprocess.run(command, cwd=ROOT, env=env, check=True)
            seconds = time.monotonic() - started
            sync_cpu = benchlib.children_cpu() - sync_cpu
            simulator = benchlib.process_cpu(sim.pid) - simulator
            machine = _machine_cpu() - machine
            stages = _added_up(Path(folder))
    _report(args.meters, ceiling["seconds"], seconds, sync_cpu, simulator, machine, stages)


def _machine_cpu() -> float:
    """CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = stat.readline().split()[1:8]
    user, nice, system, _idle, _iowait, irq, softirq = (int(value) for value in fields)
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _added_up(folder: Path) -> dict[str, list[float]]:
    total: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for path in folder.glob("*.json"):
        for name, (seconds, calls) in json.loads(path.read_text()).items():
            total[name][0] += seconds
            total[name][1] += calls
    return total


def _report(meters, ceiling, seconds, sync_cpu, simulator, machine, stages) -> None:
    print(
        f"\nfirst load of {meters:,} meters: {seconds:.1f} s against a ceiling of {ceiling:.1f} s"
        f" ({seconds / ceiling:.1f}x)"
    )
    print(
        f"CPU during the load: machine {machine:.1f} s = sync processes {sync_cpu:.1f} s"
        f" + simulator {simulator:.1f} s + the rest (PostgreSQL) {machine - sync_cpu - simulator:.1f} s"
    )
    print("\n| stage (summed over both streams' processes) | seconds | calls |")
    print("| --- | ---: | ---: |")
    for name, (spent, calls) in sorted(stages.items(), key=lambda item: -item[1][0]):
        print(f"| {name} | {spent:.2f} | {calls:.0f} |")


# --- in the child: the sync with its stages timed ---------------------------------------------


def _child(folder: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapsync.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    timings: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])

    def save() -> None:
        # Per process (the streams' processes are forked): each keeps its own file up to date,
        # since a forked child ends without running this process's exit handlers.
        (folder / f"{os.getpid()}.json").write_text(json.dumps(timings))

    def timed(label: Callable[..., str] | str, function: Callable, clock=time.perf_counter):
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return function(*args, **kwargs)
            finally:
                name = label(*args, **kwargs) if callable(label) else label
                timings[name][0] += clock() - started
                timings[name][1] += 1

        return wrapper

    def saved_after(function: Callable) -> Callable:
        """Save the timings after each call of a page-level step (not per record)."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            finally:
                save()

        return wrapper

    _wrap_stages(timed, saved_after)
    call_command("leap_sync", "--full", verbosity=0)


def _wrap_stages(timed: Callable, saved_after: Callable) -> None:
    from leapsync import sync as engine
    from leapsync.lib import bulk
    from leapsync.sync import details, enrollments, indexes

    def written(model, rows, **options) -> str:
        how = "upsert" if options.get("conflict") or options.get("report") else "insert"
        return f"write {model.__name__} ({how})"

    bulk.write = timed(written, bulk.write)
    bulk.allocate_ids = timed("allocate keys (ProgramEnrollment)", bulk.allocate_ids)
    for module in (details, enrollments):
        stream = module.__name__.rsplit(".", 1)[1]
        for name in ("incoming", "screen", "parse_all", "load_meters", "upsert_meters"):
            setattr(module, name, timed(f"{stream}: {name}", getattr(module, name)))
        for name in ("identifier_values", "map_by_reference", "details_values", "judge_accepted"):
            if hasattr(module, name):
                setattr(module, name, timed(f"{stream}: {name}", getattr(module, name)))
    enrollments._write_children = timed(
        "enrollments: child rows (diff and writes)", enrollments._write_children
    )
    indexes.rebuild = saved_after(
        timed(lambda stream: f"{stream}: indexes added back", indexes.rebuild)
    )
    for stream, apply in list(engine._APPLY.items()):
        engine._APPLY[stream] = saved_after(
            timed(
                f"{stream}: pages applied, CPU",
                timed(f"{stream}: pages applied", apply),
                time.process_time,
            )
        )


if __name__ == "__main__":
    main()
