"""The numbers the rules look at, gathered once per run (fold statistics averaged).

Each statistic is computed on every fold's own curve and then averaged over the folds
(folds may stop at different epochs under early stopping). The references are the
baseline runs of the same history, trained on the same folds with the same loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sweepdoctor.diagnostics import _curves as c
from sweepdoctor.diagnostics._history import History, Role, RunHistory, Task
from sweepdoctor.diagnostics._thresholds import Thresholds

__all__ = ["Reference", "RunEvidence", "gather"]


@dataclass(frozen=True)
class Reference:
    """A baseline's fold-mean losses, and whether the candidate can represent it."""

    name: str
    depth: int | None
    train_loss: float
    val_loss: float  # best validation loss (fold mean of each fold's minimum)
    contained: bool  # shallower or not larger: the candidate could do at least as well


@dataclass(frozen=True)
class NonFinite:
    fold: int
    epoch: int
    field: str


@dataclass(frozen=True)
class RunEvidence:
    """Fold-averaged facts about one run; ``None`` where the curves cannot tell."""

    run: RunHistory
    task: Task
    loss: str
    thresholds: Thresholds
    n_epochs: int
    nonfinite: NonFinite | None
    train_first: float | None
    train_final: float | None
    train_min: float | None
    grew_folds: int  # folds whose training loss ended above its first epoch and at growth x its minimum
    train_max: float | None
    val_best: float | None
    val_best_epoch: float | None
    val_final: float | None
    val_rise: float | None
    train_fell_after_best: bool
    test_loss: float | None
    tail_improvement: float | None
    down_fraction: float | None
    up_fraction: float | None  # in the second half of the run
    rate_ratio: float | None
    grad_ratio: float | None
    grad_final: float | None
    lr_peak: float | None  # largest and last learning rate of the run (fold mean)
    lr_final: float | None
    references: tuple[Reference, ...]
    linear_val: float | None

    @property
    def hp(self) -> dict[str, Any]:
        return dict(self.run.hyperparameters)

    @property
    def depth(self) -> int | None:
        return _depth(self.run)

    @property
    def stalled(self) -> bool:
        """The end of the training curve barely improves, or too slowly to reach a reference."""
        th, t = self.thresholds, self.tail_improvement
        if t is None or self.train_final is None:
            return False
        if t < th.stall_rel_improvement:
            return True
        target = min((r.train_loss for r in self.better_references()), default=None)
        if target is None:
            return False
        pace = t * self.train_final / c.tail_length(self.n_epochs, th.tail_min_epochs)  # loss per epoch
        return (self.train_final - target) / pace > th.stall_horizon * self.n_epochs

    @property
    def bouncing(self) -> bool:
        return self.up_fraction is not None and self.up_fraction >= self.thresholds.bounce_up_fraction

    @property
    def steady_falling(self) -> bool:
        th = self.thresholds
        return (
            self.down_fraction is not None
            and self.rate_ratio is not None
            and self.down_fraction >= th.steady_down_fraction
            and self.rate_ratio >= th.steady_rate_fraction
        )

    @property
    def grad_vanished(self) -> bool:
        return self.grad_ratio is not None and self.grad_ratio <= self.thresholds.grad_vanished_ratio

    @property
    def grad_kept(self) -> bool:
        return self.grad_ratio is not None and self.grad_ratio >= self.thresholds.grad_kept_ratio

    def better_references(self) -> list[Reference]:
        """References showing that this run's training loss is large (RULES.md §1).

        A reference counts when (1) its training loss is clearly lower
        (``reference_ratio``), (2) this run fits its own training data worse than the
        reference predicts held-out data, and (3) the reference also validates at
        least as well: a run that trades training loss for a better validation loss
        (weight decay, dropout) is regularized, not failing.
        """
        if self.train_final is None or self.val_best is None:
            return []
        ratio = self.thresholds.reference_ratio
        return [
            r
            for r in self.references
            if r.train_loss * ratio <= self.train_final
            and self.train_final >= r.val_loss
            and r.val_loss <= self.val_best
        ]

    @property
    def training_loss_large(self) -> bool:
        """Large by comparison with a reference, or (without references) vs the first epoch."""
        if self.references:
            return bool(self.better_references())
        if self.train_final is None or self.train_first is None:
            return False
        return self.train_final >= self.thresholds.large_vs_first_epoch * self.train_first


    @property
    def optimization_context(self) -> bool:
        """Training loss large and not explained by model bias: §2-4 may say why.

        True when a reference the run can represent beats it, or when there are no
        references and the run barely learned. False when only more flexible
        references beat it (model bias: the stall is the model's limit).
        """
        if not self.training_loss_large:
            return False
        better = self.better_references()
        return not better or any(r.contained for r in better)


def _depth(run: RunHistory) -> int | None:
    if run.depth is not None:
        return run.depth
    d = run.hyperparameters.get("depth")
    return d if isinstance(d, int) and not isinstance(d, bool) else None


