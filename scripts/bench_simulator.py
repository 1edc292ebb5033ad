"""Benchmark the Leap simulator over real HTTP: startup, memory, and full passes of both searches.

Usage: python scripts/bench_simulator.py [--meters 100000] [--seed 1] [--page-size 500]
           [--passes 2] [--repo PATH] [-- extra leap_simulator arguments, e.g. --warm or --drift]

`manage.py leap_simulator` runs in a child process (from `--repo`, default this checkout, so an
older checkout can be measured beside this one), so client and server do not share a GIL. Startup
is the time until the server accepts connections. Each pass pages through both search endpoints
with keep-alive and parses every page (the sync benchmark's ceiling); the first pass renders what
the simulator has not rendered yet, later passes are served from its cache. The server's resident
and peak memory (VmRSS, VmHWM) and CPU time are read from /proc after startup and after every
pass.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
from benchlib import API_KEY, ROOT, process_cpu

PATHS = ("/v2/meters/search", "/v2/meters/enrollments/search")


def server_state(pid: int) -> str:
    """Resident and peak resident memory, and CPU time used so far, of a process (from /proc).

    CPU seconds do not depend on what else the machine runs, as wall-clock seconds do.
    """
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return (
        f"RSS {fields['VmRSS']:,.0f} MiB (peak {fields['VmHWM']:,.0f} MiB), "
        f"CPU used so far {process_cpu(pid):.1f} s"
    )


def fetch_all(client: httpx.Client, path: str, page_size: int) -> tuple[int, int, int, float]:
    """(meters, pages, bytes, seconds) for one full pass over a search endpoint."""
    body: dict[str, object] = {"page_size": page_size}
    meters = pages = size = 0
    began = time.perf_counter()
    while True:
        response = client.post(path, json=body)
        response.raise_for_status()
        page = msgspec.json.decode(response.content)
        meters, pages, size = meters + len(page["meters"]), pages + 1, size + len(response.content)
        if "next_page_token" not in page:
            return meters, pages, size, time.perf_counter() - began
        body["page_token"] = page["next_page_token"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--passes", type=int, default=2, help="full passes over both endpoints")
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout to run the server from")
    parser.add_argument("simulator_args", nargs="*", help="extra leap_simulator arguments")
    args = parser.parse_args()
    command = [
        sys.executable, "manage.py", "leap_simulator", "--meters", str(args.meters),
        "--seed", str(args.seed), "--port", "0", "--api-key", API_KEY, *args.simulator_args,
    ]  # fmt: skip
    began = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the ready line arrives when it is written
    child = subprocess.Popen(command, cwd=args.repo, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        startup = time.perf_counter() - began
        match = re.search(r"serving (http://\S+)", line)
        if match is None:
            raise SystemExit(f"the simulator did not start: {line!r}")
        print(f"{args.meters:,} meters, server from {args.repo}, {' '.join(args.simulator_args)}")
        print(f"startup (until it accepts connections): {startup:.1f} s")
        print(f"server after startup: {server_state(child.pid)}")
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=match.group(1), headers=headers, timeout=600) as client:
            for number in range(1, args.passes + 1):
                total, client_cpu = 0.0, time.process_time()
                for path in PATHS:
                    meters, pages, size, seconds = fetch_all(client, path, args.page_size)
                    total += seconds
                    print(
                        f"pass {number} {path}: {meters} meters, {pages} pages, "
                        f"{size / 1e6:.0f} MB in {seconds:.2f} s = {pages / seconds:.0f} pages/s"
                    )
                per_100k = total * 100_000 / max(args.meters, 1)
                client_cpu = time.process_time() - client_cpu
                print(
                    f"pass {number}, both endpoints: {total:.2f} s ({per_100k:.2f} s per 100k), "
                    f"client CPU {client_cpu:.1f} s"
                )
                print(f"server after pass {number}: {server_state(child.pid)}")
    finally:
        child.terminate()
        child.wait()


if __name__ == "__main__":
    main()
