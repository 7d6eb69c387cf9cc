"""``sweep --config`` with a bad value: exit 2, one ``error:`` line naming the key, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sweepdoctor.cli import main

SPACE = "[data]\ndataset = 'iris'\n[space]\noptimizer = ['adam', 'sgd']\nlr = {low = 1e-5, high = 0.3, log = true}\n"


@pytest.mark.parametrize(
    "toml, named",
    [
        (SPACE + "optimizer_lr = {adam = {low = 'abc', high = 1e-2}}\n", "space.optimizer_lr.adam.low"),
        (SPACE + "optimizer_lr = {adam = {low = 1e-4, high = 1e-2, log = 'no'}}\n", "space.optimizer_lr.adam.log"),
        (SPACE + "optimizer_lr = {sgd = {low = 1e-1, high = 1e-3}}\n", "space.optimizer_lr.sgd.low"),
        (SPACE + "weight_decay = {low = 1e-5, high = 1e-2, include_zero = 'yes'}\n", "space.weight_decay.include_zero"),
        ("[data]\ndataset = 'irsi'\n", "data.dataset"),
        ("[data]\ndataset = 'iris'\n[thresholds]\noverfit_val_rise = inf\n", "thresholds.overfit_val_rise"),
    ],
)
def test_a_bad_config_value_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str,
                                                  named: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWEEPDOCTOR_STORAGE", raising=False)
    (tmp_path / "sweep.toml").write_text(toml, encoding="utf-8")
    result = CliRunner().invoke(main, ["sweep", "--config", "sweep.toml", "--storage", f"sqlite:///{tmp_path}/s.db"])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith(f"error: {named}"), result.stderr
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.toml"], "a file was written"
