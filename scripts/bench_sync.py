"""Sync benchmark: the simulator as a separate HTTP server, leapsync syncing into PostgreSQL.

Measures, side by side on one machine:
  * the ceiling: every page of both search endpoints fetched and JSON-parsed, no database;
  * a full sync of N meters, both streams (wall time, meters/s, and the peak memory of all
    the sync's processes together);
  * an incremental sync after mutate(0.01);
  * a full re-run with nothing changed.
Results are appended to docs/benchmarks.md with the machine and the date.

With `--split-workers 1 2 4`, instead: the ceiling, the full sync in one piece (first load and
unchanged re-run), then for each worker count a django-q2 cluster (`qcluster`, Redis broker
at --redis-url, else the database) with that many workers and the same full sync split into
`--ranges` created-date ranges (`leap_sync --full --ranges K`), each on a fresh database. The
ceiling is measured again before each of them: the machine's speed drifts within the hour.

Usage: python scripts/bench_sync.py [--meters 100000] [--database-url postgres://...]
       python scripts/bench_sync.py --split-workers 1 2 4 [--ranges 4] [--redis-url redis://...]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchlib import (
    API_KEY,
    ROOT,
    TreeMemory,
    ceiling,
    children_cpu,
    control,
    free_port,
    machine_line,
    manage,
    process_cpu,
    recreate_database,
    running_simulator,
    sync_environment,
    timed_sync,
)


def main() -> None:
    args = _arguments()
    if args.split_workers:
        _split_benchmark(args)
        return
    env = _environment(args)
    recreate_database(args.database_url)
    manage(env, "migrate", "--noinput", "-v", "0")
    with running_simulator(env, port=args.port, meters=args.meters, seed=args.seed):
        base = f"http://127.0.0.1:{args.port}"
        control(base, "warm", {})  # the simulator renders lazily: the ceiling is a cached pass
        results = {"ceiling": ceiling(base, args.page_size)}
        results["full"] = timed_sync(env, "--full")
        control(base, "mutate", {"fraction": 0.01, "seed": 42})
        results["incremental"] = timed_sync(env, "--incremental")
        results["rerun"] = timed_sync(env, "--full")
    lines = _report(args, results)
    if args.dlt_meters:
        lines += _dlt_comparison(args, env)
    with open(args.output, "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def _dlt_comparison(args: argparse.Namespace, env: dict[str, str]) -> list[str]:
    """leapsync's first full load and dlt's REST API source, on the same simulator in turn."""
    meters = args.dlt_meters
    python = _dlt_python()
    dlt_database = args.database_url.rsplit("/", 1)[0] + "/leapsync_bench_dlt"
    recreate_database(args.database_url)
    manage(env, "migrate", "--noinput", "-v", "0")
    recreate_database(dlt_database)
    with running_simulator(env, port=args.port, meters=meters, seed=args.seed):
        base = f"http://127.0.0.1:{args.port}"
        control(base, "warm", {})  # as above: the ceiling and both loads read a cached pass
        ceiling_seconds = ceiling(base, args.page_size)["seconds"]
        leapsync = timed_sync(env, "--full")
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as pipelines:
            process = subprocess.Popen(
                [
                    python,
                    str(ROOT / "scripts" / "bench_dlt.py"),
                    base,
                    API_KEY,
                    str(args.page_size),
                    dlt_database.replace("postgres://", "postgresql://", 1),
                    pipelines,
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            memory = TreeMemory(process.pid)
            output, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"the dlt load failed (exit code {process.returncode})")
        dlt = {"seconds": time.monotonic() - started, **memory.stop()}
        phases = output.rsplit("DLT_SECONDS", 1)[1].split()[1:]
        print(f"dlt: {dlt['seconds']:.1f} s ({' '.join(phases)}), {dlt['pss_sum_mb']:.0f} MB")

    def row(label: str, result: dict[str, float]) -> str:
        return (
            f"| {label} | {result['seconds']:.1f} s | {result['seconds'] / ceiling_seconds:.1f}x "
            f"| {result['pss_sum_mb']:.0f} MB | {result['rss_sum_mb']:.0f} MB |"
        )

    named = dict(zip(phases[::2], phases[1::2], strict=True))
    return [
        f"\nBeside dlt {_dlt_version(python)} at {meters:,} meters, same simulator, same run:\n",
        "| what | wall time | x ceiling | peak memory (PSS, all processes) | same, RSS summed |",
        "| --- | --- | --- | --- | --- |",
        f"| ceiling: fetch + JSON-parse both endpoints | {ceiling_seconds:.1f} s | 1.0x | — | — |",
        row("leapsync: first full load, both streams", leapsync),
        row(
            f"dlt REST API source (extract {named.get('extract')} s, normalize "
            f"{named.get('normalize')} s, load {named.get('load')} s)",
            dlt,
        ),
        "",
        (
            f"leapsync was **{dlt['seconds'] / leapsync['seconds']:.1f}x** faster than dlt "
            "(dlt's defaults: two resources, POST with the page size, a cursor paginator, "
            "normalisation into child tables; scripts/bench_dlt.py)."
        ),
    ]


def _dlt_python() -> str:
    """The scratch virtualenv's interpreter, with dlt installed from requirements/bench-dlt.txt."""
    venv = ROOT / ".bench" / "dlt-venv"
    python = venv / "bin" / "python"
    pins = ROOT / "requirements" / "bench-dlt.txt"
    stamp = venv / ".installed"
    if not stamp.exists() or stamp.read_text() != pins.read_text():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(pins)], check=True
        )
        stamp.write_text(pins.read_text())
    return str(python)


