"""``diagnose(history)``: every rule over every run, then the study level; a :class:`Report`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from sweepdoctor.diagnostics._evidence import RunEvidence, gather
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._grading import by_confidence, main_first
from sweepdoctor.diagnostics._history import History, Role, RunHistory
from sweepdoctor.diagnostics._report import Report, RunReport
from sweepdoctor.diagnostics._rules import Mismatch, ModelBias, OptimizationFailure, Overfitting, Rule, healthy
from sweepdoctor.diagnostics._rules_optim import (
    CriticalPoint,
    Divergence,
    MseForClassification,
    Oscillation,
    SlowConvergence,
)
from sweepdoctor.diagnostics._study import find_patterns, sharp_minimum
from sweepdoctor.diagnostics._thresholds import Thresholds
from sweepdoctor.diagnostics.hessian import HessianReport, hessian_findings
from sweepdoctor.diagnostics.valcurve import has_train_curve, val_findings

__all__ = ["CANDIDATE_RULES", "BASELINE_RULES", "diagnose"]

# In order: the loss-choice note, then §1's comparison, then §2-4's why, then §1's
# validation-side rules. Divergence is checked first and alone (nothing else is
# meaningful about a run that blew up).
CANDIDATE_RULES: tuple[Rule, ...] = (
    MseForClassification(),
    OptimizationFailure(),
    ModelBias(),
    Oscillation(),
    CriticalPoint(),
    SlowConvergence(),
    Overfitting(),
    Mismatch(),
)
# Baselines are references, not candidates: only their own curves are judged.
BASELINE_RULES: tuple[Rule, ...] = (Overfitting(), Mismatch())


# Why the training got stuck: these explain the same gap to the references as an
# optimization failure, so they weigh as much on the score.
_WHY = frozenset({FindingCode.CRITICAL_POINT, FindingCode.OSCILLATION, FindingCode.SLOW_CONVERGENCE,
                  FindingCode.MSE_FOR_CLASSIFICATION})
_ORDER = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


def _weigh_causes(found: list[Finding]) -> list[Finding]:
    """A cause of an optimization failure (a warning or more) takes the failure's severity."""
    failure = next((f for f in found if f.code is FindingCode.OPTIMIZATION_FAILURE), None)
    if failure is None:
        return found
    return [
        replace(f, severity=failure.severity)
        if f.code in _WHY and f.severity is not Severity.INFO and _ORDER[f.severity] < _ORDER[failure.severity]
        else f
        for f in found
    ]


def _graded(found: Sequence[Finding], th: Thresholds) -> tuple[Finding, ...]:
    """Severity follows confidence: weak evidence is never an error (a note when very weak)."""
    out = [replace(f, severity=by_confidence(f.severity, f.confidence, th_conf=th.error_confidence)) for f in found]
    return main_first(out)


def _pruned_note(run: RunHistory, found: Sequence[Finding]) -> tuple[Finding, ...]:
    """Say so on a pruned run's findings: the curve stops where the pruner stopped it."""
    if run.state != "pruned":
        return tuple(found)
    n = max((len(f.epochs) for f in run.folds), default=0)
    note = f" (pruned after {n} epochs)"
    return tuple(f if "pruned after" in f.summary else replace(f, summary=f.summary + note) for f in found)


def _run_findings(ev: RunEvidence, rules: tuple[Rule, ...], hessian: HessianReport | None) -> tuple[Finding, ...]:
    divergence = Divergence().check(ev)
    if divergence is not None:
        return (divergence,)
    found = _weigh_causes([f for rule in rules if (f := rule.check(ev)) is not None])
    found = list(_pruned_note(ev.run, found))
    if hessian is not None:
        from_hessian = hessian_findings(hessian, run=ev.run.name)
        if from_hessian:  # the Hessian decides what kind of critical point it is
            found = [f for f in found if f.code is not FindingCode.CRITICAL_POINT]
        if not found and all(f.severity is Severity.INFO for f in from_hessian):
            found.append(healthy(ev))  # a local minimum of a run that trained fine is a note
        found.extend(from_hessian)
    if not found:
        found.append(healthy(ev))
    return main_first(found)


def diagnose(
    history: History,
    *,
    thresholds: Thresholds | None = None,
    hessians: Mapping[str, HessianReport] | None = None,
    sharpness: Mapping[str, float] | None = None,
) -> Report:
    """Diagnose every run of ``history`` and the study as a whole (``rules.md``).

    Candidates are compared with the history's baseline runs (rules.md §1), at the
    candidate's last epoch; every candidate gets at least one finding (``healthy`` when
    no rule fires), the one to act on first. ``hessians``
    maps run names to :func:`hessian_analysis` results at the run's final weights:
    they decide the kind of critical point (saddle, local minimum) and give the
    sharpness the study-level ``sharp_minimum`` rule compares across batch sizes.
    ``sharpness`` adds top eigenvalues measured alone (:func:`top_eigenvalue`).
    """
    if not isinstance(history, History):
        raise TypeError(
            f"diagnose() takes a History, got {type(history).__name__}; "
            "parse a document with History.from_dict(doc) or read a file with History.load(path)"
        )
    th = thresholds or Thresholds()
    hessians = hessians or {}
    reports = []
    for run in history.runs:
        if not has_train_curve(run):  # a plain Optuna trial: its validation curve alone (valcurve/)
            reports.append(RunReport(run, _graded(_pruned_note(run, val_findings(run, th)), th)))
            continue
        ev = gather(run, history, th)
        rules = CANDIDATE_RULES if run.role is Role.CANDIDATE else BASELINE_RULES
        reports.append(RunReport(run, _graded(_run_findings(ev, rules, hessians.get(run.name)), th)))
    candidates = [r for r in reports if r.run.role is Role.CANDIDATE]
    study: list[Finding] = []
    sharp = sharp_minimum(
        [r.run for r in candidates], {**{k: v.sharpness for k, v in hessians.items()}, **(sharpness or {})}, th
    )
    if sharp is not None:
        study.append(sharp)
    patterns = find_patterns({r.run.name: r.codes for r in candidates}, [r.run for r in candidates], th)
    return Report(history, tuple(reports), tuple(study), tuple(patterns), th)
