"""Audit the pinned requirements with pip-audit; fail on a known vulnerability.

pip-audit asks a vulnerability service (PyPI's by default) about each pinned package. When the
service cannot be reached, pip-audit reports every package as "could not be audited" and still
says "No known vulnerabilities found"; this wrapper says plainly that nothing was checked
(exit 0, so an offline CI machine does not fail), and fails (exit 1) on any vulnerability found.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ["requirements/test.txt", "requirements/audit.txt"]  # test.txt includes base.txt


def run_audit(report: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--no-deps"]
    command += ["--disable-pip", "--format", "json", "--output", str(report)]
    for name in REQUIREMENTS:
        command += ["--requirement", str(ROOT / name)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        result = run_audit(report)
        if not report.exists() or not report.read_text().strip():
            print(
                "AUDIT NOT DONE: pip-audit produced no report (vulnerability service unreachable?)"
            )
            print(result.stderr.strip()[-2000:])
            return 0
        dependencies = msgspec.json.decode(report.read_bytes())["dependencies"]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    for dependency in vulnerable:
        ids = ", ".join(v["id"] for v in dependency["vulns"])
        print(f"VULNERABLE {dependency['name']} {dependency.get('version', '')}: {ids}")
    if vulnerable:
        return 1
    audited = len(dependencies) - len(skipped)
    if skipped:
        print(
            f"AUDIT INCOMPLETE: {len(skipped)} of {len(dependencies)} packages could not be "
            "audited (the vulnerability service did not answer for them), e.g.:"
        )
        for dependency in skipped[:3]:
            print(f"  {dependency['skip_reason']}")
    print(f"{audited} packages audited, no known vulnerability among them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
