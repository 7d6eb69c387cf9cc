"""The training guide (rules.md §1): overfitting, model bias, optimization failure, mismatch.

Each rule is one small class: ``check`` takes a run's evidence and returns a finding
or ``None``, deciding with a flat list of early returns that reads like the table in
``rules.md`` (shipped in this package; ``sweepdoctor rules CODE`` prints a rule). The
rules of §2-5 live in ``_rules_optim.py``. Every finding carries its confidence
(``_grading``) and advice that fits the run's own hyperparameters (``tips``).
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from sweepdoctor.diagnostics._evidence import Reference, RunEvidence
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._grading import confidence, grade

__all__ = [
    "Mismatch",
    "ModelBias",
    "OptimizationFailure",
    "Overfitting",
    "Rule",
    "fmt",
    "healthy",
    "tips",
]


def fmt(x: float | None) -> str:
    """A number for a sentence: 4 significant digits (as the evidence holds it, :func:`sig`)."""
    return "n/a" if x is None else f"{x:.4g}"


def sig(x: float | None, digits: int = 4) -> float | None:
    """A number for the evidence: rounded to ``digits`` significant digits."""
    return None if x is None else float(f"{x:.{digits}g}")


def hp_note(ev: RunEvidence, *keys: str) -> str:
    """``"lr=0.5, optimizer=sgd"`` for the hyperparameters of this run that exist."""
    hp = ev.hp
    return ", ".join(f"{k}={hp[k]:.4g}" if isinstance(hp[k], float) else f"{k}={hp[k]}" for k in keys if k in hp)


_ADAPTIVE = frozenset({"adam", "adamw", "rmsprop", "adagrad"})


def hp_aside(ev: RunEvidence, *keys: str) -> str:
    """``" (lr=0.5, optimizer=sgd)"`` after a piece of advice, or nothing when the run records none of ``keys``."""
    note = hp_note(ev, *keys)
    return f" ({note})" if note else ""


def tips(ev: RunEvidence, *candidates: tuple[str, bool]) -> str:
    """The advice that fits this run: each ``(text, applies)`` kept when ``applies``.

    Callers say when a tip applies from the run's own hyperparameters (no "try adam"
    to an adam run, no "relu instead of sigmoid" to a relu run); unknown settings keep
    the tip.
    """
    return "; ".join(text for text, applies in candidates if applies)


def has(ev: RunEvidence, key: str, *values: Any) -> bool:
    """The run's ``key`` is one of ``values`` (False when the run does not record it)."""
    return key in ev.hp and ev.hp[key] in values


def lacks(ev: RunEvidence, key: str, *values: Any) -> bool:
    """The run's ``key`` is none of ``values`` (True when the run does not record it)."""
    return not has(ev, key, *values)


class Rule(abc.ABC):
    """One diagnosis rule: the evidence of one run in, a finding or ``None`` out."""

    code: ClassVar[FindingCode]
    section: ClassVar[str]  # the section of rules.md the rule applies, e.g. "rules.md §1"

    @abc.abstractmethod
    def check(self, ev: RunEvidence) -> Finding | None:
        """The finding this rule makes about the run, or ``None`` when it does not apply."""

    def finding(self, ev: RunEvidence, severity: Severity, summary: str, advice: str, *,
                conf: float, **evidence: Any) -> Finding:
        return Finding(
            code=self.code,
            severity=severity,
            rule=self.section,
            summary=summary,
            advice=advice,
            evidence={k: sig(v) if isinstance(v, float) else v for k, v in evidence.items()}
            | ({"folds": len(ev.run.folds)} if "folds_agree" in evidence else {}),
            run=ev.run.name,
            confidence=conf,
        )

    def confidence(self, ev: RunEvidence, *, margin: float | None, agree: int) -> float:
        """Margin past the threshold x folds that agree x epochs that support it."""
        return confidence(margin=margin, agree=agree, folds=len(ev.run.folds), epochs=ev.n_epochs,
                          full_epochs=ev.thresholds.confident_epochs)

    def severity(self, ev: RunEvidence, conf: float, impact: float | None) -> Severity:
        th = ev.thresholds
        return grade(conf=conf, impact=impact, pruned=ev.pruned, th_conf=th.error_confidence,
                     th_impact=th.error_impact)


