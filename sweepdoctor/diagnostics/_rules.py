"""The training guide (RULES.md §1): overfitting, model bias, optimization failure, mismatch.

Each rule is one small class: ``check`` takes a run's evidence and returns a finding
or ``None``, deciding with a flat list of early returns that reads like the table in
RULES.md. The rules of §2-5 live in ``_rules_optim.py``.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from sweepdoctor.diagnostics._evidence import Reference, RunEvidence
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity

__all__ = [
    "Mismatch",
    "ModelBias",
    "OptimizationFailure",
    "Overfitting",
    "Rule",
    "fmt",
    "healthy",
]


def fmt(x: float | None) -> str:
    """A number for a sentence: 3 significant digits."""
    return "n/a" if x is None else f"{x:.3g}"


def sig(x: float | None, digits: int = 4) -> float | None:
    """A number for the evidence: rounded to ``digits`` significant digits."""
    return None if x is None else float(f"{x:.{digits}g}")


def hp_note(ev: RunEvidence, *keys: str) -> str:
    """``"lr=0.5, optimizer=sgd"`` for the hyperparameters of this run that exist."""
    hp = ev.hp
    return ", ".join(f"{k}={hp[k]:.3g}" if isinstance(hp[k], float) else f"{k}={hp[k]}" for k in keys if k in hp)


class Rule(abc.ABC):
    """One diagnosis rule: the evidence of one run in, a finding or ``None`` out."""

    code: ClassVar[FindingCode]
    section: ClassVar[str]  # the section of RULES.md the rule applies, e.g. "RULES.md §1"

    @abc.abstractmethod
    def check(self, ev: RunEvidence) -> Finding | None:
        """The finding this rule makes about the run, or ``None`` when it does not apply."""

    def finding(self, ev: RunEvidence, severity: Severity, summary: str, advice: str, **evidence: Any) -> Finding:
        return Finding(
            code=self.code,
            severity=severity,
            rule=self.section,
            summary=summary,
            advice=advice,
            evidence={k: sig(v) if isinstance(v, float) else v for k, v in evidence.items()},
            run=ev.run.name,
        )


class Overfitting(Rule):
    """Small training loss, validation loss rising after its minimum or clearly above a reference's."""

    code = FindingCode.OVERFITTING
    section = "RULES.md §1"

    def check(self, ev: RunEvidence) -> Finding | None:
        th = ev.thresholds
        if ev.train_final is None or ev.val_best is None or ev.val_final is None:
            return None
        if ev.train_final >= ev.val_best:
            return None  # the training loss is not small next to the validation loss
        rising = ev.val_rise is not None and ev.val_rise >= th.overfit_val_rise and ev.train_fell_after_best
        worse = [r for r in ev.references
                 if ev.val_best >= th.overfit_vs_reference * r.val_loss and ev.train_final <= r.train_loss]
        if not rising and not worse:
            return None
        stop = round(ev.val_best_epoch) if ev.val_best_epoch is not None else None
        summary = f"final train loss {fmt(ev.train_final)}, best val loss {fmt(ev.val_best)}"
        if rising:
            summary += f" at epoch {stop}, val loss {ev.val_rise:+.0%} since"
        if worse:
            summary += f"; {worse[0].name} validates at {fmt(worse[0].val_loss)} with a higher train loss"
        advice = (
            f"stop at epoch {stop} (early stopping: patience > 0); raise weight_decay or dropout "
            f"({hp_note(ev, 'weight_decay', 'dropout') or 'regularization'}); a smaller model "
            f"({hp_note(ev, 'depth', 'width') or 'fewer parameters'}); more data or augmentation"
        )
        return self.finding(
            ev, Severity.WARNING, summary, advice,
            train_loss=ev.train_final, best_val_loss=ev.val_best, best_epoch=stop,
            final_val_loss=ev.val_final, val_rise=ev.val_rise,
            reference=worse[0].name if worse else None,
            reference_val_loss=worse[0].val_loss if worse else None,
        )


def _best(refs: list[Reference]) -> Reference:
    return min(refs, key=lambda r: r.train_loss)


