"""pip-audit over the pinned dependencies (constraints.txt), with PyPI's vulnerability data.

Fails with one line when the data cannot be reached: an audit that saw nothing is not a
pass. `make audit` runs it; `make test` deselects it (`-m "not audit"`, counted in
pytest's "deselected"), because the package mirror of the build machines serves PyPI's
project pages but not the per-version pages that carry each pin's vulnerabilities.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.audit
def test_no_pinned_dependency_has_a_known_vulnerability() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip_audit", "-r", str(ROOT / "constraints.txt"), "--no-deps",
         "--disable-pip", "--vulnerability-service", "pypi", "--format", "json",
         "--progress-spinner", "off"], capture_output=True, text=True, timeout=300,
        check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"pip-audit failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}",
                    pytrace=False)
    deps = report["dependencies"]
    audited = [d for d in deps if "skip_reason" not in d]
    if not audited:
        pytest.fail(f"pip-audit could not reach PyPI's vulnerability data for any of the "
                    f"{len(deps)} pins (GET /pypi/<name>/<version>/json); run it where "
                    "that API answers", pytrace=False)
    vulnerable = {d["name"]: [v["id"] for v in d["vulns"]] for d in audited if d["vulns"]}
    assert not vulnerable, f"known vulnerabilities in pinned dependencies: {vulnerable}"
