"""The three most useful actions for a study: the weightiest main findings, each turned
into one change (to the search space where a pattern locates it, else to training).

A finding weighs 3 as an error, 2 as a warning, 1 as a note, counted once per trial on
its main finding; healthy trials weigh nothing.
"""

from __future__ import annotations

from collections import defaultdict

from sweepdoctor.diagnostics._findings import FindingCode, Severity
from sweepdoctor.diagnostics._report import Report
from sweepdoctor.diagnostics._study import Pattern
from sweepdoctor.diagnostics.view._lines import run_label

__all__ = ["actions"]

_WEIGHT = {Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 1}

# What to change in training when no search-space region locates the finding.
_FIX = {
    FindingCode.DIVERGENCE: "lower the learning rate (or clip gradients, add warmup)",
    FindingCode.OPTIMIZATION_FAILURE: "tune lr and optimizer: these train worse than a reference they can represent",
    FindingCode.MODEL_BIAS: "give the model more capacity (depth, width): a more flexible reference fits better",
    FindingCode.CRITICAL_POINT: "check the initialization and use momentum/adam; diagnose --trial N --hessian "
                                "(with --save-weights) tells a saddle from a minimum",
    FindingCode.SADDLE_POINT: "escape the saddle: momentum or adam, a larger lr with warmup",
    FindingCode.LOCAL_MINIMUM: "restart from another initialization or change the model",
    FindingCode.OSCILLATION: "lower the learning rate or add a decay schedule",
    FindingCode.SLOW_CONVERGENCE: "raise the learning rate (or its lower bound in the space) or train longer",
    FindingCode.OVERFITTING: "regularize: early stopping (patience > 0), weight decay or dropout, a smaller model",
    FindingCode.MISMATCH: "get training data like the test data (more of the same will not help)",
    FindingCode.MSE_FOR_CLASSIFICATION: "train classification with cross-entropy",
}


# The hyperparameters that can cause each finding (rules.md): a region of one of them is
# the change to make; a region of another parameter is more likely a coincidence.
_CAUSES = {
    FindingCode.DIVERGENCE: ("lr", "optimizer", "schedule", "batch_size"),
    FindingCode.OSCILLATION: ("lr", "optimizer", "schedule", "batch_size", "momentum"),
    FindingCode.SLOW_CONVERGENCE: ("lr", "schedule", "optimizer"),
    FindingCode.OPTIMIZATION_FAILURE: ("lr", "optimizer", "schedule", "activation", "depth"),
    FindingCode.CRITICAL_POINT: ("lr", "optimizer", "activation", "depth", "schedule"),
    FindingCode.OVERFITTING: ("weight_decay", "dropout", "patience", "width", "depth", "lr"),
    FindingCode.MODEL_BIAS: ("depth", "width", "weight_decay", "dropout"),
}


def _pattern_for(report: Report, code: FindingCode) -> Pattern | None:
    """The search-space region of ``code`` over one of its causes, else its strongest region."""
    found = [p for p in report.patterns if p.code is code]
    causes = _CAUSES.get(code, ())
    return next((p for p in found if p.parameter in causes), found[0] if found else None)


def _region_fix(p: Pattern) -> str:
    value = f"{p.value:.4g}" if isinstance(p.value, float) else str(p.value)
    if p.op == "==":
        return f"drop {p.parameter}={value} from the search space"
    keep = "<=" if p.op == ">" else ">"
    return f"keep {p.parameter} {keep} {value} in the search space"


def actions(report: Report, *, n: int = 3) -> list[str]:
    """Up to ``n`` actions, the weightiest first, each naming how many trials it concerns."""
    weight: dict[FindingCode, int] = defaultdict(int)
    trials: dict[FindingCode, list[str]] = defaultdict(list)
    for r in report.candidates:
        main = r.findings[0]
        if main.code is FindingCode.HEALTHY:
            continue
        weight[main.code] += _WEIGHT[main.severity]
        trials[main.code].append(run_label(r.run))
    out = []
    for code in sorted(weight, key=lambda k: -weight[k])[:n]:
        names = trials[code]
        where = _pattern_for(report, code)
        examples = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        head = f"{code.value} in {len(names)} trial(s) ({examples}): "
        if where is not None:
            out.append(head + f"{_region_fix(where)} ({where.summary})")
        else:
            out.append(head + _FIX.get(code, "see sweepdoctor rules " + code.value))
    return out
