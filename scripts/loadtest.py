"""Load test: N concurrent staff users browse lists, filters and meter pages; optionally while a
full sync runs. Targets 127.0.0.1 only, and stops by itself (bounded requests and time).

    python scripts/loadtest.py --port 8000 --username olivia --password ... \
        --users 50 --think 1 --requests 200 --duration 600 \
        [--sync "env LEAP_BASE_URL=... manage.py leap_sync --full"]

Each user waits a random think time (exponential, mean --think seconds) between clicks; with
--think 0 every user fires its next request the moment the last one answered (a stress test:
50 requests always in flight).

Every user signs in first (not measured); then the sync starts and the users browse for
--duration seconds. Prints per page: requests, errors, p50 and p95 in ms; then the error rate
and, with --sync, how long the sync took. Exit 1 when any request failed or a page's p95 is
over --p95-ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shlex
import statistics
import subprocess
import time
from collections import defaultdict

import httpx

HOST = "127.0.0.1"
PAGES = {
    "dashboard": "/",
    "meters": "/meters/",
    "meters filtered": "/meters/?global_status=ACTIVE&mapping=unmapped",
    "meters search": "/meters/?q=ave",
    "meters page 5": "/meters/?page=5",
    "actions": "/actions/",
    "deadlines": "/enrollments/deadlines/",
    "market groups": "/enrollments/market-groups/",
    "sites": "/sites/",
    "sync runs": "/sync/",
}
METER_LINK = re.compile(r'href="(/meters/[0-9a-f-]{36}/)"')


class Session:
    """One signed-in user's client, as a browser behind the production TLS proxy would be.

    Production settings mark cookies Secure and redirect plain HTTP; this talks to gunicorn on
    127.0.0.1 directly, so it says what the proxy would (X-Forwarded-Proto: https) and keeps
    the cookies itself (a cookie jar would not send Secure cookies over http://).
    """

    def __init__(self, port: int) -> None:
        self.origin = f"https://{HOST}:{port}"
        self.cookies: dict[str, str] = {}
        self.http = httpx.AsyncClient(
            base_url=f"http://{HOST}:{port}", timeout=30, headers={"X-Forwarded-Proto": "https"}
        )

    async def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = await self.http.request(method, url, headers=headers, **kwargs)
        for line in response.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        self.http.cookies.clear()
        return response

    async def sign_in(self, username: str, password: str) -> None:
        page = await self.request("GET", "/accounts/login/")
        answer = await self.request(
            "POST",
            "/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": self.cookies.get("csrftoken", ""),
            },
            headers={"Referer": f"{self.origin}/accounts/login/"},
        )
        if answer.status_code != 302 or page.status_code != 200:
            raise SystemExit(f"sign-in failed ({answer.status_code}): check --username/--password")


async def staff_user(
    args, session: Session, deadline: float, timings: dict, errors: dict, seed: int
) -> None:
    """One signed-in user: open pages (and meters found on them) until told to stop."""
    rng = random.Random(seed)
    try:
        if args.think > 0:  # users arrive spread out, not all in the same instant
            await asyncio.sleep(rng.uniform(0, args.think))
        meters: list[str] = []
        for _ in range(args.requests):
            if time.monotonic() > deadline:
                return
            if meters and rng.random() < 0.3:
                name, url = "meter page", rng.choice(meters)
            else:
                name, url = rng.choice(list(PAGES.items()))
            headers = {"HX-Request": "true"} if rng.random() < 0.3 else {}
            started = time.perf_counter()
            try:
                response = await session.request("GET", url, headers=headers)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok, response = False, None
            timings[name].append((time.perf_counter() - started) * 1000)
            if args.log:
                args.log.write(f"{started - args.t0:.2f},{name},{timings[name][-1]:.0f}\n")
            if not ok:
                errors[name] += 1
            elif name.startswith("meters"):
                meters = METER_LINK.findall(response.text)[:20] or meters
            if args.think > 0:
                await asyncio.sleep(rng.expovariate(1 / args.think))
    finally:
        await session.http.aclose()


def report(timings: dict, errors: dict, p95_limit: float) -> bool:
    good = True
    print(f"{'page':<16}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}")
    for name in sorted(timings):
        values = sorted(timings[name])
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        print(
            f"{name:<16}{len(values):>9}{errors[name]:>8}"
            f"{statistics.median(values):>9.0f}{p95:>9.0f}"
        )
        good = good and errors[name] == 0 and p95 <= p95_limit
    total = sum(len(v) for v in timings.values())
    failed = sum(errors.values())
    print(f"total {total} requests, error rate {failed / max(total, 1):.2%}")
    return good


async def browse(args) -> bool:
    """Sign every user in (not measured), then start the sync, if any, and browse."""
    sessions = [Session(args.port) for _ in range(args.users)]
    # Fifty password checks at the same instant are a login storm, not browsing: done first.
    await asyncio.gather(*(s.sign_in(args.username, args.password) for s in sessions))
    started = time.monotonic()
    args.t0 = time.perf_counter()
    sync = await asyncio.to_thread(subprocess.Popen, shlex.split(args.sync)) if args.sync else None
    # Timed in a thread of its own: the sync's end, not the end of the browsing.
    waiting = asyncio.create_task(asyncio.to_thread(_wait, sync, started, args)) if sync else None
    timings: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    deadline = started + args.duration
    await asyncio.gather(
        *(
            staff_user(args, session, deadline, timings, errors, seed)
            for seed, session in enumerate(sessions)
        )
    )
    good = report(timings, errors, args.p95_ms)
    if waiting is not None:
        code, seconds = await waiting
        if code is None:
            print(f"sync still running after {args.sync_timeout:.0f} s: stopped")
        else:
            print(f"sync finished in {seconds:.1f} s (exit {code})")
            if seconds > args.duration:
                print(
                    "  (it outlasted the browsing: raise --duration to measure it all under load)"
                )
        good = good and code == 0
    return good


def _wait(sync: subprocess.Popen, started: float, args) -> tuple[int | None, float]:
    try:
        code = sync.wait(args.sync_timeout)
    except subprocess.TimeoutExpired:
        sync.terminate()
        code = None
    return code, time.monotonic() - started


def main(args) -> int:
    return 0 if asyncio.run(browse(args)) else 1


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="the site on 127.0.0.1")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--users", type=int, default=50, help="concurrent staff users")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between clicks")
    parser.add_argument("--requests", type=int, default=200, help="at most, per user")
    parser.add_argument("--duration", type=float, default=600, help="seconds, at most")
    parser.add_argument("--p95-ms", type=float, default=500, help="allowed p95 per page")
    parser.add_argument("--sync", help="a command to run meanwhile (e.g. manage.py leap_sync)")
    parser.add_argument(
        "--log", type=argparse.FileType("w"), help="write every request (s since start,page,ms)"
    )
    parser.add_argument("--sync-timeout", type=float, default=3600, help="seconds, at most")
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(main(parse()))
