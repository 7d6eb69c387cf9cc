"""Verdicts a person can trust: runs stuck from their first epoch are critical points, pruned
and short runs are judged on their own epochs against the references at the same epoch,
every finding says how strong its evidence is, advice fits the run's own settings."""

from __future__ import annotations

import dataclasses

import pytest

from sweepdoctor.diagnostics import (
    FindingCode,
    FoldHistory,
    History,
    Report,
    RunHistory,
    Severity,
    diagnose,
    hessian_analysis,
)
from tests.diagnostics import scenarios
from tests.diagnostics._training import loss_function
from tests.diagnostics.test_healthy import Healthy
from tests.diagnostics.test_scenarios import Problems


@pytest.fixture(scope="module")
def zero_init() -> tuple[scenarios.Scenario, Report]:
    s = scenarios.zero_init(0)
    return s, diagnose(s.history)


@pytest.fixture(scope="module")
def product() -> tuple[History, object, object, object]:
    return scenarios.product_at_origin(0)


# ---- stuck from the first epoch (rules.md §2 on scale) ------------------------------------


def test_an_mlp_whose_weights_all_start_at_zero_is_a_critical_point(zero_init: tuple[scenarios.Scenario, Report]
                                                                    ) -> None:
    s, report = zero_init
    findings = report.for_run(s.run)
    main = findings[0]
    assert main.code is FindingCode.CRITICAL_POINT, [(f.code, f.summary) for f in findings]
    assert not {f.code for f in findings} & s.forbidden
    ev = main.evidence
    # the loss sits at the class-prior entropy (ln 10 on digits) and never moves
    assert ev["never_moved"] is True and 2.2 < ev["train_loss"] < 2.31
    # the gradient is tiny next to the loss, and next to the references' at the same epoch
    assert ev["grad_to_loss"] < 0.01 and ev["grad_to_loss"] < 0.1 * ev["reference_grad_to_loss"]
    assert main.confidence >= 0.6 and main.severity is Severity.ERROR  # a finished run at chance level
    assert "re-initialize" in main.advice


def test_w1_w2_x_at_the_origin_is_a_critical_point_and_a_saddle_with_the_hessian(
    product: tuple[History, object, object, object],
) -> None:
    h, model, X, y = product
    (f,) = diagnose(h).for_run("candidate")  # no baselines: the scale of the loss decides alone
    assert f.code is FindingCode.CRITICAL_POINT
    assert f.evidence["grad_to_loss"] == 0.0 and f.evidence["never_moved"] is True
    report = hessian_analysis(model, loss_function(h.task, "mse"), X, y)
    codes = [f.code for f in diagnose(h, hessians={"candidate": report}).for_run("candidate")]
    assert codes[0] is FindingCode.SADDLE_POINT and FindingCode.HEALTHY not in codes


def test_a_loss_that_never_moved_is_never_healthy(product: tuple[History, object, object, object]) -> None:
    h, *_ = product
    (run,) = h.runs
    # the same flat curve with a gradient that is not small: the steps are too small
    flat = tuple(FoldHistory(tuple(dataclasses.replace(e, grad_norm=1.0) for e in f.epochs)) for f in run.folds)
    codes = [f.code for f in diagnose(dataclasses.replace(h, runs=(dataclasses.replace(run, folds=flat),)))
             .for_run("candidate")]
    assert codes == [FindingCode.SLOW_CONVERGENCE]


@pytest.mark.parametrize("name", ["digits-adam", "cancer-adam", "friedman-sgd", "circles-tanh"])
def test_healthy_runs_keep_a_gradient_above_the_scale_threshold(healthy_runs: Healthy, name: str) -> None:
    """The scale test would not call them stuck even if their loss were large."""
    from sweepdoctor.diagnostics import Thresholds
    from sweepdoctor.diagnostics._evidence import gather

    h, _ = healthy_runs[name]
    ev = gather(next(r for r in h.runs if r.name == name), h, Thresholds())
    assert ev.grad_to_loss is not None and ev.grad_to_loss > 2 * Thresholds().grad_loss_ratio
    assert not ev.grad_small_on_scale and not ev.never_moved


