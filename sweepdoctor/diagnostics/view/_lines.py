"""One line of evidence per finding, a run's label and score: the cells of the study table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweepdoctor.diagnostics._findings import Finding, FindingCode
from sweepdoctor.diagnostics._history import RunHistory
from sweepdoctor.diagnostics._report import run_score

__all__ = ["evidence_line", "run_label", "score_of"]


def run_label(run: RunHistory) -> str:
    """``#17`` for ``trial-17``, else the run's name."""
    prefix, _, number = run.name.rpartition("-")
    return f"#{number}" if prefix == "trial" and number.isdigit() else run.name


def score_of(run: RunHistory) -> float | None:
    """The stored cross-validation score, else the fold mean of the last recorded validation
    metric; ``None`` for a failed run (the same number as ``--json``'s ``score``)."""
    return run_score(run)


def _g(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else "n/a"


def _folds(ev: Mapping[str, Any], f: Finding) -> str:
    agree = ev.get("folds_agree")
    if agree is None:
        return ""
    return f", {agree}/{ev['folds']} folds" if ev.get("folds") else f", {agree} fold(s) agree"


def _reference(ev: Mapping[str, Any]) -> str:
    at = f" after {ev['reference_epoch']} epochs" if ev.get("reference_epoch") else ""
    ratio = f" ({_g(ev['loss_ratio'])}x)" if ev.get("loss_ratio") else ""
    return f"train {_g(ev.get('train_loss'))} vs {ev.get('reference')} {_g(ev.get('reference_train_loss'))}{at}{ratio}"


def _grad(ev: Mapping[str, Any]) -> str:
    ref = f" (references {_g(ev['reference_grad_to_loss'])})" if ev.get("reference_grad_to_loss") is not None else ""
    return f"grad/loss {_g(ev.get('grad_to_loss'))}{ref}"


def evidence_line(f: Finding) -> str:
    """The numbers that carry ``f``, in one short line."""
    ev = f.evidence
    code = f.code
    if code in (FindingCode.OPTIMIZATION_FAILURE, FindingCode.MODEL_BIAS):
        return _reference(ev) + _folds(ev, f)
    if code is FindingCode.CRITICAL_POINT:
        stuck = "never moved" if ev.get("never_moved") else "stalled"
        return f"loss {stuck} at {_g(ev.get('train_loss'))}, {_grad(ev)}" + _folds(ev, f)
    if code is FindingCode.OSCILLATION:
        return (f"loss stalled at {_g(ev.get('train_loss'))}, {_g(100 * ev.get('up_fraction', 0))}% of late "
                f"steps up, grad kept {_g(ev.get('grad_ratio'))} of start")
    if code is FindingCode.SLOW_CONVERGENCE:
        if ev.get("never_moved"):
            return f"loss never moved ({_g(ev.get('train_loss'))}), {_grad(ev)}, lr at end {_g(ev.get('lr_final'))}"
        return (f"train {_g(ev.get('train_loss'))} still falling ({_g(100 * (ev.get('down_fraction') or 0))}% steps "
                f"down) vs {ev.get('reference') or 'reference'} {_g(ev.get('reference_train_loss'))}, "
                f"lr at end {_g(ev.get('lr_final'))}")
    if code is FindingCode.OVERFITTING:
        line = f"train {_g(ev.get('train_loss'))}, val best {_g(ev.get('best_val_loss'))}"
        if ev.get("val_rise") is not None and ev.get("best_epoch") is not None:
            line += f" at epoch {ev['best_epoch']}, final {_g(ev.get('final_val_loss'))}"
        if ev.get("reference"):
            line += f"; {ev['reference']} val {_g(ev.get('reference_val_loss'))}"
        return line
    if code is FindingCode.MISMATCH:
        return f"test loss {_g(ev.get('test_loss'))} = {_g(ev.get('ratio'))}x val {_g(ev.get('val_loss'))}"
    if code in (FindingCode.SADDLE_POINT, FindingCode.LOCAL_MINIMUM):
        return (f"Hessian eigenvalues {_g(ev.get('min_eigenvalue'))} … {_g(ev.get('max_eigenvalue'))}, "
                f"grad {_g(ev.get('grad_norm'))}")
    if code is FindingCode.HEALTHY:
        return f"train {_g(ev.get('train_loss'))}, val {_g(ev.get('best_val_loss'))}"
    return f.summary
