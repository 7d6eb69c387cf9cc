"""Diagnosis wording that does not mislead: severity follows confidence, ``--worst`` says
what it ranks by, summaries are whole sentences (shown whole, at any width).

Each on real, seeded training runs (``_training.py``): one with the problem, a healthy one.
"""

from __future__ import annotations

import functools
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from sweepdoctor.cli import main
from sweepdoctor.diagnostics import FindingCode, History, Report, Severity, TrialDetail, diagnose
from tests.diagnostics import scenarios
from tests.diagnostics._training import Config, baselines, history, train_run
from tests.diagnostics.test_scenarios import Problems

# RMSprop at lr=0.2 on digits: the training loss blows up past 300 in both folds, then
# recovers to a fair accuracy. The explosion is real but weak evidence of a run that failed.
SPIKE = Config(depth=2, width=64, optimizer="rmsprop", lr=0.2, epochs=15)
GOOD = Config(depth=2, width=64, optimizer="adam", lr=3e-3, epochs=15, patience=5)


@functools.lru_cache(maxsize=1)
def spiked_and_healthy() -> History:
    data = scenarios.digits()
    spiked, _ = train_run("trial-0", data, SPIKE, loss="cross_entropy")
    good, _ = train_run("trial-1", data, GOOD, loss="cross_entropy")
    return history(data, "cross_entropy", [spiked, good, *baselines(data, loss="cross_entropy")])


def _render(thing: object, width: int = 100) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(thing)
    return buf.getvalue()


def test_a_recovered_spike_is_no_error_and_a_healthy_run_no_problem() -> None:
    report = diagnose(spiked_and_healthy())
    spike = report.for_run("trial-0")[0]
    assert spike.code is FindingCode.DIVERGENCE and spike.evidence["max_train_loss"] > 50
    assert spike.confidence < report.thresholds.error_confidence
    assert spike.severity is not Severity.ERROR  # it read "error divergence, confidence 0.19" once
    assert [f.code for f in report.for_run("trial-1")] == [FindingCode.HEALTHY]


def test_severity_follows_confidence_in_every_real_run(problems: Problems) -> None:
    reports: list[Report] = [problems[name][1] for name in scenarios.PROBLEMS]
    reports.append(diagnose(spiked_and_healthy()))
    for report in reports:
        th = report.thresholds.error_confidence
        for f in report.findings:
            if f.severity is Severity.ERROR:
                assert f.confidence >= th, f
            if f.code is not FindingCode.HEALTHY and f.confidence < 0.25:
                assert f.severity is Severity.INFO, f
    nan = problems["divergence"][1].findings[0]  # NaN: certain, an error
    assert nan.severity is Severity.ERROR and nan.confidence == 1.0


def test_worst_says_what_it_ranks_by(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(spiked_and_healthy().dumps(), encoding="utf-8")
    help_text = CliRunner().invoke(main, ["diagnose", "--help"]).output
    assert "ranked by severity" in " ".join(help_text.split()) and "not by score" in " ".join(help_text.split())
    buf = io.StringIO()
    console = Console(file=buf, width=100, color_system=None)
    result = CliRunner().invoke(main, ["diagnose", "--history", str(path), "--worst", "1"], obj={"console": console})
    assert result.exit_code == 0, result.output
    out = " ".join(buf.getvalue().split())
    assert "the worst 1 of 2 candidate runs, ranked by their worst finding's severity" in out
    assert "#0" in out and "#1" not in out  # the spiked run, not the healthy one


def test_summaries_are_whole_sentences_and_shown_whole(problems: Problems) -> None:
    s, report = problems["overfitting"]
    f = next(f for f in report.for_run(s.run) if f.code is FindingCode.OVERFITTING)
    assert not re.search(r"\b(since|at|of|to|vs|from|by|and|with|than)$", f.summary), f.summary
    assert f"at epoch {f.evidence['best_epoch']}, then val loss rose" in f.summary
    for name in scenarios.PROBLEMS:
        for finding in problems[name][1].findings:
            assert not finding.summary.rstrip().endswith(("since", "…", "...", ",")), (name, finding.summary)
    for width in (60, 100):
        shown = " ".join(_render(TrialDetail(report, s.run), width).split())
        assert " ".join(f.summary.split()) in shown  # wrapped, never cut
    healthy = diagnose(spiked_and_healthy()).for_run("trial-1")[0]
    assert healthy.summary.endswith("no problem found")


@pytest.mark.parametrize("name", ["overfitting"])
def test_epochs_in_findings_are_numbered_from_one(problems: Problems, name: str) -> None:
    s, report = problems[name]
    f = next(f for f in report.for_run(s.run) if f.code is FindingCode.OVERFITTING)
    run = next(r for r in s.history.runs if r.name == s.run)
    best = [min(range(len(fold.epochs)), key=lambda i: fold.epochs[i].val_loss or float("inf")) + 1
            for fold in run.folds]  # the 1-based epoch of each fold's best validation loss
    assert min(best) <= f.evidence["best_epoch"] <= max(best)