# ---- pruned and short runs ------------------------------------------------------------------


def _cut(run: RunHistory, epochs: int, state: str = "pruned") -> RunHistory:
    folds = tuple(dataclasses.replace(f, epochs=f.epochs[:epochs]) for f in run.folds)
    return dataclasses.replace(run, folds=folds, state=state)


def test_a_pruned_curve_is_compared_with_the_references_at_the_same_epoch(problems: Problems) -> None:
    s, full = problems["optimization_failure"]
    runs = tuple(_cut(r, 3) if r.name == s.run else r for r in s.history.runs)
    findings = diagnose(dataclasses.replace(s.history, runs=runs)).for_run(s.run)
    assert all(f.severity is not Severity.ERROR for f in findings)
    f = next(f for f in findings if f.code is FindingCode.OPTIMIZATION_FAILURE)
    assert f.evidence["reference"] == "baseline-shallow" and f.evidence["reference_epoch"] == 3
    assert "pruned after 3 epochs" in f.summary and "after 3 epochs was" in f.summary
    whole = next(x for x in full.for_run(s.run) if x.code is FindingCode.OPTIMIZATION_FAILURE)
    assert f.confidence < whole.confidence and whole.severity is Severity.ERROR


def test_a_pruned_run_that_diverged_is_still_an_error(problems: Problems) -> None:
    s, _ = problems["divergence"]
    runs = tuple(_cut(r, 3) if r.name == s.run else r for r in s.history.runs)
    (f,) = diagnose(dataclasses.replace(s.history, runs=runs)).for_run(s.run)
    assert f.code is FindingCode.DIVERGENCE and f.severity is Severity.ERROR and f.confidence == 1.0


def test_the_linear_fit_is_no_reference_for_a_pruned_run(problems: Problems) -> None:
    s, _ = problems["optimization_failure"]
    runs = tuple(_cut(r, 2) if r.name == s.run else r for r in s.history.runs)
    findings = diagnose(dataclasses.replace(s.history, runs=runs)).for_run(s.run)
    assert all(f.evidence.get("reference") != "baseline-linear" for f in findings)


# ---- confidence and advice --------------------------------------------------------------------


def test_every_finding_carries_a_confidence(problems: Problems) -> None:
    for name in scenarios.PROBLEMS:
        _, report = problems[name]
        for f in report.findings:
            assert 0.0 <= f.confidence <= 1.0 and f.to_dict()["confidence"] == f.confidence


def test_the_cause_leads_and_weighs_as_much_as_the_failure(problems: Problems) -> None:
    for name in ("critical_point", "oscillation", "slow_convergence", "mse_for_classification"):
        s, report = problems[name]
        findings = report.for_run(s.run)
        assert findings[0].code is s.expected, (name, [f.code for f in findings])
        failure = next(f for f in findings if f.code is FindingCode.OPTIMIZATION_FAILURE)
        # the failure's severity, as far as the cause's own confidence carries it (never an error below it)
        if findings[0].confidence >= report.thresholds.error_confidence or failure.severity is not Severity.ERROR:
            assert findings[0].severity is failure.severity, name
        else:
            assert findings[0].severity is Severity.WARNING, name


def test_advice_fits_the_runs_own_settings(problems: Problems, zero_init: tuple[scenarios.Scenario, Report]) -> None:
    s, report = problems["optimization_failure"]  # sigmoid + sgd
    f = next(f for f in report.for_run(s.run) if f.code is FindingCode.OPTIMIZATION_FAILURE)
    assert "relu instead of sigmoid" in f.advice and "try adam" in f.advice
    s, report = zero_init  # relu + sgd
    for f in report.for_run(s.run):
        assert "relu instead of" not in f.advice
    s, report = problems["critical_point"]
    relabelled = [dataclasses.replace(r, hyperparameters={**r.hyperparameters, "optimizer": "adam"})
                  if r.name == s.run else r for r in s.history.runs]
    for f in diagnose(dataclasses.replace(s.history, runs=tuple(relabelled))).for_run(s.run):
        assert "try adam" not in f.advice and "momentum or adam" not in f.advice

