"""The numbers the rules look at, gathered once per run (fold statistics averaged).

Each statistic is computed on every fold's own curve and then averaged over the folds
(folds may stop at different epochs under early stopping). The references are the
baseline runs of the same history, trained on the same folds with the same loss, read
at the candidate's last epoch (like with like: a run cut at epoch 3 is compared with
the references at epoch 3). A reference recorded as one converged fit (the linear
model) is compared only with runs that finished, never with a curve cut short (pruned,
still running, or fewer epochs than its references and still falling fast).
"""

from __future__ import annotations

import math
import statistics
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
    epoch: int | None = None  # the epoch compared at (None: the reference's one converged fit)
    fold_train: tuple[float | None, ...] = ()  # per fold, at that epoch
    grad_norm: float | None = None  # fold mean at that epoch, where recorded
    grad_to_loss: float | None = None  # fold mean of gradient norm / training loss at that epoch


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
    grad_to_loss: float | None = None  # gradient norm over training loss, median over the tail (fold mean)
    moved: float | None = None  # (max - min) / first of the training loss (fold mean)
    folds: dict[str, list[Any]] | None = None  # the per-fold statistics behind the means
    recent_fall: float | None = None  # relative fall per epoch of the training loss over the tail (fold mean)
    last_fall: float | None = None  # the same over the last epoch alone
    cut_short: bool = False  # pruned, running, or fewer epochs than its references (no early stopping)

    def per_fold(self, key: str) -> list[Any]:
        """One fold statistic (see ``_fold_stats``) per fold that has it."""
        return [v for v in (self.folds or {}).get(key, []) if v is not None]

    @property
    def pruned(self) -> bool:
        return self.run.state == "pruned"

    @property
    def falling_fast(self) -> bool:
        """A curve cut short whose training loss still falls fast: what it would reach is not known yet."""
        return self.cut_short and _fast(self.recent_fall, self.last_fall, self.thresholds)

    @property
    def never_moved(self) -> bool:
        """No progress at all: the training loss stayed within ``no_progress`` of its first value."""
        return self.moved is not None and self.moved < self.thresholds.no_progress

    @property
    def reference_grad_to_loss(self) -> float | None:
        """The smallest gradient-to-loss ratio a reference records at the same epoch.

        On the scale of the loss, because a reference that has converged has a small
        gradient only because its loss is small."""
        ratios = [r.grad_to_loss for r in self.references if r.grad_to_loss is not None]
        return min(ratios) if ratios else None

    @property
    def grad_small_on_scale(self) -> bool:
        """The gradient is tiny next to the loss (and next to the references' at the same epoch)."""
        th = self.thresholds
        if self.grad_to_loss is None or self.grad_to_loss > th.grad_loss_ratio:
            return False
        ref = self.reference_grad_to_loss
        return ref is None or self.grad_to_loss <= th.grad_vs_reference * ref

    def folds_beaten_by(self, ref: Reference) -> int:
        """Folds whose final training loss is ``reference_ratio`` x the reference's on the same fold."""
        finals = (self.folds or {}).get("final", [])
        ratio = self.thresholds.reference_ratio
        return sum(1 for f, r in zip(finals, ref.fold_train) if f is not None and r is not None and f >= ratio * r)

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
        """References showing that this run's training loss is large (rules.md §1).

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
        if self.references and not self.never_moved:
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
        if self.never_moved:
            return True  # no progress at all: never the model's limit
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
            "test", "improvement", "down", "up", "rate", "grad", "grad_final", "lr_peak", "lr_final", "g2l", "moved",
            "fall", "last_fall")
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
        out["fall"].append(c.fall_per_epoch(known, th.tail_min_epochs))
        out["last_fall"].append(c.fall_per_epoch(known, 1))
        out["down"].append(c.down_fraction(known, tail))
        out["up"].append(c.up_fraction(known))
        out["rate"].append(c.rate_ratio(known, tail))
        out["grad"].append(c.grad_ratio(grads, tail, th.tail_min_epochs))
        out["grad_final"].append(next((g for g in reversed(grads) if g is not None), None))
        out["g2l"].append(_grad_to_loss(train, grads, tail))
        out["moved"].append((max(known) - min(known)) / abs(known[0])
                            if len(known) >= th.tail_min_epochs and known[0] else None)
        lrs = [e.lr for e in fold.epochs if math.isfinite(e.lr)]
        out["lr_peak"].append(max(lrs) if lrs else None)
        out["lr_final"].append(lrs[-1] if lrs else None)
    return out


def _grad_to_loss(train: list[float | None], grads: list[float | None], tail: int) -> float | None:
    """Median of gradient norm / training loss over the last ``tail`` epochs with both known."""
    pairs = [(g, t) for g, t in zip(grads, train) if g is not None and t is not None and t > 0]
    if not pairs:
        return None
    return statistics.median(g / t for g, t in pairs[-tail:])


def _reference(b: RunHistory, run: RunHistory, n_epochs: int, *, unfinished: bool) -> Reference | None:
    """Baseline ``b`` read at the candidate's last epoch (``n_epochs``), or ``None`` when not comparable."""
    length = max((len(f.epochs) for f in b.folds), default=0)
    if length == 0 or _nonfinite(b) is not None:
        return None
    if length == 1:  # one converged fit: a reference for finished runs only
        if unfinished:
            return None
        at = 0
    else:
        at = min(n_epochs, length) - 1
    train = [f.epochs[at].train_loss if len(f.epochs) > at else None for f in b.folds]
    vals = [min(c.finite([e.val_loss for e in f.epochs[: at + 1]]), default=None) for f in b.folds]
    grads = [f.epochs[at].grad_norm if len(f.epochs) > at else None for f in b.folds]
    g2l = [g / t for g, t in zip(grads, train) if g is not None and t]
    train_mean, val_mean = c.mean(train), c.mean(vals)
    if train_mean is None or val_mean is None:
        return None
    return Reference(b.name, _depth(b), train_mean, val_mean, _contained(b, run),
                     epoch=None if length == 1 else at, fold_train=tuple(train), grad_norm=c.mean(grads),
                     grad_to_loss=c.mean(g2l))


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
    n_epochs = max((len(f.epochs) for f in run.folds), default=0)
    short = run.role is Role.CANDIDATE and is_cut_short(run, history, n_epochs)
    fall = c.mean(s["fall"])
    # A converged fit is no reference for a run stopped on the way, nor for one shorter than its
    # references that still falls fast (one that levelled off within its own budget has finished).
    unfinished = run.state in ("pruned", "running") or (short and _fast(fall, c.mean(s["last_fall"]), thresholds))
    if run.role is Role.CANDIDATE:
        for b in history.baselines:
            ref = _reference(b, run, n_epochs, unfinished=unfinished)
            if ref is None:
                continue
            refs.append(ref)
            if _depth(b) == 0:
                linear_val = ref.val_loss
    loss = run.hyperparameters.get("loss", history.loss)
    return RunEvidence(
        run=run,
        task=history.task,
        loss=loss if isinstance(loss, str) else history.loss,
        thresholds=thresholds,
        n_epochs=n_epochs,
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
        grad_to_loss=c.mean(s["g2l"]),
        moved=c.mean(s["moved"]),
        folds=s,
        recent_fall=fall,
        last_fall=c.mean(s["last_fall"]),
        cut_short=short,
    )


def _fast(fall: float | None, last: float | None, th: Thresholds) -> bool:
    """Falling fast: ``fast_fall`` per epoch, or more than a stall and faster at the last step."""
    if fall is None:
        return False
    return fall >= th.fast_fall or (fall > th.stall_rel_improvement and last is not None and last >= fall)


def is_cut_short(run: RunHistory, history: History, n_epochs: int) -> bool:
    """Stopped (or still running) before its end: pruned, running, or fewer epochs than the history's
    curve-recording references while it does not stop early by itself (``patience``)."""
    if run.state in ("pruned", "running"):
        return True
    if run.hyperparameters.get("patience") not in (None, 0):
        return False  # early stopping ends a run where its validation loss says, not where a budget does
    longest = max((len(f.epochs) for b in history.baselines for f in b.folds), default=0)
    return longest > 1 and n_epochs < longest
