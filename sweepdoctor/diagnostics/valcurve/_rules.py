"""The validation curve alone: what a run without a training curve supports (rules.md §1, §2, §4).

A plain Optuna study keeps one value per epoch (``trial.report``), and a recorder may be
given only a validation loss: such a run records nothing of its training
(``has_train_curve``). The rules of §1-§4 read the *training* loss first, so here
only what the validation curve shows on its own is said: it blew up (divergence), it
jumps up and down without getting better (oscillation), it never moved (the training is
stuck from the start: never the model's limit, rules.md §1), or it is still falling
steadily when the run ends (slow convergence). Overfitting, model bias and mismatch need
the training loss and are never claimed; every finding names the evidence it lacks.

The curve is ``val_loss`` where the run records one, else ``val_metric`` read as
higher-is-better (what a maximized Optuna objective reports). An epoch record without a
value is a non-finite one: the record exists because something was reported.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from sweepdoctor.diagnostics import _curves as c
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._grading import confidence, main_first
from sweepdoctor.diagnostics._history import RunHistory
from sweepdoctor.diagnostics._rules import fmt, sig
from sweepdoctor.diagnostics._thresholds import Thresholds

__all__ = ["ValEvidence", "has_train_curve", "val_findings"]

HOW_TO_ADD = ("record the training loss and gradient norm with sweepdoctor.record(trial, ...) in the objective "
              "(the manual's page \"Optuna loop\") to tell overfitting, model bias and optimization failure apart")


def has_train_curve(run: RunHistory) -> bool:
    """Whether ``run`` records anything of its training: a training loss, a gradient norm or a learning rate.

    A run that records none of them (a plain Optuna trial) has its validation curve
    alone. A run whose training loss was NaN from the first epoch still records its
    learning rate (a sweep's, a recorder's given ``lr``), and stays with the rules of
    §1-§4, whose divergence rule reads the NaN.
    """
    return any(e.train_loss is not None or e.grad_norm is not None or math.isfinite(e.lr)
               for f in run.folds for e in f.epochs)


@dataclass(frozen=True)
class ValEvidence:
    """One run's validation curves, per fold, oriented so that lower is better."""

    run: RunHistory
    thresholds: Thresholds
    field: str  # "val_loss" or "val_metric"
    curves: tuple[tuple[float | None, ...], ...]  # per fold, lower is better
    missing: tuple[str, ...]

    @classmethod
    def of(cls, run: RunHistory, thresholds: Thresholds) -> ValEvidence:
        loss = any(e.val_loss is not None for f in run.folds for e in f.epochs)
        field = "val_loss" if loss else "val_metric"
        sign = 1.0 if loss else -1.0
        curves = tuple(tuple(None if v is None else sign * v for v in c.fold_curve(f, field)) for f in run.folds)
        grads = any(e.grad_norm is not None for f in run.folds for e in f.epochs)
        return cls(run, thresholds, field, curves, ("train_loss",) + (() if grads else ("grad_norm",)))

    @property
    def n_epochs(self) -> int:
        return max((len(v) for v in self.curves), default=0)

    @property
    def words(self) -> str:
        if not any(v is not None for curve in self.curves for v in curve):
            return "every reported validation value"  # NaN/inf from the first epoch: loss or metric, unknown
        return "validation loss" if self.field == "val_loss" else "validation metric"

    def nonfinite(self) -> tuple[int, int] | None:
        """(fold, epoch) of the first epoch without a finite value."""
        for f, (fold, curve) in enumerate(zip(self.run.folds, self.curves)):
            i = c.first_nonfinite(list(curve))
            if i is not None:
                return f, fold.epochs[i].epoch
        return None

    def stat(self, fn: Callable[[list[float]], float | None]) -> list[float]:
        """``fn(finite curve)`` per fold, where it is defined."""
        values = (fn(c.finite(list(v))) for v in self.curves)
        return [v for v in values if v is not None]

    def finding(self, code: FindingCode, severity: Severity, summary: str, advice: str, *, conf: float,
                **evidence: float | int | str | None) -> Finding:
        shown = {k: sig(v) if isinstance(v, float) else v for k, v in evidence.items()}
        return Finding(code=code, severity=severity, rule=_SECTION[code], summary=summary,
                       advice=f"{advice}; {HOW_TO_ADD}" if advice else HOW_TO_ADD,
                       evidence={**shown, "curve": self.field, "missing": list(self.missing),
                                 "epochs": self.n_epochs},
                       run=self.run.name, confidence=conf)

    def conf(self, margin: float | None, agree: int) -> float:
        th = self.thresholds
        return confidence(margin=margin, agree=agree, folds=len(self.curves), epochs=self.n_epochs,
                          full_epochs=th.confident_epochs)