class Overfitting(Rule):
    """Small training loss, validation loss rising after its minimum or clearly above a reference's."""

    code = FindingCode.OVERFITTING
    section = "rules.md §1"

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
        # epochs are numbered 1..E in every view (the stored records count from 0)
        stop = round(ev.val_best_epoch) + 1 if ev.val_best_epoch is not None else None
        summary = f"final train loss {fmt(ev.train_final)}, best val loss {fmt(ev.val_best)}"
        if rising:
            summary += f" at epoch {stop}, then val loss rose {ev.val_rise:.0%} by the last epoch"
            margin = (ev.val_rise or 0.0) / th.overfit_val_rise
            agree = sum(1 for r in ev.per_fold("val_rise") if r >= th.overfit_val_rise)
        else:
            margin = ev.val_best / (th.overfit_vs_reference * worse[0].val_loss)
            agree = sum(1 for v in ev.per_fold("val_best") if v >= th.overfit_vs_reference * worse[0].val_loss)
        if worse:
            summary += f"; {worse[0].name} validates at {fmt(worse[0].val_loss)} with a higher train loss"
        advice = tips(
            ev,
            (f"stop at epoch {stop} (early stopping: patience > 0)", rising and lacks(ev, "patience", 5, 10)),
            (f"raise weight_decay or dropout ({hp_note(ev, 'weight_decay', 'dropout') or 'regularization'})", True),
            (f"a smaller model ({hp_note(ev, 'depth', 'width') or 'fewer parameters'})", True),
            ("more data or augmentation", True),
        )
        conf = self.confidence(ev, margin=margin, agree=agree)
        return self.finding(
            ev, self.severity(ev, conf, None), summary, advice, conf=conf,
            train_loss=ev.train_final, best_val_loss=ev.val_best, best_epoch=stop,
            final_val_loss=ev.val_final, val_rise=ev.val_rise,
            reference=worse[0].name if worse else None,
            reference_val_loss=worse[0].val_loss if worse else None,
            folds_agree=agree, epochs=ev.n_epochs,
        )


def score_impact(ev: RunEvidence, refs: list[Reference]) -> float | None:
    """The run's best validation loss over the best reference's (what the score sees); the
    training losses' ratio when no validation loss is recorded."""
    if not refs:
        return None
    val = min(r.val_loss for r in refs)
    if ev.val_best is not None and val > 0:
        return ev.val_best / val
    train = min(r.train_loss for r in refs)
    return ev.train_final / train if ev.train_final is not None and train > 0 else None


def _best(refs: list[Reference]) -> Reference:
    return min(refs, key=lambda r: r.train_loss)


def at_epoch(ref: Reference) -> str:
    """``" after 3 epochs"`` for a reference read at the candidate's epoch, ``""`` for a converged fit."""
    return "" if ref.epoch is None else f" after {ref.epoch + 1} epochs"


def comparison(ev: RunEvidence, ref: Reference) -> str:
    """How the run's training loss compares with the reference's, like with like."""
    if ev.pruned:
        return (f"pruned after {ev.n_epochs} epochs: its training loss was {fmt(ev.train_final)}, "
                f"{ref.name}'s{at_epoch(ref)} was {fmt(ref.train_loss)}")
    return f"final train loss {fmt(ev.train_final)} vs {ref.name}'s {fmt(ref.train_loss)}{at_epoch(ref)}"


def optimization_tips(ev: RunEvidence) -> str:
    """What may fix an optimization that does not find a good setting, as fits this run."""
    return tips(
        ev,
        (f"tune lr ({hp_note(ev, 'lr', 'optimizer') or 'the learning rate'})", True),
        ("try adam or rmsprop", lacks(ev, "optimizer", *_ADAPTIVE)),
        ("add momentum", has(ev, "optimizer", "sgd")),
        ("a warmup or decay schedule", has(ev, "schedule", "constant")),
        (f"relu instead of {ev.hp.get('activation')}", has(ev, "activation", "sigmoid", "tanh")),
        (f"a shallower network (depth={ev.hp.get('depth', ev.depth)})", (ev.depth or 0) >= 3),
    )


class OptimizationFailure(Rule):
    """Large training loss, and a model this one can represent trains to a lower one."""

    code = FindingCode.OPTIMIZATION_FAILURE
    section = "rules.md §1"

    def check(self, ev: RunEvidence) -> Finding | None:
        contained = [r for r in ev.better_references() if r.contained]
        if ev.train_final is None or not contained:
            return None
        if ev.falling_fast:
            return None  # cut short while still falling fast: what it would reach is not known yet
        ref = _best(contained)
        summary = (
            f"{comparison(ev, ref)} (depth {ev.depth} vs {ref.depth}): the model can represent the "
            "simpler one, so training did not find a good setting"
        )
        advice = "fix the optimization, not the model: " + optimization_tips(ev)
        ratio = ev.train_final / ref.train_loss if ref.train_loss > 0 else None
        agree = ev.folds_beaten_by(ref)
        conf = self.confidence(ev, margin=(ratio or 0.0) / ev.thresholds.reference_ratio, agree=agree)
        impact = score_impact(ev, contained)
        return self.finding(
            ev, self.severity(ev, conf, impact), summary, advice, conf=conf, val_ratio=impact,
            train_loss=ev.train_final, val_loss=ev.val_best, reference=ref.name,
            reference_train_loss=ref.train_loss, reference_val_loss=ref.val_loss,
            reference_epoch=None if ref.epoch is None else ref.epoch + 1,
            depth=ev.depth, reference_depth=ref.depth, loss_ratio=ratio, folds_agree=agree, epochs=ev.n_epochs,
        )