def _dlt_version(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import dlt; print(dlt.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


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
    parser.add_argument(
        "--dlt-meters",
        type=int,
        default=0,
        help="also load this many meters with leapsync and with dlt, side by side (0: skip)",
    )
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--split-workers",
        type=int,
        nargs="+",
        metavar="W",
        help="measure the full sync split into --ranges ranges on a cluster of W workers",
    )
    parser.add_argument("--ranges", type=int, default=4)
    parser.add_argument(
        "--redis-url", default="", help="django-q2's broker (default: the database, ORM broker)"
    )
    args = parser.parse_args()
    args.port = args.port or free_port()
    return args


def _environment(args: argparse.Namespace) -> dict[str, str]:
    return {
        **sync_environment(args.database_url, args.port),
        "LEAP_PAGE_SIZE": str(args.page_size),
    }


def _report(args: argparse.Namespace, results: dict[str, dict[str, float]]) -> list[str]:
    meters = args.meters
    ceiling = results["ceiling"]

    def row(label: str, result: dict[str, float], count: int | None) -> str:
        rate = f"{count / result['seconds']:,.0f}" if count else "—"
        return (
            f"| {label} | {result['seconds']:.1f} s | {result['seconds'] / ceiling['seconds']:.1f}x "
            f"| {rate} | {result['pss_sum_mb']:.0f} MB | {result['rss_sum_mb']:.0f} MB "
            f"({result['processes']}) |"
        )

    ceiling_row = (
        "| ceiling: fetch + JSON-parse every page of both endpoints, no database "
        f"| {ceiling['seconds']:.1f} s | 1.0x | {2 * meters / ceiling['seconds']:,.0f} records/s "
        "| — | — |"
    )
    lines = [
        f"\n## Sync, {meters:,} meters ({datetime.now(UTC):%Y-%m-%d})\n",
        f"Machine: {machine_line()}; simulator, sync and PostgreSQL on the same machine.",
        f"Command: `python scripts/bench_sync.py --meters {meters}"
        + (f" --dlt-meters {args.dlt_meters}" if args.dlt_meters else "")
        + f"` (page size {args.page_size}).\n",
        (
            "| what | wall time | x ceiling | meters/s | peak memory, all sync processes (PSS) "
            "| same, RSS summed (processes) |"
        ),
        "| --- | --- | --- | --- | --- | --- |",
        ceiling_row,
        row("full sync, both streams, empty database", results["full"], meters),
        row("incremental after mutate(0.01)", results["incremental"], None),
        row("full re-run, nothing changed", results["rerun"], meters),
        "",
        (
            f"The incremental took {results['incremental']['seconds'] / results['full']['seconds']:.1%} "
            "of the first full load's time."
        ),
        (
            "Wall times include starting Django for each `leap_sync` (about 1 s). Memory is sampled "
            "every 50 ms over the `leap_sync` process and every process it started."
        ),
    ]
    return lines


def _split_benchmark(args: argparse.Namespace) -> None:
    env = _environment(args)
    if args.redis_url:
        env["Q_REDIS_URL"] = args.redis_url
    recreate_database(args.database_url)
    manage(env, "migrate", "--noinput", "-v", "0")
    results: dict[str, dict[str, dict[str, float]]] = {}
    base = f"http://127.0.0.1:{args.port}"
    with running_simulator(env, port=args.port, meters=args.meters, seed=args.seed):
        results["one piece"] = {
            "ceiling": ceiling(base, args.page_size),
            "first": _timed_one_piece(env),
            "rerun": _timed_one_piece(env),
        }
        for workers in args.split_workers:
            recreate_database(args.database_url)
            manage(env, "migrate", "--noinput", "-v", "0")
            cluster = _start_cluster({**env, "Q_WORKERS": str(workers)})
            try:
                split = ("--full", "--ranges", str(args.ranges))
                results[str(workers)] = {
                    "ceiling": ceiling(base, args.page_size),
                    "first": _timed_split(env, split, cluster),
                    "rerun": _timed_split(env, split, cluster),
                }
            finally:
                _stop_cluster(cluster)
    _report_split(args, results)


def _timed_one_piece(env: dict[str, str]) -> dict[str, float]:
    """`leap_sync --full` in one piece, its peak the largest of its processes (the table's
    peak RSS column)."""
    result = _with_cpu(lambda: timed_sync(env, "--full"))
    return {**result, "peak_mb": result["largest_mb"]}


def _start_cluster(env: dict[str, str]) -> subprocess.Popen:
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(3)  # its workers fork and connect
    return cluster


def _stop_cluster(cluster: subprocess.Popen) -> None:
    cluster.send_signal(signal.SIGTERM)
    try:
        cluster.wait(timeout=60)
    except subprocess.TimeoutExpired:
        cluster.kill()
        cluster.wait()


def _timed_split(env: dict[str, str], args: tuple[str, ...], cluster: subprocess.Popen) -> dict:
    """`leap_sync` splits and follows the run; the cluster's workers sync the ranges. Peak RSS:
    the sum and the largest of the cluster's processes (their high-water marks so far)."""
    cpu_before = _cpu_seconds(_descendants(cluster.pid))
    command = _with_cpu(lambda: _leap_sync(env, args))
    pids = _descendants(cluster.pid)
    cpu = command["cpu"] + _cpu_seconds(pids) - cpu_before
    seconds = command["seconds"]
    peaks = [_peak_kb(pid) / 1024 for pid in pids]
    print(f"leap_sync {' '.join(args)}: {seconds:.1f} s, CPU {cpu:.1f} s, peak {max(peaks):.0f} MB")
    return {"seconds": seconds, "peak_mb": max(peaks), "sum_mb": sum(peaks), "cpu": cpu}


def _leap_sync(env: dict[str, str], args: tuple[str, ...]) -> dict[str, float]:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "manage.py", "leap_sync", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    return {"seconds": time.monotonic() - started}


def _with_cpu(measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """`measure()`'s figures and the CPU time (user + system) of the processes it started and
    waited for (their own children's included, once reaped)."""
    before = children_cpu()
    result = measure()
    return {**result, "cpu": children_cpu() - before}


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the live processes `pids` have used so far."""
    seconds = 0.0
    for pid in pids:
        try:
            seconds += process_cpu(pid)
        except OSError:
            continue
    return seconds


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _peak_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")), 0
    )


def _report_split(
    args: argparse.Namespace, results: dict[str, dict[str, dict[str, float]]]
) -> None:
    broker = "Redis" if args.redis_url else "the database (ORM broker)"
    workers = " ".join(str(w) for w in args.split_workers)

    def row(label: str, measured: dict[str, dict[str, float]]) -> str:
        ceiling = measured["ceiling"]["seconds"]
        first, rerun = measured["first"], measured["rerun"]
        cpu = f"{first['cpu']:.0f} s · {rerun['cpu']:.0f} s"
        memory = f"{max(first['peak_mb'], rerun['peak_mb']):.0f} MB"
        if "sum_mb" in first:
            memory += f" ({max(first['sum_mb'], rerun['sum_mb']):.0f} MB)"
        return (
            f"| {label} | {ceiling:.1f} s | {first['seconds']:.1f} s "
            f"({first['seconds'] / ceiling:.1f}x) | {rerun['seconds']:.1f} s "
            f"({rerun['seconds'] / ceiling:.1f}x) | {cpu} | {memory} |"
        )

    lines = [
        f"\n## Sync split into ranges, {args.meters:,} meters ({datetime.now(UTC):%Y-%m-%d})\n",
        f"Machine: {machine_line()}; simulator, sync, cluster and PostgreSQL on the same machine.",
        (
            f"Command: `python scripts/bench_sync.py --meters {args.meters} --split-workers "
            f"{workers} --ranges {args.ranges}` (page size {args.page_size}; broker: {broker}).\n"
        ),
        (
            "| how | ceiling (measured just before) | first load, empty database (x ceiling) "
            "| full re-run, nothing changed (x ceiling) | CPU of the sync's processes (first "
            "load · re-run) | peak RSS, largest process (sum of the cluster's processes) |"
        ),
        "| --- | --- | --- | --- | --- | --- |",
        row("one piece (`leap_sync --full`, streams side by side)", results["one piece"]),
    ]
    for w in args.split_workers:
        label = f"{args.ranges} ranges on {w} worker{'s' if w > 1 else ''}"
        lines.append(row(label, results[str(w)]))
    lines += ["", "Wall times include starting Django for each `leap_sync` (about 1 s)."]
    with open(args.output, "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
