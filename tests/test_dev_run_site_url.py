"""scripts/dev-run.sh (`make run`): the emails' links (SITE_URL) follow the port it serves on,
unless SITE_URL is set. The script runs in a copy of the project whose `.venv/bin/python`
only records what it was asked to run, and with which SITE_URL."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "dev-run.sh"
FAKE_PYTHON = '#!/bin/sh\necho "${SITE_URL-(unset)} $*" >>"$(dirname "$0")/calls.log"\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts" / "dev-run.sh")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return tmp_path


def _run(project: Path, **env: str) -> dict[str, str]:
    """{manage.py command: the SITE_URL it saw}, for a run with `env` (no simulator). The
    cluster gets the same environment as the server, but runs in the background: the script's
    exit may stop it before it records anything, so the tests read the server's."""
    base = {k: v for k, v in os.environ.items() if k not in {"SITE_URL", "HOST", "PORT"}}
    script = project / "scripts" / "dev-run.sh"
    environment = {**base, "LEAP_BASE_URL": "http://leap.invalid", **env}
    subprocess.run(["bash", str(script)], env=environment, check=True, capture_output=True)
    calls = (project / ".venv" / "bin" / "calls.log").read_text().splitlines()
    return {line.split()[2]: line.split()[0] for line in calls}


def test_links_follow_the_port_served_on(project):
    seen = _run(project, PORT="8100")
    assert seen["runserver"] == "http://127.0.0.1:8100"


def test_links_follow_the_host_but_never_a_wildcard_address(project):
    assert _run(project, HOST="0.0.0.0", PORT="8100")["runserver"] == "http://127.0.0.1:8100"


def test_a_configured_site_url_is_kept(project):
    seen = _run(project, PORT="8100", SITE_URL="https://leapsync.example.com")
    assert seen["runserver"] == "https://leapsync.example.com"


def test_a_site_url_in_dotenv_is_not_overridden(project):
    (project / ".env").write_text("SITE_URL=https://leapsync.example.com\n")
    assert _run(project, PORT="8100")["runserver"] == "(unset)"  # settings read .env
