"""How strong a finding's evidence is, how severe the finding, and which one leads.

``confidence`` multiplies three parts, each in [0, 1]: how far the evidence is past
its threshold (the margin: 1 at the threshold gives 0.5, twice the threshold 0.75),
the share of folds that agree, and how many epochs support it (a curve of
``confident_epochs`` or more counts fully). ``grade`` turns a confidence and the
impact on the score into a severity; ``main_first`` orders a run's findings so that
the first is the one to act on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity

__all__ = ["NOTE_BELOW", "PRIORITY", "by_confidence", "confidence", "grade", "main_first", "margin_part"]

# Evidence weaker than this is a note (info), whatever it is evidence of.
NOTE_BELOW = 0.25

# Which finding leads: what blew up, then the loss choice, then why the training got
# stuck (the cause to act on), then what the comparison with the references shows,
# then the validation side. Notes (info) come after every warning and error.
PRIORITY: tuple[FindingCode, ...] = (
    FindingCode.DIVERGENCE,
    FindingCode.MSE_FOR_CLASSIFICATION,
    FindingCode.SADDLE_POINT,
    FindingCode.LOCAL_MINIMUM,
    FindingCode.CRITICAL_POINT,
    FindingCode.OSCILLATION,
    FindingCode.SLOW_CONVERGENCE,
    FindingCode.OPTIMIZATION_FAILURE,
    FindingCode.MODEL_BIAS,
    FindingCode.OVERFITTING,
    FindingCode.MISMATCH,
    FindingCode.SHARP_MINIMUM,
    FindingCode.HEALTHY,
)


def margin_part(margin: float | None) -> float:
    """0.5 at the threshold (margin 1), 0.75 at twice it, towards 1 far past it; 0.5 when unknown."""
    if margin is None or math.isnan(margin):
        return 0.5
    return 1.0 - 0.5 / max(margin, 1.0)


def confidence(*, margin: float | None, agree: int, folds: int, epochs: int, full_epochs: int) -> float:
    """How strong the evidence is, in [0, 1], rounded to 2 digits."""
    fold_part = agree / folds if folds else 0.0
    epoch_part = min(1.0, epochs / full_epochs) if full_epochs else 1.0
    return round(margin_part(margin) * fold_part * epoch_part, 2)


def grade(*, conf: float, impact: float | None, pruned: bool, th_conf: float, th_impact: float) -> Severity:
    """Error for strong evidence of a large impact on a finished run; info for weak evidence.

    ``impact`` is how many times the reference's training loss the run ends at (``None``
    when nothing measures it). A pruned run never weighs on the study's best score: a
    warning at most.
    """
    if conf < NOTE_BELOW:
        return Severity.INFO
    if pruned or impact is None or conf < th_conf or impact < th_impact:
        return Severity.WARNING
    return Severity.ERROR


def by_confidence(severity: Severity, conf: float, *, th_conf: float) -> Severity:
    """``severity``, capped by the strength of its evidence: an error needs ``th_conf``, a
    warning :data:`NOTE_BELOW`; weaker evidence is a note, whatever the rule said."""
    if conf < NOTE_BELOW:
        return Severity.INFO
    if severity is Severity.ERROR and conf < th_conf:
        return Severity.WARNING
    return severity


def main_first(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """The findings, the one to act on first: notes (info) last, otherwise by ``PRIORITY``."""
    def key(f: Finding) -> tuple[bool, int]:
        return f.severity is Severity.INFO, PRIORITY.index(f.code)

    return tuple(sorted(findings, key=key))
