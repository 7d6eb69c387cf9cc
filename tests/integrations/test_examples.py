"""The example scripts of docs/own-loop.md and docs/lightning.md run, and their studies are diagnosed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(script: str, tmp_path: Path, *args: str) -> str:
    url = f"sqlite:///{tmp_path / 'example.db'}"
    done = subprocess.run([sys.executable, str(EXAMPLES / script), "--storage", url, *args],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_own_optuna_loop(tmp_path: Path) -> None:
    out = _run("own_optuna_loop.py", tmp_path, "--trials", "3")
    assert "best accuracy" in out and "trial-0: divergence (error)" in out and "trial-2:" in out


@pytest.mark.skipif(importlib.util.find_spec("lightning") is None, reason="the [lightning] extra is not installed")
def test_lightning_loop(tmp_path: Path) -> None:
    out = _run("lightning_loop.py", tmp_path, "--trials", "2")
    assert "trial-0 (pruned): divergence (error)" in out and "trial-1 (complete)" in out