class OptimizationFailure(Rule):
    """Large training loss, and a model this one can represent trains to a lower one."""

    code = FindingCode.OPTIMIZATION_FAILURE
    section = "RULES.md §1"

    def check(self, ev: RunEvidence) -> Finding | None:
        contained = [r for r in ev.better_references() if r.contained]
        if ev.train_final is None or not contained:
            return None
        ref = _best(contained)
        summary = (
            f"final train loss {fmt(ev.train_final)} is higher than {ref.name}'s {fmt(ref.train_loss)} "
            f"(depth {ev.depth} vs {ref.depth}): the deeper model can represent the simpler one, "
            "so training did not find a good setting"
        )
        advice = (
            f"fix the optimization, not the model: tune lr and optimizer ({hp_note(ev, 'lr', 'optimizer')}), "
            "try adam/rmsprop, a warmup or decay schedule, momentum, or a shallower / easier architecture "
            "(relu instead of sigmoid); see the other findings of this run for why it got stuck"
        )
        return self.finding(
            ev, Severity.ERROR, summary, advice,
            train_loss=ev.train_final, val_loss=ev.val_best, reference=ref.name,
            reference_train_loss=ref.train_loss, reference_val_loss=ref.val_loss,
            depth=ev.depth, reference_depth=ref.depth,
        )


class ModelBias(Rule):
    """Large training loss, and only a more flexible reference fits clearly better."""

    code = FindingCode.MODEL_BIAS
    section = "RULES.md §1"

    def check(self, ev: RunEvidence) -> Finding | None:
        better = ev.better_references()
        if ev.train_final is None or not better:
            return None
        if any(r.contained for r in better):
            return None  # a model it can represent does better: optimization, not bias
        ref = _best(better)
        summary = (
            f"final train loss {fmt(ev.train_final)}; the more flexible {ref.name} reaches "
            f"{fmt(ref.train_loss)} on the same folds: the model is too simple"
        )
        advice = (
            f"a more flexible model: raise depth or width ({hp_note(ev, 'depth', 'width')}), "
            "add features; lower weight_decay/dropout if they are high"
        )
        return self.finding(
            ev, Severity.WARNING, summary, advice,
            train_loss=ev.train_final, val_loss=ev.val_best, reference=ref.name,
            reference_train_loss=ref.train_loss, reference_val_loss=ref.val_loss,
            depth=ev.depth, reference_depth=ref.depth,
        )


class Mismatch(Rule):
    """k-fold validation fine, the deployment test set much worse."""

    code = FindingCode.MISMATCH
    section = "RULES.md §1"

    def check(self, ev: RunEvidence) -> Finding | None:
        th = ev.thresholds
        if ev.test_loss is None or ev.val_final is None:
            return None
        if ev.test_loss < th.mismatch_ratio * ev.val_final:
            return None
        if ev.test_loss - ev.val_final < th.mismatch_min_gap:
            return None
        summary = (
            f"test loss {fmt(ev.test_loss)} is {ev.test_loss / ev.val_final:.1f}x the k-fold validation "
            f"loss {fmt(ev.val_final)}: training and test data come from different distributions"
        )
        advice = (
            "more training data of the same kind will not help: collect training data like the test "
            "(deployment) data, or check the test set's preprocessing and features"
        )
        return self.finding(
            ev, Severity.WARNING, summary, advice, test_loss=ev.test_loss, val_loss=ev.val_final,
            ratio=ev.test_loss / ev.val_final,
        )


def healthy(ev: RunEvidence) -> Finding:
    """The finding for a run no rule fired on (RULES.md §1: small and small, done)."""
    return Finding(
        code=FindingCode.HEALTHY,
        severity=Severity.INFO,
        rule="RULES.md §1",
        summary=f"final train loss {fmt(ev.train_final)}, best val loss {fmt(ev.val_best)}: no problem found",
        advice="nothing to fix",
        evidence={"train_loss": sig(ev.train_final), "best_val_loss": sig(ev.val_best),
                  "references": [r.name for r in ev.references]},
        run=ev.run.name,
    )
