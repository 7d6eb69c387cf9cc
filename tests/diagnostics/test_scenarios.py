"""Each finding code on a real, seeded training run that shows the problem."""

from __future__ import annotations

import json

import pytest

from sweepdoctor.diagnostics import FindingCode, Report, Role, Severity
from tests.diagnostics import scenarios
from tests.diagnostics.conftest import Lazy

Problems = Lazy[str, tuple[scenarios.Scenario, Report]]

_COMPARISONS = {FindingCode.OPTIMIZATION_FAILURE, FindingCode.MODEL_BIAS, FindingCode.OSCILLATION,
                FindingCode.CRITICAL_POINT, FindingCode.SLOW_CONVERGENCE, FindingCode.MSE_FOR_CLASSIFICATION}


@pytest.mark.parametrize("name", list(scenarios.PROBLEMS))
def test_scenario_gets_its_code_and_no_contradiction(problems: Problems, name: str) -> None:
    s, report = problems[name]
    codes = {f.code for f in report.for_run(s.run)}
    assert s.expected in codes, (name, codes)
    assert not codes & s.forbidden, (name, codes & s.forbidden)


@pytest.mark.parametrize("name", list(scenarios.PROBLEMS))
def test_findings_cite_a_rule_and_carry_numbers(problems: Problems, name: str) -> None:
    s, report = problems[name]
    for f in report.findings:
        assert f.rule.startswith("rules.md §") and f.rule[-1] in "12345"
        assert f.advice and f.summary
        assert any(isinstance(v, (int, float)) for v in f.evidence.values()), f
        json.dumps(f.to_dict(), allow_nan=False)
    for r in report.runs:
        assert r.findings  # every run gets at least one finding
        if r.run.role is Role.BASELINE:  # references are not compared with themselves
            assert not r.codes & _COMPARISONS


def test_divergence_points_at_the_first_nonfinite_epoch(problems: Problems) -> None:
    s, report = problems["divergence"]
    (f,) = report.for_run(s.run)  # nothing else is said about a run that blew up
    assert f.severity is Severity.ERROR and f.rule == "rules.md §4"
    assert f.evidence["nonfinite_field"] in ("train_loss", "val_loss")
    assert f.evidence["nonfinite_epoch"] < 3
    assert "lr=50" in f.advice


def test_overfitting_names_the_early_stopping_epoch(problems: Problems) -> None:
    s, report = problems["overfitting"]
    f = next(f for f in report.for_run(s.run) if f.code is FindingCode.OVERFITTING)
    ev = f.evidence
    assert ev["train_loss"] < 0.01 < ev["best_val_loss"] < ev["final_val_loss"]
    assert ev["val_rise"] > 0.2
    assert 0 < ev["best_epoch"] < 150 and f"stop at epoch {ev['best_epoch']}" in f.advice
    assert "best val loss" in f.summary and f"at epoch {ev['best_epoch']}, then val loss rose" in f.summary
    assert f.summary.endswith("by the last epoch")  # a whole sentence (it once stopped at "since")


def test_optimization_failure_compares_with_a_model_the_net_contains(problems: Problems) -> None:
    s, report = problems["optimization_failure"]
    f = next(f for f in report.for_run(s.run) if f.code is FindingCode.OPTIMIZATION_FAILURE)
    assert f.evidence["reference"] in ("baseline-linear", "baseline-shallow")
    assert f.evidence["reference_depth"] < f.evidence["depth"] == 10
    assert f.evidence["reference_train_loss"] * 10 < f.evidence["train_loss"]


def test_model_bias_compares_with_a_more_flexible_model(problems: Problems) -> None:
    s, report = problems["model_bias"]
    f = next(f for f in report.for_run(s.run) if f.code is FindingCode.MODEL_BIAS)
    assert f.evidence["depth"] == 0 and f.evidence["reference_depth"] >= 1
    assert f.evidence["reference_train_loss"] * 5 < f.evidence["train_loss"]
    assert "depth" in f.advice and "width" in f.advice


def test_mismatch_reports_the_ratio(problems: Problems) -> None:
    s, report = problems["mismatch"]
    f = next(f for f in report.for_run(s.run) if f.code is FindingCode.MISMATCH)
    assert f.evidence["ratio"] >= 2 and f.evidence["test_loss"] > f.evidence["val_loss"]


def test_oscillation_and_critical_point_differ_by_gradient(problems: Problems) -> None:
    s, report = problems["oscillation"]
    osc = next(f for f in report.for_run(s.run) if f.code is FindingCode.OSCILLATION)
    s, report = problems["critical_point"]
    crit = next(f for f in report.for_run(s.run) if f.code is FindingCode.CRITICAL_POINT)
    assert osc.evidence["grad_ratio"] >= 0.5 and osc.evidence["up_fraction"] >= 0.3
    assert crit.evidence["grad_ratio"] <= 0.25
    assert osc.rule == crit.rule == "rules.md §2"
    assert "--hessian" in crit.advice


def test_slow_convergence_is_a_straight_fall(problems: Problems) -> None:
    s, report = problems["slow_convergence"]
    f = next(f for f in report.for_run(s.run) if f.code is FindingCode.SLOW_CONVERGENCE)
    assert f.evidence["down_fraction"] == 1.0 and f.evidence["grad_ratio"] > 0.5
    assert f.evidence["reference_train_loss"] < f.evidence["train_loss"]
    assert "lr=0.0001" in f.advice


def test_mse_for_classification_is_a_problem_when_stuck(problems: Problems) -> None:
    """Stuck: as severe as the optimization failure it causes (the run is at 9x the references)."""
    s, report = problems["mse_for_classification"]
    f = next(f for f in report.for_run(s.run) if f.code is FindingCode.MSE_FOR_CLASSIFICATION)
    assert f.severity is Severity.ERROR and f.evidence["stuck"] is True
    assert f.rule == "rules.md §5" and "cross_entropy" in f.advice
