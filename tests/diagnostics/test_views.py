"""The study read in a minute, and one trial in depth (terminal and PNG)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from rich.console import Console

from sweepdoctor.diagnostics import (
    FindingCode,
    History,
    Report,
    StudySummary,
    TrialDetail,
    diagnose,
    write_curves_png,
)
from sweepdoctor.diagnostics.view import actions, evidence_line
from sweepdoctor.errors import ConfigError
from tests.diagnostics import scenarios


def render(obj: object, width: int = 120) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(obj)
    return buf.getvalue()


@pytest.fixture(scope="module")
def study() -> tuple[History, Report]:
    """30 trials: the six of the lr study, each repeated five times under new names."""
    h = scenarios.lr_study()
    trials = [dataclasses.replace(r, name=f"trial-{6 * k + i}", state="complete" if k % 2 == 0 else "pruned")
              for k in range(5) for i, r in enumerate(h.candidates)]
    big = dataclasses.replace(h, runs=(*trials, *h.baselines))
    return big, diagnose(big)


def test_the_study_report_fits_a_screen_and_groups_by_main_finding(study: tuple[History, Report]) -> None:
    _, report = study
    out = render(StudySummary(report, title="study lr"))
    lines = out.splitlines()
    assert len(lines) <= 60, len(lines)
    assert "study lr: 30 trials" in out
    assert "── divergence: main finding of 15 trial(s)" in out and "── healthy: main finding of 15 trial(s)" in out
    assert out.index("── divergence") < out.index("── healthy")  # problems first
    assert "where in the search space:" in out and "the most useful actions:" in out
    assert "1. divergence in 15 trial(s)" in out and "keep lr <= 0.1 in the search space" in out
    assert all(len(line) <= 120 for line in lines)


def test_all_shows_every_row_and_every_finding(study: tuple[History, Report]) -> None:
    _, report = study
    short = render(StudySummary(report))
    everything = render(StudySummary(report, everything=True))
    assert everything.count("complete ") + everything.count("pruned ") >= 30
    assert len(everything.splitlines()) > len(short.splitlines())


def test_evidence_lines_are_short_and_carry_numbers(study: tuple[History, Report]) -> None:
    _, report = study
    for r in report.candidates:
        line = evidence_line(r.findings[0])
        assert line and len(line) < 200 and any(ch.isdigit() for ch in line)


def test_actions_name_the_region_and_the_trials(study: tuple[History, Report]) -> None:
    _, report = study
    todo = actions(report)
    assert 1 <= len(todo) <= 3 and todo[0].startswith("divergence in 15 trial(s) (#3, #4, #5, …)")
    healthy_only = dataclasses.replace(report, runs=tuple(r for r in report.runs
                                                          if FindingCode.DIVERGENCE not in r.codes))
    assert actions(healthy_only) == []


def test_the_trial_in_depth_shows_folds_curves_and_all_evidence() -> None:
    s = scenarios.optimization_failure(0)
    report = diagnose(s.history)
    out = render(TrialDetail(report, s.run), width=160)
    assert "per fold" in out and "val best (epoch)" in out
    for panel in ("training loss", "validation loss", "gradient norm", "learning rate"):
        assert panel in out
    assert "baseline-shallow" in out and "confidence" in out and "evidence: " in out
    assert "relu instead of sigmoid" in " ".join(out.split())  # the advice, in full
    f = next(f for f in report.for_run(s.run) if f.code is FindingCode.OPTIMIZATION_FAILURE)
    assert f"reference_train_loss={f.evidence['reference_train_loss']:.4g}" in out


def test_the_png_has_the_same_curves(tmp_path: Path) -> None:
    s = scenarios.optimization_failure(0)
    run = next(r for r in s.history.runs if r.name == s.run)
    path = write_curves_png(run, s.history.baselines, tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match="--png: cannot write"):
        write_curves_png(run, s.history.baselines, tmp_path / "missing" / "c.png")
