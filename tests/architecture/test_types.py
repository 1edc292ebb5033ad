"""mypy (make lint) holds the vendor layer to strict typing: an untyped function fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("leapsync", "meters", "enrollments", "actions")


def test_an_untyped_function_in_the_vendor_layer_fails_mypy(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    enums = tmp_path / "leapsync" / "leap" / "enums.py"
    enums.write_text(enums.read_text() + "\n\ndef untyped(value):\n    return value\n")
    result = subprocess.run(
        [Path(sys.executable).with_name("mypy"), "--cache-dir", str(tmp_path / ".mypy_cache")],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "leapsync/leap/enums.py" in result.stdout
    assert "Function is missing a type annotation" in result.stdout
