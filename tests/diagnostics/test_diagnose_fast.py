"""``diagnose`` and its steps on hand-made findings, evidence and histories (no training)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sweepdoctor.diagnostics import History, Role, RunHistory, Task, diagnose
from sweepdoctor.diagnostics._diagnose import _graded, _pruned_note, _run_findings, _weigh_causes
from sweepdoctor.diagnostics._evidence import NonFinite, RunEvidence
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._rules import Rule
from sweepdoctor.diagnostics._study import find_patterns, sharp_minimum
from sweepdoctor.diagnostics._thresholds import Thresholds
from sweepdoctor.diagnostics.hessian import HessianReport, PointKind
from tests.diagnostics._handmade import evidence, fold, run

C, NOTE, W, E = FindingCode, Severity.INFO, Severity.WARNING, Severity.ERROR


def finding(code: FindingCode, severity: Severity = W, confidence: float = 1.0, summary: str = "s") -> Finding:
    return Finding(code, severity, "rules.md §1", summary, "a", run="cand", confidence=confidence)


class Fixed(Rule):
    """A rule that always makes the same finding (the rules themselves have their own tests)."""

    code = FindingCode.OVERFITTING
    section = "rules.md §1"

    def __init__(self, made: Finding) -> None:
        self.made = made

    def check(self, ev: RunEvidence) -> Finding | None:
        return self.made


def hessian(kind: PointKind, lo: float = -1.0, hi: float = 2.0) -> HessianReport:
    escape = np.array([1.0, 0.0]) if kind is PointKind.SADDLE_POINT else None
    return HessianReport(2, "exact", 0.5, 0.0, np.array([lo, hi]), np.eye(2), 0.5, True, kind, escape,
                         lo if escape is not None else None, None, 1e-6, 1e-3, 4, 0.0)


# ---- weighing, grading, the pruned note ------------------------------------------


def test_causes_take_a_worse_failures_severity() -> None:
    found = [finding(C.OPTIMIZATION_FAILURE, E), finding(C.OSCILLATION, W), finding(C.CRITICAL_POINT, NOTE),
             finding(C.OVERFITTING, W), finding(C.SLOW_CONVERGENCE, E), finding(C.MSE_FOR_CLASSIFICATION, W),
             finding(C.SLOW_CONVERGENCE, W)]
    assert [f.severity for f in _weigh_causes(found)] == [E, E, NOTE, W, E, E, E]
    assert _weigh_causes(found)[1] == replace(found[1], severity=E)
    warn = [finding(C.OSCILLATION, W), finding(C.OPTIMIZATION_FAILURE, W), finding(C.CRITICAL_POINT, W)]
    assert [f.severity for f in _weigh_causes(warn)] == [W, W, W]
    note = [finding(C.OPTIMIZATION_FAILURE, NOTE), finding(C.OSCILLATION, W)]
    assert [f.severity for f in _weigh_causes(note)] == [NOTE, W]
    alone = [finding(C.OSCILLATION, W)]
    assert _weigh_causes(alone) is alone


def test_graded_caps_severity_by_confidence_and_orders() -> None:
    found = [finding(C.OVERFITTING, E, 0.5), finding(C.MISMATCH, E, 0.6), finding(C.OSCILLATION, W, 0.24),
             finding(C.DIVERGENCE, E, 0.25)]
    out = _graded(found, Thresholds())
    assert [(f.code, f.severity) for f in out] == [(C.DIVERGENCE, W), (C.OVERFITTING, W), (C.MISMATCH, E),
                                                   (C.OSCILLATION, NOTE)]
    loose = _graded(found, Thresholds(error_confidence=0.5))
    assert [(f.code, f.severity) for f in loose][:2] == [(C.DIVERGENCE, W), (C.OVERFITTING, E)]


def test_pruned_note_names_the_longest_fold() -> None:
    found = [finding(C.OVERFITTING, summary="val rose"), finding(C.HEALTHY, summary="pruned after 2 epochs; ok")]
    pruned = run(state="pruned", curves=(fold([1.0] * 3), fold([1.0] * 5)))
    assert [f.summary for f in _pruned_note(pruned, found)] == ["val rose (pruned after 5 epochs)",
                                                                 "pruned after 2 epochs; ok"]
    assert _pruned_note(run(state="complete"), found) == tuple(found)
    empty = RunHistory("e", Role.CANDIDATE, (), state="pruned")
    assert _pruned_note(empty, found[:1])[0].summary == "val rose (pruned after 0 epochs)"


# ---- one run's findings ----------------------------------------------------------


def test_divergence_alone() -> None:
    ev = evidence(nonfinite=NonFinite(0, 3, "train_loss"))
    out = _run_findings(ev, (Fixed(finding(C.OVERFITTING)),), hessian(PointKind.SADDLE_POINT))
    assert [f.code for f in out] == [C.DIVERGENCE]


def test_no_finding_is_healthy() -> None:
    out = _run_findings(evidence(), (), None)
    assert [f.code for f in out] == [C.HEALTHY]
    out = _run_findings(evidence(), (Fixed(finding(C.OVERFITTING)),), None)
    assert [f.code for f in out] == [C.OVERFITTING]


def test_rules_are_weighed_noted_and_ordered() -> None:
    ev = evidence(run=run(state="pruned", curves=(fold([1.0] * 4),)))
    rules = (Fixed(finding(C.OSCILLATION, W)), Fixed(finding(C.OPTIMIZATION_FAILURE, E)))
    out = _run_findings(ev, rules, None)
    assert [(f.code, f.severity) for f in out] == [(C.OSCILLATION, E), (C.OPTIMIZATION_FAILURE, E)]
    assert all(f.summary == "s (pruned after 4 epochs)" for f in out)


def test_hessian_decides_the_critical_point() -> None:
    rules = (Fixed(finding(C.CRITICAL_POINT, W)),)
    saddle = _run_findings(evidence(), rules, hessian(PointKind.SADDLE_POINT))
    assert [f.code for f in saddle] == [C.SADDLE_POINT]
    assert saddle[0].run == "cand"
    # not critical: no Hessian finding, the curves' critical point stays
    assert [f.code for f in _run_findings(evidence(), rules, hessian(PointKind.NOT_CRITICAL, 1.0))] == [
        C.CRITICAL_POINT]
    # a local minimum of a run that trained fine: a note next to healthy
    minimum = _run_findings(evidence(), (), hessian(PointKind.LOCAL_MINIMUM, 1.0))
    assert [f.code for f in minimum] == [C.LOCAL_MINIMUM, C.HEALTHY]
    assert [f.code for f in _run_findings(evidence(), rules, hessian(PointKind.LOCAL_MINIMUM, 1.0))] == [
        C.LOCAL_MINIMUM, C.HEALTHY]
    with_problem = _run_findings(evidence(), (Fixed(finding(C.OVERFITTING)),), hessian(PointKind.LOCAL_MINIMUM, 1.0))
    assert [f.code for f in with_problem] == [C.OVERFITTING, C.LOCAL_MINIMUM]
    # a flat critical point is a warning: no healthy beside it
    flat = _run_findings(evidence(), (), hessian(PointKind.DEGENERATE, 0.0, 0.0))
    assert [f.code for f in flat] == [C.CRITICAL_POINT]
    assert [f.code for f in _run_findings(evidence(), (), hessian(PointKind.NOT_CRITICAL, 1.0))] == [C.HEALTHY]


# ---- the whole history -----------------------------------------------------------


def test_diagnose_takes_a_history() -> None:
    with pytest.raises(TypeError, match=r"^diagnose\(\) takes a History, got dict; parse a document with "
                       r"History\.from_dict\(doc\) or read a file with History\.load\(path\)$"):
        diagnose({"runs": []})  # type: ignore[arg-type]


def _falling(name: str, role: Role = Role.CANDIDATE, *, up: bool = False, **hp: object) -> RunHistory:
    train = [1.0, 2.0, 5.0] if up else [2.0, 1.0, 0.5]
    return RunHistory(name, role, (fold(train, [x + 0.5 for x in train]),), hyperparameters=dict(hp), depth=1)


def test_baselines_get_their_own_rules_and_val_only_runs_are_judged() -> None:
    cand, base = _falling("cand"), _falling("base", Role.BASELINE)
    no_train = fold([None] * 3, [3.0, 2.0, 1.0], lrs=[float("nan")] * 3)  # a plain Optuna trial's curve
    val_only = RunHistory("optuna", Role.CANDIDATE, (no_train,), state="pruned")
    history = History(Task.CLASSIFICATION, "mse", (val_only, cand, base))
    report = diagnose(history)
    assert report.history is history
    assert C.MSE_FOR_CLASSIFICATION in {f.code for f in report.for_run("cand")}  # a candidate-only rule
    assert [f.code for f in report.for_run("base")] == [C.HEALTHY]
    assert C.DIVERGENCE not in {f.code for f in report.for_run("optuna")}  # its validation curve alone
    assert report.for_run("optuna") and all("(pruned after 3 epochs)" in f.summary for f in report.for_run("optuna"))
    assert [r.run.name for r in report.runs] == ["optuna", "cand", "base"]
    assert report.thresholds == Thresholds()


def test_study_level_sharpness_from_both_maps() -> None:
    runs = []
    for i, (bs, gap) in enumerate([(16, 0.1), (16, 0.1), (256, 1.0), (256, 1.0)]):
        train = [2.0, 1.0, 0.5]
        runs.append(RunHistory(f"t{i}", Role.CANDIDATE, (fold(train, [x + gap for x in train]),),
                               hyperparameters={"batch_size": bs}, depth=1))
    history = History(Task.REGRESSION, "mse", tuple(runs))
    hessians = {"t0": hessian(PointKind.LOCAL_MINIMUM, 1.0, 1.0), "t2": hessian(PointKind.LOCAL_MINIMUM, 1.0, 50.0)}
    sharp = {"t1": 1.0, "t3": 60.0, "t0": 1.5}
    th = Thresholds()
    report = diagnose(history, hessians=hessians, sharpness=sharp)
    expected = sharp_minimum(runs, {"t0": 1.5, "t1": 1.0, "t2": 50.0, "t3": 60.0}, th)
    assert expected is not None and report.study_findings == (expected,)
    assert diagnose(history, hessians=hessians).study_findings == (
        sharp_minimum(runs, {"t0": 1.0, "t2": 50.0}, th),)
    assert diagnose(history).study_findings == ()
    assert report.patterns == tuple(find_patterns({r.run.name: r.codes for r in report.candidates}, runs, th))
    assert [f.code for f in report.for_run("t0")][0] is C.LOCAL_MINIMUM


def test_patterns_and_thresholds_pass_through() -> None:
    runs = tuple(_falling(f"b{i}", up=True, lr=1.0) for i in range(3)) + tuple(
        RunHistory(f"s{i}", Role.CANDIDATE, (fold([2.0, 1.0, 0.5], [2.1, 1.1, 0.6]),), hyperparameters={"lr": 0.01},
                   depth=1) for i in range(3))
    history = History(Task.REGRESSION, "mse", runs)
    report = diagnose(history)
    assert report.patterns and report.patterns == tuple(
        find_patterns({r.run.name: r.codes for r in report.candidates}, list(runs), Thresholds()))
    th = Thresholds(pattern_min_count=4)
    strict = diagnose(history, thresholds=th)
    assert strict.thresholds is th and strict.patterns == ()
