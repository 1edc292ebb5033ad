"""The import contracts (.importlinter) hold, and a forbidden import breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("leapsync", "meters", "enrollments", "actions")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [Path(sys.executable).with_name("lint-imports"), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The packages and the contracts, copied so a test may break them."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_the_contracts_hold_on_the_code_as_it_is(tree_copy):
    result = _lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden_import", "contract"),
    [
        ("meters/services.py", "import actions.services", "Domain apps point one way"),
        ("leapsync/leap/client.py", "import meters.models", "The vendor layer"),
        ("leapsync/leap/payloads/records.py", "import leapsync.sync", "The vendor layer"),
        ("leapsync/simulator/core.py", "import leapsync.ui.htmx", "The simulator imports nothing"),
        ("leapsync/simulator/core.py", "import meters", "The simulator imports nothing"),
        ("leapsync/sync/runs.py", "import leapsync.dashboard", "The engine knows no page"),
        ("leapsync/sync/common.py", "import leapsync.sync.runs", "No import cycles"),
        ("leapsync/claims.py", "import enrollments.models", "The claim-once helper"),
        ("actions/notify/deadlines.py", "import actions.notify.customer", "Each email flow"),
        ("actions/inbox.py", "import actions.tables", "Actions' domain rules"),
        ("meters/models.py", "import leapsync.webhooks.models", "The webhooks app sits above"),
        ("leapsync/webhooks/models.py", "import leapsync.webhooks.services", "Inside the webhooks"),
        ("leapsync/ui/htmx.py", "import leapsync.models", "The shared web helpers"),
    ],
)
def test_a_forbidden_import_fails_lint(tree_copy, module, forbidden_import, contract):
    path = tree_copy / module
    path.write_text(path.read_text() + f"\n{forbidden_import}  # against the layers\n")
    result = _lint_imports(tree_copy)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout
