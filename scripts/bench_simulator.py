"""Benchmark the Leap simulator over real HTTP: startup, RSS, and full fetch of both searches.

Usage: python scripts/bench_simulator.py [--meters 100000] [--seed 1] [--page-size 500]

The simulator runs in a child process (as `leap_simulator` would), so client and server do not
share a GIL; the client pages through both search endpoints with keep-alive and parses every page.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-key"
SERVER = """
import sys, time
from leapsync.simulator import LeapSimulator, serve
began = time.perf_counter()
sim = LeapSimulator(meters=int(sys.argv[1]), seed=int(sys.argv[2]), api_key=sys.argv[3])
generated = time.perf_counter()
sim.warm()
warmed = time.perf_counter()
server = serve(sim, "127.0.0.1", 0)
print(server.url, f"{generated - began:.2f}", f"{warmed - generated:.2f}", flush=True)
server.thread.join()
"""


def rss_mib(pid: int) -> float:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
    args = parser.parse_args()
    began = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.meters), str(args.seed), KEY],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url, generate_s, warm_s = child.stdout.readline().split()
        startup = time.perf_counter() - began
        print(f"startup {startup:.1f} s (generate {generate_s} s, pre-render {warm_s} s)")
        print(f"server RSS after startup: {rss_mib(child.pid):.0f} MiB")
        headers = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            total = 0.0
            for path in ("/v2/meters/search", "/v2/meters/enrollments/search"):
                meters, pages, size, seconds = fetch_all(client, path, args.page_size)
                total += seconds
                print(
                    f"{path}: {meters} meters, {pages} pages, {size / 1e6:.0f} MB in {seconds:.2f} s"
                    f" = {pages / seconds:.0f} pages/s, {size / 1e6 / seconds:.0f} MB/s"
                )
        print(f"both endpoints fetched and parsed in {total:.2f} s")
        print(f"server RSS after the fetch: {rss_mib(child.pid):.0f} MiB")
    finally:
        child.terminate()
        child.wait()


if __name__ == "__main__":
    main()