class ModelBias(Rule):
    """Large training loss, and only a more flexible reference fits clearly better."""

    code = FindingCode.MODEL_BIAS
    section = "rules.md §1"

    def check(self, ev: RunEvidence) -> Finding | None:
        better = ev.better_references()
        if ev.train_final is None or not better:
            return None
        if ev.pruned or ev.falling_fast:
            return None  # a more flexible model learns faster per epoch: only a finished run shows its limit
        if any(r.contained for r in better):
            return None  # a model it can represent does better: optimization, not bias
        ref = _best(better)
        summary = f"{comparison(ev, ref)}: the more flexible {ref.name} fits better, the model is too simple"
        advice = tips(
            ev,
            (f"a more flexible model: raise depth or width{hp_aside(ev, 'depth', 'width')}", True),
            ("add features", True),
            ("lower weight_decay/dropout", _positive(ev, "weight_decay") or _positive(ev, "dropout")),
        )
        ratio = ev.train_final / ref.train_loss if ref.train_loss > 0 else None
        agree = ev.folds_beaten_by(ref)
        conf = self.confidence(ev, margin=(ratio or 0.0) / ev.thresholds.reference_ratio, agree=agree)
        return self.finding(
            ev, self.severity(ev, conf, None), summary, advice, conf=conf,
            train_loss=ev.train_final, val_loss=ev.val_best, reference=ref.name,
            reference_train_loss=ref.train_loss, reference_val_loss=ref.val_loss,
            reference_epoch=None if ref.epoch is None else ref.epoch + 1,
            depth=ev.depth, reference_depth=ref.depth, loss_ratio=ratio, folds_agree=agree, epochs=ev.n_epochs,
        )


def _positive(ev: RunEvidence, key: str) -> bool:
    v = ev.hp.get(key)
    return isinstance(v, (int, float)) and v > 0


class Mismatch(Rule):
    """k-fold validation fine, the deployment test set much worse."""

    code = FindingCode.MISMATCH
    section = "rules.md §1"

    def check(self, ev: RunEvidence) -> Finding | None:
        th = ev.thresholds
        if ev.test_loss is None or ev.val_final is None:
            return None
        if ev.test_loss < th.mismatch_ratio * ev.val_final:
            return None
        if ev.test_loss - ev.val_final < th.mismatch_min_gap:
            return None
        ratio = ev.test_loss / ev.val_final
        summary = (
            f"test loss {fmt(ev.test_loss)} is {ratio:.1f}x the k-fold validation "
            f"loss {fmt(ev.val_final)}: training and test data come from different distributions"
        )
        advice = (
            "more training data of the same kind will not help: collect training data like the test "
            "(deployment) data, or check the test set's preprocessing and features"
        )
        agree = sum(1 for t, v in zip(ev.per_fold("test"), ev.per_fold("val_final")) if t >= th.mismatch_ratio * v)
        conf = self.confidence(ev, margin=ratio / th.mismatch_ratio, agree=agree)
        return self.finding(
            ev, self.severity(ev, conf, None), summary, advice, conf=conf, test_loss=ev.test_loss,
            val_loss=ev.val_final, ratio=ratio, folds_agree=agree,
        )


def healthy(ev: RunEvidence) -> Finding:
    """The finding for a run no rule fired on (rules.md §1: small and small, done).

    Its confidence is how much the curves could show: the epochs run, and whether
    references were there to compare with."""
    th = ev.thresholds
    conf = round(min(1.0, ev.n_epochs / th.confident_epochs) * (1.0 if ev.references else 0.5), 2)
    pruned = f"pruned after {ev.n_epochs} epochs; " if ev.pruned else ""
    return Finding(
        code=FindingCode.HEALTHY,
        severity=Severity.INFO,
        rule="rules.md §1",
        summary=f"{pruned}final train loss {fmt(ev.train_final)}, best val loss {fmt(ev.val_best)}: "
                "no problem found",
        advice="nothing to fix",
        evidence={"train_loss": sig(ev.train_final), "best_val_loss": sig(ev.val_best),
                  "references": [r.name for r in ev.references], "epochs": ev.n_epochs},
        run=ev.run.name,
        confidence=conf,
    )
