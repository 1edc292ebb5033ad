"""`make run` (scripts/dev-run.sh) stops everything it started, promptly, on Ctrl-C or SIGTERM.

Each case runs the real script in a copy of the project (its own SQLite file, a small simulator,
free ports), waits until the site answers, signals the script's process group the way a
terminal (Ctrl-C) or a supervisor (SIGTERM) does, and checks that every process the script
started, the django-q2 cluster's included, is gone within STOP_SECONDS.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STOP_SECONDS = 10
NOT_COPIED = shutil.ignore_patterns(
    ".venv", ".env", ".git", "var", "staticfiles", "node_modules", "__pycache__", "*.sqlite3*"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> set[int]:
    """Every live descendant of `pid` (whatever its session)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "leapsync"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    (copy / ".venv").symlink_to((ROOT / ".venv").resolve())
    return copy


def _wait_until_up(url: str, script: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if script.poll() is not None:
            pytest.fail(f"dev-run.sh exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the site did not come up:\n{log.read_text()}")


@pytest.fixture
def running(project: Path) -> Iterator[tuple[subprocess.Popen, set[int]]]:
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("needs the project's .venv")
    port, simulator_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG", "DATA_DIR"}}
    env |= {"PORT": str(port), "SIMULATOR_PORT": str(simulator_port), "SIMULATOR_METERS": "200"}
    log = project / "dev-run.log"
    with log.open("w") as out:
        script = subprocess.Popen(
            ["scripts/dev-run.sh"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as in a terminal
        )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/healthz", script, log)
        time.sleep(2)  # the cluster's workers, pusher and monitor are up by now
        started = _children(script.pid) | {script.pid}
        assert len(started) >= 5, "script, simulator, runserver and the cluster's processes"
        yield script, started
    finally:
        for pid in _children(script.pid) | {script.pid}:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        script.wait(timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_dev_run_stops_everything_within_seconds(running, signum):
    script, started = running
    began = time.monotonic()
    os.killpg(script.pid, signum)
    while any(_alive(pid) for pid in started) and time.monotonic() - began < STOP_SECONDS + 5:
        time.sleep(0.1)
    took = time.monotonic() - began
    left = sorted(pid for pid in started if _alive(pid))
    assert not left, f"still running after {took:.1f} s: {left}"
    assert took < STOP_SECONDS