_SECTION = {
    FindingCode.DIVERGENCE: "rules.md §4",
    FindingCode.OSCILLATION: "rules.md §2",
    FindingCode.OPTIMIZATION_FAILURE: "rules.md §1",
    FindingCode.SLOW_CONVERGENCE: "rules.md §4",
    FindingCode.HEALTHY: "rules.md §1",
}


def _grew(v: list[float]) -> float | None:
    """Growth of the last value over the minimum, when the curve ended above its first value."""
    if len(v) < 2 or v[-1] <= v[0] or min(v) <= 0:
        return None
    return v[-1] / min(v)


def divergence(ev: ValEvidence) -> Finding | None:
    """A value became NaN/inf, or the validation loss ended above its start at ``divergence_growth`` x its best."""
    th, lower = ev.thresholds, "lower the learning rate by 10x or more; clip gradients; a warmup schedule"
    nf = ev.nonfinite()
    if nf is not None:
        return ev.finding(FindingCode.DIVERGENCE, Severity.ERROR,
                          f"{ev.words} became NaN/inf at epoch {nf[1] + 1} (fold {nf[0]}): training blew up",
                          lower, conf=1.0, nonfinite_fold=nf[0], nonfinite_epoch=nf[1] + 1)
    if ev.field != "val_loss":
        return None  # how far a metric may fall is not known: only NaN/inf is divergence here
    grew = [g for g in ev.stat(_grew) if g >= th.divergence_growth]
    if not grew or 2 * len(grew) < len(ev.curves):
        return None
    conf = confidence(margin=min(grew) / th.divergence_growth, agree=len(grew), folds=len(ev.curves), epochs=1,
                      full_epochs=1)
    return ev.finding(FindingCode.DIVERGENCE, Severity.ERROR if conf >= th.error_confidence else Severity.WARNING,
                      f"validation loss ended above its first epoch at {fmt(min(grew))} x its minimum in "
                      f"{len(grew)} of {len(ev.curves)} folds: training blew up (or, without the training loss, "
                      "cannot be told from severe overfitting)", lower, conf=conf, growth=min(grew),
                      grew_folds=len(grew), growth_threshold=th.divergence_growth)


