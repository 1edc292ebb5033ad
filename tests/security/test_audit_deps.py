"""scripts/audit_deps.py, the CI's dependency audit: fails on a known vulnerability, and says
plainly when the vulnerability service could not be asked (it never passes silently)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import msgspec
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_deps.py"


@pytest.fixture
def audit(monkeypatch):
    spec = importlib.util.spec_from_file_location("audit_deps", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def with_report(dependencies: list[dict] | None):
        def fake_run(report: Path) -> subprocess.CompletedProcess:
            if dependencies is not None:
                report.write_bytes(msgspec.json.encode({"dependencies": dependencies, "fixes": []}))
            return subprocess.CompletedProcess([], 1, "", "connection refused")

        monkeypatch.setattr(module, "run_audit", fake_run)
        return module.main()

    return with_report


def test_a_known_vulnerability_fails_the_audit(audit, capsys):
    code = audit(
        [
            {"name": "django", "version": "5.2.19", "vulns": []},
            {"name": "httpx", "version": "0.28.1", "vulns": [{"id": "PYSEC-2099-1"}]},
        ]
    )
    assert code == 1
    assert "VULNERABLE httpx 0.28.1: PYSEC-2099-1" in capsys.readouterr().out


def test_a_clean_audit_passes_and_counts_what_it_checked(audit, capsys):
    code = audit([{"name": "django", "version": "5.2.19", "vulns": []}])
    assert code == 0
    assert "1 packages audited, no known vulnerability" in capsys.readouterr().out


def test_packages_the_service_did_not_answer_for_are_reported(audit, capsys):
    skipped = {"name": "django", "version": "5.2.19", "skip_reason": "not found on PyPI"}
    code = audit([skipped, {"name": "httpx", "version": "0.28.1", "vulns": []}])
    out = capsys.readouterr().out
    assert code == 0
    assert "AUDIT INCOMPLETE: 1 of 2 packages could not be audited" in out
    assert "1 packages audited" in out


def test_no_report_at_all_says_the_audit_was_not_done(audit, capsys):
    assert audit(None) == 0
    out = capsys.readouterr().out
    assert "AUDIT NOT DONE" in out and "connection refused" in out