def _contained(ref: RunHistory, cand: RunHistory) -> bool:
    """Can ``cand`` represent ``ref``? Linear models: always; else shallower, or as deep and not larger."""
    rd, cd = _depth(ref), _depth(cand)
    if rd == 0:
        return True
    if rd is None or cd is None:
        return False
    if rd != cd:
        return rd < cd
    return ref.n_params is None or cand.n_params is None or ref.n_params <= cand.n_params


def _fold_stats(run: RunHistory, th: Thresholds) -> dict[str, list[Any]]:
    keys = ("first", "final", "min", "grew", "max", "val_best", "val_epoch", "val_final", "val_rise", "fell_after",
            "test", "improvement", "down", "up", "rate", "grad", "grad_final", "lr_peak", "lr_final")
    out: dict[str, list[Any]] = {k: [] for k in keys}
    for fold in run.folds:
        train = c.fold_curve(fold, "train_loss")
        val = c.fold_curve(fold, "val_loss")
        grads = c.fold_curve(fold, "grad_norm")
        known = c.finite(train)
        tail = c.tail_length(len(known), th.tail_min_epochs)
        if known:
            out["first"].append(known[0])
            out["final"].append(known[-1])
            out["min"].append(min(known))
            out["max"].append(max(known))
            out["grew"].append(known[-1] > known[0] and known[-1] >= th.divergence_growth * min(known))
        rise = c.relative_rise(val, c.tail_length(len(c.finite(val)), th.tail_min_epochs))
        if rise is not None:
            out["val_rise"].append(rise[0])
            out["val_epoch"].append(fold.epochs[rise[1]].epoch)
            out["val_best"].append(rise[2])
            out["val_final"].append(c.finite(val)[-1])
            after = [t for t in train[rise[1]:] if t is not None]
            out["fell_after"].append(bool(after) and after[-1] < after[0])
        out["test"].append(fold.test_loss)
        out["improvement"].append(c.relative_improvement(known, tail))
        out["down"].append(c.down_fraction(known, tail))
        out["up"].append(c.up_fraction(known))
        out["rate"].append(c.rate_ratio(known, tail))
        out["grad"].append(c.grad_ratio(grads, tail, th.tail_min_epochs))
        out["grad_final"].append(next((g for g in reversed(grads) if g is not None), None))
        lrs = [e.lr for e in fold.epochs if math.isfinite(e.lr)]
        out["lr_peak"].append(max(lrs) if lrs else None)
        out["lr_final"].append(lrs[-1] if lrs else None)
    return out


def _nonfinite(run: RunHistory) -> NonFinite | None:
    for f, fold in enumerate(run.folds):
        for field in ("train_loss", "val_loss"):
            curve = c.fold_curve(fold, field)
            i = c.first_nonfinite(curve)
            # An absent validation field (None everywhere) is "not recorded", not NaN.
            if i is not None and (field == "train_loss" or c.finite(curve)):
                return NonFinite(f, fold.epochs[i].epoch, field)
    return None


def gather(run: RunHistory, history: History, thresholds: Thresholds) -> RunEvidence:
    """Everything the per-run rules read about ``run`` (references: the history's baselines)."""
    s = _fold_stats(run, thresholds)
    refs: list[Reference] = []
    linear_val = None
    if run.role is Role.CANDIDATE:
        for b in history.baselines:
            st = _fold_stats(b, thresholds)
            train, val = c.mean(st["final"]), c.mean(st["val_best"])
            if train is None or val is None or _nonfinite(b) is not None:
                continue
            refs.append(Reference(b.name, _depth(b), train, val, _contained(b, run)))
            if _depth(b) == 0:
                linear_val = val
    loss = run.hyperparameters.get("loss", history.loss)
    return RunEvidence(
        run=run,
        task=history.task,
        loss=loss if isinstance(loss, str) else history.loss,
        thresholds=thresholds,
        n_epochs=max((len(f.epochs) for f in run.folds), default=0),
        nonfinite=_nonfinite(run),
        train_first=c.mean(s["first"]),
        train_final=c.mean(s["final"]),
        train_min=c.mean(s["min"]),
        grew_folds=sum(s["grew"]),
        train_max=max(s["max"]) if s["max"] else None,
        val_best=c.mean(s["val_best"]),
        val_best_epoch=c.mean(s["val_epoch"]),
        val_final=c.mean(s["val_final"]),
        val_rise=c.mean(s["val_rise"]),
        train_fell_after_best=sum(s["fell_after"]) * 2 > len(s["fell_after"]),
        test_loss=c.mean(s["test"]),
        tail_improvement=c.mean(s["improvement"]),
        down_fraction=c.mean(s["down"]),
        up_fraction=c.mean(s["up"]),
        rate_ratio=c.mean(s["rate"]),
        grad_ratio=c.mean(s["grad"]),
        grad_final=c.mean(s["grad_final"]),
        lr_peak=c.mean(s["lr_peak"]),
        lr_final=c.mean(s["lr_final"]),
        references=tuple(refs),
        linear_val=linear_val,
    )
