"""The import contracts of ``.importlinter`` hold, and they do catch a broken rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (pip install -e '.[dev]')")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--no-cache", "--config", str(tree / ".importlinter")], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "sweepdoctor", tree / "sweepdoctor", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tree / ".importlinter")
    return tree


def _add_line(path: Path, line: str) -> None:
    text = path.read_text()
    marker = "from __future__ import annotations\n"
    path.write_text(text.replace(marker, marker + line + "\n", 1))


def test_the_package_keeps_every_contract(tmp_path: Path) -> None:
    r = _lint(_copy(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_a_private_import_across_packages_breaks_the_build(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    _add_line(tree / "sweepdoctor/cli/_render.py", "from sweepdoctor.studies.query._export import dumps_json  # noqa")
    r = _lint(tree)
    assert r.returncode == 1
    assert "sweepdoctor.cli._render -> sweepdoctor.studies.query._export" in r.stdout


def test_the_studies_rooms_keep_to_their_doors_and_their_order(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    studies = tree / "sweepdoctor/studies"
    _add_line(studies / "doctor/_examine.py", "from sweepdoctor.studies.query._records import Curves  # noqa")
    _add_line(studies / "db/_store.py", "from sweepdoctor.studies.query import Curves  # noqa")
    _add_line(tree / "sweepdoctor/cli/_studies.py", "from sweepdoctor.studies.db import Store  # noqa")
    r = _lint(tree)
    assert r.returncode == 1
    out = " ".join(r.stdout.split())  # the report wraps long lines
    assert "sweepdoctor.studies.doctor._examine -> sweepdoctor.studies.query._records" in out  # another room's module
    assert "sweepdoctor.studies.db is not allowed to import sweepdoctor.studies.query" in out  # up the layers
    assert "sweepdoctor.studies.doctor is not allowed to import sweepdoctor.studies.query" in out  # side by side
    assert "sweepdoctor.cli._studies -> sweepdoctor.studies.db" in out  # a room, not the package


def test_optuna_in_the_engine_and_a_cycle_break_the_build(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    _add_line(tree / "sweepdoctor/sweep/engine/_schedule.py", "import optuna  # noqa")
    _add_line(tree / "sweepdoctor/diagnostics/_findings.py", "from sweepdoctor.diagnostics import _report  # noqa")
    r = _lint(tree)
    assert r.returncode == 1
    assert "sweepdoctor.sweep.engine._schedule -> optuna" in r.stdout
    assert "No import cycles between the modules or subpackages of any package BROKEN" in r.stdout
