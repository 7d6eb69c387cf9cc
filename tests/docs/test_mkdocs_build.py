"""The manual builds with ``mkdocs build --strict`` (a broken link, a page outside nav, a
docstring mkdocstrings cannot read fail it), and its generated pages say what the code does."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from sweepdoctor import diagnostics

ROOT = Path(__file__).resolve().parents[2]


def test_the_manual_builds_strict_and_its_rule_tables_come_from_the_code(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    rules = (site / "rules" / "index.html").read_text(encoding="utf-8")
    assert "sweepdoctor:" not in rules  # every marker was replaced
    for f in fields(diagnostics.Thresholds):
        assert f"<code>{f.name}</code>" in rules, f"rules page lacks threshold {f.name}"
    for code in diagnostics.FindingCode:
        assert f"<code>{code.value}</code>" in rules, f"rules page lacks finding {code.value}"
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for anchor in ("sweepdoctor.sweep.run", "sweepdoctor.diagnostics.diagnose", "sweepdoctor.studies.StudyDB",
                   "sweepdoctor.record"):
        assert f'id="{anchor}"' in api, f"API reference lacks {anchor}"