def _late_step(v: list[float]) -> float | None:
    """Median epoch-to-epoch move of the second half, relative to its median level."""
    late = v[len(v) // 2:]
    level = abs(statistics.median(late)) if len(late) >= 3 else 0.0
    if level == 0:
        return None
    return statistics.median(abs(b - a) for a, b in zip(late[:-1], late[1:])) / level


def oscillation(ev: ValEvidence) -> Finding | None:
    """Not improving at the end while jumping up and down by a large share of its level."""
    th = ev.thresholds
    if ev.n_epochs < 2 * th.tail_min_epochs:
        return None
    tail = c.tail_length(ev.n_epochs, th.tail_min_epochs)
    improve = c.mean(ev.stat(lambda v: c.relative_improvement(v, tail)))
    up, step = c.mean(ev.stat(c.up_fraction)), c.mean(ev.stat(_late_step))
    if improve is None or up is None or step is None:
        return None
    if improve >= th.stall_rel_improvement or up < th.bounce_up_fraction or step < th.val_bounce_step:
        return None
    agree = sum(1 for s in ev.stat(_late_step) if s >= th.val_bounce_step)
    conf = ev.conf(min(up / th.bounce_up_fraction, step / th.val_bounce_step), agree)
    return ev.finding(
        FindingCode.OSCILLATION, Severity.WARNING,
        f"{ev.words} stopped improving and jumps by {step:.0%} of its level from epoch to epoch (up in {up:.0%} "
        "of the late epochs): the steps overshoot; without the gradient norm this is the likely reading, not a "
        "measured one", "a smaller learning rate or a decay schedule; an adaptive optimizer (adam)",
        conf=conf, up_fraction=up, late_step=step, tail_improvement=improve, folds_agree=agree)


def _moved(v: list[float]) -> float | None:
    return (max(v) - min(v)) / abs(v[0]) if len(v) >= 3 and v[0] else None


def never_moved(ev: ValEvidence) -> Finding | None:
    """The curve stayed within ``no_progress`` of its first value: nothing was learned."""
    th = ev.thresholds
    moved = c.mean(ev.stat(_moved))
    if moved is None or ev.n_epochs < th.tail_min_epochs or moved >= th.no_progress:
        return None
    agree = sum(1 for m in ev.stat(_moved) if m < th.no_progress)
    conf = ev.conf(th.no_progress / moved if moved > 0 else None, agree)
    return ev.finding(
        FindingCode.OPTIMIZATION_FAILURE, Severity.WARNING,
        f"{ev.words} never moved (by {moved:.1%} in {ev.n_epochs} epochs): training is stuck from the start, "
        "which no model's limit explains (model bias still lowers the loss a little); whether it is a critical "
        "point or steps too small needs the gradient norm",
        "check that the optimizer steps the model's parameters; re-initialize; a larger learning rate",
        conf=conf, moved=moved, folds_agree=agree)


def still_falling(ev: ValEvidence) -> Finding | None:
    """Still falling steadily when the run ended (not pruned): more epochs or a larger learning rate."""
    th = ev.thresholds
    if ev.run.state == "pruned" or ev.n_epochs < 2 * th.tail_min_epochs:
        return None
    tail = c.tail_length(ev.n_epochs, th.tail_min_epochs)
    down = c.mean(ev.stat(lambda v: c.down_fraction(v, tail)))
    rate = c.mean(ev.stat(lambda v: c.rate_ratio(v, tail)))
    if down is None or rate is None or down < th.steady_down_fraction or rate < th.steady_rate_fraction:
        return None
    agree = sum(1 for d in ev.stat(lambda v: c.down_fraction(v, tail)) if d >= th.steady_down_fraction)
    return ev.finding(
        FindingCode.SLOW_CONVERGENCE, Severity.WARNING,
        f"{ev.words} still improving steadily after {ev.n_epochs} epochs ({down:.0%} of the last steps better, "
        f"at {rate:.0%} of the run's average pace)", "train for more epochs or raise the learning rate",
        conf=ev.conf(down / th.steady_down_fraction, agree), down_fraction=down, rate_ratio=rate, folds_agree=agree)


def _healthy(ev: ValEvidence) -> Finding:
    best = min((v for curve in ev.curves for v in curve if v is not None), default=None)
    shown = None if best is None else (best if ev.field == "val_loss" else -best)
    conf = round(min(1.0, ev.n_epochs / ev.thresholds.confident_epochs) * 0.5, 2)
    return ev.finding(
        FindingCode.HEALTHY, Severity.INFO,
        f"best {ev.words} {fmt(shown)}: the validation curve alone shows no divergence, oscillation or stall "
        "(overfitting, model bias and optimization failure need the training loss)", "", conf=conf, best=shown)


def val_findings(run: RunHistory, thresholds: Thresholds) -> tuple[Finding, ...]:
    """The findings the validation curve of ``run`` supports; at least one (``healthy`` when none fires)."""
    ev = ValEvidence.of(run, thresholds)
    blown = divergence(ev)
    if blown is not None:
        return (blown,)
    found = [f for rule in (oscillation, never_moved, still_falling) if (f := rule(ev)) is not None]
    return main_first(found) if found else (_healthy(ev),)
