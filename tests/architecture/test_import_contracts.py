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
        ("meters/services.py", "import actions.services", "Domain modules point one way"),
        ("enrollments/deadlines.py", "import actions.models", "Domain modules point one way"),
        ("enrollments/roster.py", "import leapsync.dashboard", "Domain modules import neither"),
        ("leapsync/sync/planner.py", "import leapsync.dashboard.store", "The engine knows no"),
        ("leapsync/leap/client.py", "import meters.models", "The vendor layer"),
        ("leapsync/leap/payloads/records.py", "import leapsync.sync", "The vendor layer"),
        ("leapsync/simulator/core.py", "import leapsync.ui.htmx", "The simulator imports nothing"),
        ("leapsync/simulator/core.py", "import meters", "The simulator imports nothing"),
        ("leapsync/sync/runs.py", "import leapsync.dashboard", "The engine knows no page"),
        ("leapsync/sync/common.py", "import leapsync.sync.runs", "No import cycles"),
        ("leapsync/claims.py", "import enrollments.models", "The claim-once helper"),
        ("leapsync/replica.py", "import meters.models", "The claim-once helper"),
        ("actions/notify/deadlines.py", "import actions.notify.customer", "Each email flow"),
        ("actions/inbox.py", "import actions.tables", "Actions' domain rules"),
        ("meters/models.py", "import leapsync.webhooks.models", "The webhooks app sits above"),
        ("leapsync/webhooks/models.py", "import leapsync.webhooks.services", "Inside the webhooks"),
        ("leapsync/ui/htmx.py", "import leapsync.models", "The shared web helpers"),
        ("meters/services.py", "import leapsync.api.models", "The API app sits above"),
        ("leapsync/sync/meters.py", "import leapsync.api.tokens", "The API app sits above"),
        ("leapsync/api/tokens.py", "import leapsync.api.auth", "Inside the API app"),
    ],
)
def test_a_forbidden_import_fails_lint(tree_copy, module, forbidden_import, contract):
    path = tree_copy / module
    path.write_text(path.read_text() + f"\n{forbidden_import}  # against the layers\n")
    result = _lint_imports(tree_copy)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout and "BROKEN" in result.stdout


# Every module of the domain apps, by role: the domain contract lists the domain ones by name,
# so a module nobody classified could slip past it.
WEB = {
    "admin",
    "apps",
    "bulk_views",
    "changes",
    "context_processors",
    "details",
    "exports",
    "filters",
    "forms",
    "mapping_views",
    "reference_views",
    "reference_import_views",
    "site_views",
    "tables",
    "urls",
    "views",
    "tasks",
    "management",
    "migrations",
    "__init__",
}


def _domain_modules() -> set[str]:
    config = (ROOT / ".importlinter").read_text()
    section = config.split("[importlinter:contract:domain]")[1].split("[importlinter:")[0]
    layers = section.split("layers =")[1]
    return {name.strip() for line in layers.splitlines() for name in line.split(":")} - {""}


@pytest.mark.parametrize("app", ["meters", "enrollments", "actions"])
def test_every_module_of_an_app_is_domain_or_web(app):
    domain = _domain_modules()
    for path in sorted((ROOT / app).iterdir()):
        name = path.stem if path.suffix == ".py" else path.name
        if name.startswith(".") or name == "__pycache__" or path.suffix not in (".py", ""):
            continue
        assert f"{app}.{name}" in domain or name in WEB, (
            f"{app}/{path.name} is neither a domain module in .importlinter's domain contract "
            "nor a web module (tests/architecture WEB): say which it is"
        )
