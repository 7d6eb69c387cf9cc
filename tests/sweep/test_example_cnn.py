"""examples/cnn_sweep.py runs as documented (with --quick: tiny budgets)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cnn_sweep.py"


def test_the_cnn_example_runs(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(EXAMPLE), "--quick", "--out", str(tmp_path)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    assert "built-in CNN: best CV accuracy" in out and "my CNN:" in out
    assert "1-D conv net: best CV accuracy" in out and "refit model in" in out


def test_the_streaming_example_runs(tmp_path: Path) -> None:
    example = EXAMPLE.parent / "stream_dataset.py"
    r = subprocess.run([sys.executable, str(example), "--quick", "--out", str(tmp_path)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "streamed CNN: best CV accuracy" in r.stdout and "over 2 trials" in r.stdout
