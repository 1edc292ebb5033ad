"""Set-up the benchmark scripts share: databases, manage.py, the simulator, the machine's line.

The benchmarks run leapsync as production does (separate processes, DEBUG off, PostgreSQL) or
in-process on a scratch database, and time it. What more than one of them needs to get there
lives here once, so that each script says only what it measures. The scripts run as
`python scripts/bench_*.py`, with this folder first on sys.path: they import it as `benchlib`.
"""

from __future__ import annotations

import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def machine_line() -> str:
    """Cores, memory, platform and Python: the "Machine:" of a report in docs/benchmarks.md."""
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        memory_gib = int(meminfo.readline().split()[1]) / 1024 / 1024
    return (
        f"{os.cpu_count()} cores, {memory_gib:.0f} GiB, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )


# --- leapsync in separate processes ---------------------------------------------------------------


def sync_environment(database_url: str, port: int) -> dict[str, str]:
    """The environment of leapsync's processes: the database, the simulator on `port`.

    DEBUG off, as in production (with DEBUG on Django records every query).
    """
    return {
        **{k: v for k, v in os.environ.items() if k != "DEBUG"},
        "SECRET_KEY": "bench-only-secret-key-not-used-for-anything-else-0123456789",
        "ALLOWED_HOSTS": "localhost",
        "DATABASE_URL": database_url,
        "LEAP_BASE_URL": f"http://127.0.0.1:{port}",
        "LEAP_API_KEY": API_KEY,
        "LOG_LEVEL": "WARNING",
    }


def recreate_database(url: str, template: str | None = None) -> None:
    """The PostgreSQL database `url` names, dropped and created again: empty, or as a copy of
    database `template` (which must have no open connection)."""
    name = url.rsplit("/", 1)[1]
    host = url.split("@", 1)[1].split("/", 1)[0].split(":")[0]
    copy = ["-T", template] if template else []
    subprocess.run(["dropdb", "-h", host, "-U", "postgres", "--if-exists", name], check=True)
    subprocess.run(["createdb", "-h", host, "-U", "postgres", *copy, name], check=True)


def manage(env: dict[str, str], *args: str) -> None:
    """Run `manage.py` with these arguments; its output goes where this process's goes."""
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def manage_output(env: dict[str, str], *args: str) -> str:
    """Run `manage.py` with these arguments and return what it printed."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


@contextmanager
def running_simulator(
    env: dict[str, str], *, port: int, meters: int, seed: int
) -> Iterator[subprocess.Popen]:
    """The simulator as an HTTP server on `port`, from when it accepts connections until the
    block ends."""
    started = time.monotonic()
    command = [sys.executable, "manage.py", "leap_simulator", "--meters", str(meters)]
    command += ["--seed", str(seed), "--port", str(port), "--api-key", API_KEY]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_port(port, started)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for_port(port: int, started: float) -> None:
    while time.monotonic() - started < 300:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            print(f"simulator up after {time.monotonic() - started:.1f} s")
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the simulator did not start within 5 minutes")


def control(base: str, action: str, payload: dict) -> None:
    """POST to one of the simulator's control routes (`warm`, `mutate`, `drift`)."""
    response = httpx.post(
        f"{base}/_simulator/{action}",
        json=payload,
        timeout=3600,  # warm renders every meter: minutes at 1,000,000
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    response.raise_for_status()


def ceiling(base: str, page_size: int) -> dict[str, float]:
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


def timed_sync(env: dict[str, str], mode: str) -> dict[str, float]:
    """`leap_sync <mode>`: its wall time and the peak memory of all its processes together."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "leap_sync", mode, "-v", "0"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    memory = TreeMemory(process.pid)
    if process.wait() != 0:
        raise SystemExit(f"leap_sync {mode} failed (exit code {process.returncode})")
    seconds = time.monotonic() - started
    result = {"seconds": seconds, **memory.stop()}
    print(
        f"leap_sync {mode}: {seconds:.1f} s, memory of its {result['processes']} processes "
        f"together: {result['pss_sum_mb']:.0f} MB (PSS), {result['rss_sum_mb']:.0f} MB (RSS); "
        f"largest {result['largest_mb']:.0f} MB"
    )
    return result


class TreeMemory:
    """Samples a process and all its descendants every 50 ms; keeps the peaks of their sums.

    RSS counts a page shared by several processes (the forked stream processes share the
    parent's) once per process; PSS splits it between them, so the sum of PSS is the memory
    the processes take together, and the sum of RSS an upper bound of it.
    """

    def __init__(self, pid: int) -> None:
        self.pid, self.rss, self.pss, self.largest, self.processes = pid, 0, 0, 0, 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {
            "rss_sum_mb": self.rss / 1024,
            "pss_sum_mb": self.pss / 1024,
            "largest_mb": self.largest / 1024,
            "processes": self.processes,
        }

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            sizes = [size for pid in _tree(self.pid) if (size := _sizes_kb(pid)) is not None]
            if sizes:
                self.rss = max(self.rss, sum(rss for rss, _ in sizes))
                self.pss = max(self.pss, sum(pss for _, pss in sizes))
                self.largest = max(self.largest, *(rss for rss, _ in sizes))
                self.processes = max(self.processes, len(sizes))


def _tree(pid: int) -> list[int]:
    pids, index = [pid], 0
    while index < len(pids):
        try:
            with open(f"/proc/{pids[index]}/task/{pids[index]}/children", encoding="ascii") as f:
                pids += [int(child) for child in f.read().split()]
        except OSError:
            pass
        index += 1
    return pids


def _sizes_kb(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) of one process in kB, or None once it has gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            fields = dict(line.split()[:2] for line in rollup if line[:4] in ("Rss:", "Pss:"))
        return int(fields["Rss:"]), int(fields["Pss:"])
    except (OSError, KeyError, ValueError):
        return None


# --- CPU time -------------------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """User and system seconds a running process has used so far (Linux /proc; OSError once it
    has gone). Unlike wall time, it does not depend on what else the machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # fields 14 and 15


def children_cpu() -> float:
    """User and system seconds of the ended processes this one started (and theirs, once
    reaped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- leapsync in this process ---------------------------------------------------------------------


def setup_django_in_scratch_directory(prefix: str) -> Path:
    """Django set up in this process with a fresh data directory (and so a fresh SQLite database
    unless DATABASE_URL names another); DEBUG on unless the environment says otherwise."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.setdefault("DATA_DIR", str(work))
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapsync.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return work
