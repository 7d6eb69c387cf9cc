"""``diagnose(history)``: every rule over every run, then the study level; a :class:`Report`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sweepdoctor.diagnostics._evidence import RunEvidence, gather
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._hessian_report import hessian_findings
from sweepdoctor.diagnostics._history import History, Role, RunHistory
from sweepdoctor.diagnostics._rules import Mismatch, ModelBias, OptimizationFailure, Overfitting, Rule, healthy
from sweepdoctor.diagnostics._rules_optim import (
    CriticalPoint,
    Divergence,
    MseForClassification,
    Oscillation,
    SlowConvergence,
)
from sweepdoctor.diagnostics._study import Pattern, find_patterns, sharp_minimum
from sweepdoctor.diagnostics._thresholds import Thresholds

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

    from sweepdoctor.diagnostics._hessian_report import HessianReport

__all__ = ["CANDIDATE_RULES", "BASELINE_RULES", "Report", "RunReport", "diagnose"]

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

_RANK = {Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 1}


@dataclass(frozen=True)
class RunReport:
    """One run and its findings (at least one: ``healthy`` when nothing is wrong)."""

    run: RunHistory
    findings: tuple[Finding, ...]

    @property
    def codes(self) -> set[FindingCode]:
        return {f.code for f in self.findings}

    @property
    def badness(self) -> tuple[int, bool, int]:
        """Sort key for "worst first": the highest severity, divergence, the number of problems."""
        problems = [f for f in self.findings if f.code is not FindingCode.HEALTHY]
        severity = max((_RANK[f.severity] for f in problems), default=0)
        return severity, FindingCode.DIVERGENCE in self.codes, len(problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.run.name,
            "role": self.run.role.value,
            "state": self.run.state,
            "hyperparameters": dict(self.run.hyperparameters),
            "findings": [_finding_dict(f) for f in self.findings],
        }


@dataclass(frozen=True)
class Report:
    """The diagnosis of a history: per-run findings, study-level findings, patterns."""

    history: History
    runs: tuple[RunReport, ...]
    study_findings: tuple[Finding, ...]
    patterns: tuple[Pattern, ...]
    thresholds: Thresholds
    worst: int | None = None  # render only the worst N candidates

    @property
    def findings(self) -> list[Finding]:
        """Every finding: run-level in run order, then study-level (``run is None``)."""
        return [f for r in self.runs for f in r.findings] + list(self.study_findings)

    def for_run(self, name: str) -> list[Finding]:
        for r in self.runs:
            if r.run.name == name:
                return list(r.findings)
        raise KeyError(f"no run named {name!r} in this report; runs: {', '.join(r.run.name for r in self.runs)}")

    @property
    def candidates(self) -> list[RunReport]:
        return [r for r in self.runs if r.run.role is Role.CANDIDATE]

    def worst_runs(self, n: int | None = None) -> list[RunReport]:
        """Candidates, worst first (stable for ties); the first ``n`` when given."""
        ranked = sorted(self.candidates, key=lambda r: r.badness, reverse=True)
        return ranked if n is None else ranked[:n]

    def counts(self) -> dict[str, int]:
        """How many candidates carry each finding code."""
        counter: Counter[str] = Counter(c.value for r in self.candidates for c in r.codes)
        return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))

    def has_any(self, codes: Iterable[FindingCode]) -> bool:
        wanted = set(codes)
        return any(f.code in wanted for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.history.task.value,
            "loss": self.history.loss,
            "runs": [r.to_dict() for r in self.runs],
            "findings": [_finding_dict(f) for f in self.study_findings],
            "counts": self.counts(),
            "patterns": [p.to_dict() for p in self.patterns],
            "thresholds": self.thresholds.as_dict(),
        }

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from sweepdoctor.diagnostics._report import render

        yield from render(self)


def _finding_dict(f: Finding) -> dict[str, Any]:
    d = f.to_dict()
    d.pop("run")
    return d


def _run_findings(ev: RunEvidence, rules: tuple[Rule, ...], hessian: HessianReport | None) -> tuple[Finding, ...]:
    divergence = Divergence().check(ev)
    if divergence is not None:
        return (divergence,)
    found = [f for rule in rules if (f := rule.check(ev)) is not None]
    if ev.run.state == "pruned":  # say so: the curve stops where the pruner stopped it
        note = f" (pruned after {ev.n_epochs} epochs)"
        found = [replace(f, summary=f.summary + note) for f in found]
    if hessian is not None:
        from_hessian = hessian_findings(hessian, run=ev.run.name)
        if from_hessian:  # the Hessian decides what kind of critical point it is
            found = [f for f in found if f.code is not FindingCode.CRITICAL_POINT]
        if not found:
            found.append(healthy(ev))
        found.extend(from_hessian)
    if not found:
        found.append(healthy(ev))
    return tuple(found)


def diagnose(
    history: History,
    *,
    thresholds: Thresholds | None = None,
    hessians: Mapping[str, HessianReport] | None = None,
    sharpness: Mapping[str, float] | None = None,
) -> Report:
    """Diagnose every run of ``history`` and the study as a whole (RULES.md).

    Candidates are compared with the history's baseline runs (RULES.md §1); every
    candidate gets at least one finding (``healthy`` when no rule fires). ``hessians``
    maps run names to :func:`hessian_analysis` results at the run's final weights:
    they decide the kind of critical point (saddle, local minimum) and give the
    sharpness the study-level ``sharp_minimum`` rule compares across batch sizes.
    ``sharpness`` adds top eigenvalues measured alone (:func:`top_eigenvalue`).
    """
    th = thresholds or Thresholds()
    hessians = hessians or {}
    reports = []
    for run in history.runs:
        ev = gather(run, history, th)
        rules = CANDIDATE_RULES if run.role is Role.CANDIDATE else BASELINE_RULES
        reports.append(RunReport(run, _run_findings(ev, rules, hessians.get(run.name))))
    candidates = [r for r in reports if r.run.role is Role.CANDIDATE]
    study: list[Finding] = []
    sharp = sharp_minimum(
        [r.run for r in candidates], {**{k: v.sharpness for k, v in hessians.items()}, **(sharpness or {})}, th
    )
    if sharp is not None:
        study.append(sharp)
    patterns = find_patterns({r.run.name: r.codes for r in candidates}, [r.run for r in candidates], th)
    return Report(history, tuple(reports), tuple(study), tuple(patterns), th)
