"""Why training got stuck (rules.md §2, §4, §5): divergence, oscillation, critical point,
slow convergence, and mean squared error for classification.

Oscillation, critical point and slow convergence refine a large training loss that is
*not* explained by model bias (``RunEvidence.optimization_context``): they read the
end of the curve and the gradient norm, as §2 says ("training stuck ≠ small gradient").
The gradient is judged on its own start *and* on scale (next to the loss and to the
references' gradients at the same epoch), so a run stuck from its first epoch is a
critical point too; a loss that never moved is always one of the three, never healthy.
"""

from __future__ import annotations

from sweepdoctor.diagnostics._evidence import RunEvidence
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._grading import confidence
from sweepdoctor.diagnostics._history import FoldHistory, Task
from sweepdoctor.diagnostics._rules import Rule, fmt, has, hp_aside, lacks, score_impact, tips

__all__ = ["CriticalPoint", "Divergence", "MseForClassification", "Oscillation", "SlowConvergence"]

# Losses whose trivial value is a few nats, so that an absolute ceiling makes sense.
_LOG_LOSSES = frozenset({"cross_entropy", "bce", "nll", "log_loss"})


def _exploded_folds(ev: RunEvidence, level: float) -> int:
    """The folds whose training loss reached ``level`` and stayed there to their last epoch (each one a fold
    that agrees; a fold whose loss came back down is a spike, not a run that diverged), at least 1."""
    def stayed(f: FoldHistory) -> bool:
        losses = [e.train_loss for e in f.epochs if e.train_loss is not None]
        return bool(losses) and losses[-1] >= level

    return sum(1 for f in ev.run.folds if stayed(f)) or 1


class Divergence(Rule):
    """The loss became non-finite, blew up, or ended above where it started."""

    code = FindingCode.DIVERGENCE
    section = "rules.md §4"

    def check(self, ev: RunEvidence) -> Finding | None:
        th = ev.thresholds
        why = self._why(ev)
        if why is None:
            return None
        advice = tips(
            ev,
            (f"the learning rate is too high for this model{hp_aside(ev, 'lr', 'optimizer', 'schedule')}: "
             "lower lr by 10x or more", True),
            ("use an adaptive optimizer (adam, rmsprop)", lacks(ev, "optimizer", "adam", "adamw", "rmsprop")),
            ("a warmup schedule", lacks(ev, "schedule", "warmup")),
            ("clip gradients", True),
        )
        nf = ev.nonfinite
        if nf is not None:
            margin, agree = None, len(ev.run.folds)
            conf = 1.0
        else:
            exploded = ev.loss in _LOG_LOSSES and (ev.train_max or 0.0) >= th.exploded_cross_entropy
            margin = (ev.train_max or 0.0) / th.exploded_cross_entropy if exploded else None
            agree = max(ev.grew_folds, _exploded_folds(ev, th.exploded_cross_entropy) if exploded else 0)
            # what blew up needs no long curve: the epochs do not weigh here
            conf = confidence(margin=margin, agree=agree, folds=len(ev.run.folds), epochs=1, full_epochs=1)
        # NaN or an explosion is an error at once; a loss that grew in some folds weighs by its folds
        severity = Severity.ERROR if nf is not None or margin is not None else (
            Severity.ERROR if conf >= th.error_confidence else Severity.WARNING)
        return self.finding(
            ev, severity, why, advice, conf=conf,
            nonfinite_field=nf.field if nf else None, nonfinite_epoch=nf.epoch + 1 if nf else None,
            nonfinite_fold=nf.fold if nf else None, max_train_loss=ev.train_max,
            final_train_loss=ev.train_final, min_train_loss=ev.train_min, grew_folds=ev.grew_folds,
            growth_threshold=th.divergence_growth,
        )

    @staticmethod
    def _why(ev: RunEvidence) -> str | None:
        th = ev.thresholds
        if ev.nonfinite is not None:
            nf = ev.nonfinite
            return f"{nf.field} became NaN/inf at epoch {nf.epoch + 1} (fold {nf.fold})"
        if ev.train_max is not None:
            if ev.loss in _LOG_LOSSES and ev.train_max >= th.exploded_cross_entropy:
                return f"training loss reached {fmt(ev.train_max)} (a trivial predictor scores a few nats)"
        if ev.grew_folds and 2 * ev.grew_folds >= len(ev.run.folds):  # one fold of five is noise, not a trend
            return (
                f"training loss grew to {fmt(ev.train_final)} from a minimum of {fmt(ev.train_min)} and ended "
                f"above its first epoch in {ev.grew_folds} of {len(ev.run.folds)} folds"
            )
        return None


def _impact(ev: RunEvidence) -> float | None:
    """The impact on the score: the run's best validation loss over the best of the references
    that show its training loss is large (``None`` without such a reference)."""
    return score_impact(ev, ev.better_references())


def _stuck_words(ev: RunEvidence) -> str:
    if ev.never_moved:
        return f"training loss never moved from {fmt(ev.train_first)} (by {_pct(ev.moved)} in {ev.n_epochs} epochs)"
    return (f"training loss stalled at {fmt(ev.train_final)} (last epochs improved it by "
            f"{_pct(ev.tail_improvement)})")


class Oscillation(Rule):
    """Loss stalled while the gradient norm stays large: bouncing between valley walls."""

    code = FindingCode.OSCILLATION
    section = "rules.md §2"

    def check(self, ev: RunEvidence) -> Finding | None:
        th = ev.thresholds
        if not ev.optimization_context:
            return None
        if not ev.stalled or not ev.grad_kept or not ev.bouncing or ev.grad_small_on_scale:
            return None
        summary = (
            f"{_stuck_words(ev)}, going up in {_pct(ev.up_fraction)} of the late epochs, while the "
            f"gradient norm stayed at {_pct(ev.grad_ratio)} of its start ({fmt(ev.grad_final)}): not a critical "
            "point, the steps overshoot"
        )
        advice = tips(
            ev,
            (f"a smaller learning rate{hp_aside(ev, 'lr', 'optimizer')}", True),
            ("an adaptive optimizer (adam, rmsprop)", lacks(ev, "optimizer", "adam", "adamw", "rmsprop", "adagrad")),
            ("a decay schedule (step, exponential, cosine)", has(ev, "schedule", "constant", "warmup")
             or "schedule" not in ev.hp),
            ("momentum", has(ev, "optimizer", "sgd")),
        )
        margin = min((ev.up_fraction or 0.0) / th.bounce_up_fraction, (ev.grad_ratio or 0.0) / th.grad_kept_ratio)
        agree = sum(1 for u in ev.per_fold("up") if u >= th.bounce_up_fraction)
        conf = self.confidence(ev, margin=margin, agree=agree)
        return self.finding(
            ev, self.severity(ev, conf, _impact(ev)), summary, advice, conf=conf, train_loss=ev.train_final,
            tail_improvement=ev.tail_improvement, grad_norm=ev.grad_final, grad_ratio=ev.grad_ratio,
            up_fraction=ev.up_fraction, grad_to_loss=ev.grad_to_loss, folds_agree=agree, epochs=ev.n_epochs,
        )


class CriticalPoint(Rule):
    """Loss stuck while the gradient is small: on its own start, or on the scale of the loss
    and of the references' gradients (which catches runs stuck from their first epoch)."""

    code = FindingCode.CRITICAL_POINT
    section = "rules.md §2"

    def check(self, ev: RunEvidence) -> Finding | None:
        th = ev.thresholds
        if not ev.optimization_context:
            return None
        if not (ev.stalled or ev.never_moved):
            return None
        if not (ev.grad_vanished or ev.grad_small_on_scale):
            return None
        ref = ev.reference_grad_to_loss
        if ev.grad_small_on_scale:
            g2l = ev.grad_to_loss or 0.0
            why = f"the gradient norm is {fmt(g2l)} x the loss ({fmt(ev.grad_final)})" + (
                f", references {fmt(ref)} x at the same epoch" if ref is not None else "")
            margin = th.grad_loss_ratio / g2l if g2l > 0 else float("inf")
            agree = sum(1 for r in ev.per_fold("g2l") if r <= th.grad_loss_ratio)
        else:
            why = f"the gradient norm fell to {_pct(ev.grad_ratio)} of its start ({fmt(ev.grad_final)})"
            margin = th.grad_vanished_ratio / ev.grad_ratio if ev.grad_ratio else float("inf")
            agree = sum(1 for r in ev.per_fold("grad") if r <= th.grad_vanished_ratio)
        summary = f"{_stuck_words(ev)} while {why}: training sits at a critical point"
        advice = tips(
            ev,
            ("run the Hessian analysis (sweepdoctor diagnose --study S --trial N --hessian) to tell a saddle "
             "point (escape along its negative-curvature direction) from a local minimum", True),
            ("re-initialize: weights that all start at zero (or tiny) sit at a saddle from the first step",
             ev.never_moved),
            ("momentum or adam", lacks(ev, "optimizer", "adam", "adamw", "momentum", "nesterov")),
            ("a larger initial lr with warmup", lacks(ev, "schedule", "warmup")),
            (f"relu instead of {ev.hp.get('activation')}", has(ev, "activation", "sigmoid", "tanh")),
        )
        conf = self.confidence(ev, margin=margin, agree=agree)
        return self.finding(
            ev, self.severity(ev, conf, _impact(ev)), summary, advice, conf=conf, train_loss=ev.train_final,
            tail_improvement=ev.tail_improvement, grad_norm=ev.grad_final, grad_ratio=ev.grad_ratio,
            grad_to_loss=ev.grad_to_loss, reference_grad_to_loss=ref, moved=ev.moved,
            never_moved=ev.never_moved, folds_agree=agree, epochs=ev.n_epochs,
        )


class SlowConvergence(Rule):
    """Loss still falling steadily at the end, far from the reference: lr too small or too few epochs.

    "Still falling" means: most late steps go down, the gradient has not vanished, and
    the gradient is as large as at the start (the steps, not the slope, are small), or
    the fall has not levelled off (a straight line), or it is fast enough to reach the
    reference within a few more runs' worth of epochs (too few epochs). A loss that
    never moved while its gradient is not small (and not bouncing) is the extreme case:
    the steps are too small to move it at all.
    """

    code = FindingCode.SLOW_CONVERGENCE
    section = "rules.md §4"

    def check(self, ev: RunEvidence) -> Finding | None:
        th = ev.thresholds
        if ev.pruned:
            return None  # the pruner stopped it, not the epoch budget
        if not ev.optimization_context or ev.grad_small_on_scale:
            return None
        frozen = ev.never_moved and not ev.bouncing and not ev.grad_vanished
        if not frozen:
            if ev.down_fraction is None or ev.down_fraction < th.steady_down_fraction:
                return None
            if ev.grad_ratio is None or ev.grad_vanished:
                return None
            if not (ev.grad_kept or ev.steady_falling or not ev.stalled):
                return None
        refs = ev.better_references()
        refs = [r for r in refs if r.contained] or refs  # like the optimization failure: a model it can represent
        best = min(refs, key=lambda r: r.train_loss) if refs else None
        target = best.train_loss if best is not None else None
        head = _stuck_words(ev) if frozen else (
            f"training loss {fmt(ev.train_final)} still falling steadily after {ev.n_epochs} epochs "
            f"({_pct(ev.down_fraction)} of the last steps down, gradient norm kept at {_pct(ev.grad_ratio)})")
        summary = head + (f", far from {best.name}'s {fmt(target)}" if best is not None else "")
        decayed = bool(ev.lr_peak and ev.lr_final is not None and ev.lr_final < ev.lr_peak / 10)
        if decayed:
            summary += f"; the schedule cut lr from its peak {fmt(ev.lr_peak)} to {fmt(ev.lr_final)}"
        advice = tips(
            ev,
            (f"raise the learning rate{hp_aside(ev, 'lr', 'optimizer')} or train for more epochs", True),
            ("an adaptive optimizer (adam) or momentum speeds up flat directions",
             lacks(ev, "optimizer", "adam", "adamw", "rmsprop", "adagrad", "momentum", "nesterov")),
            (f"decay later or slower{hp_aside(ev, 'schedule')}", decayed),
        )
        margin = None if frozen else (ev.down_fraction or 0.0) / th.steady_down_fraction
        agree = len(ev.run.folds) if frozen else sum(1 for d in ev.per_fold("down") if d >= th.steady_down_fraction)
        conf = self.confidence(ev, margin=margin, agree=agree)
        return self.finding(
            ev, self.severity(ev, conf, _impact(ev)), summary, advice, conf=conf, train_loss=ev.train_final,
            reference=best.name if best is not None else None, reference_train_loss=target,
            lr_peak=ev.lr_peak, lr_final=ev.lr_final, epochs=ev.n_epochs,
            down_fraction=ev.down_fraction, rate_ratio=ev.rate_ratio, grad_ratio=ev.grad_ratio,
            grad_to_loss=ev.grad_to_loss, never_moved=ev.never_moved, folds_agree=agree,
        )


class MseForClassification(Rule):
    """Classification trained with mean squared error (a warning when it also stalls)."""

    code = FindingCode.MSE_FOR_CLASSIFICATION
    section = "rules.md §5"

    def check(self, ev: RunEvidence) -> Finding | None:
        if ev.task is not Task.CLASSIFICATION or ev.loss != "mse":
            return None
        stuck = ev.training_loss_large
        summary = "classification trained with mean squared error on softmax outputs" + (
            f"; training loss stuck at {fmt(ev.train_final)}" if stuck else ""
        )
        advice = (
            "use cross-entropy (loss = \"cross_entropy\"): it is the likelihood, and MSE on softmax outputs "
            "has large flat regions at high loss where training gets stuck"
        )
        severity = Severity.WARNING if stuck else Severity.INFO
        # the loss is a recorded fact; whether it is stuck is as strong as the comparison
        conf = 1.0 if not stuck else self.confidence(ev, margin=_impact(ev), agree=len(ev.run.folds))
        return self.finding(ev, severity, summary, advice, conf=conf, loss=ev.loss, train_loss=ev.train_final,
                            stuck=stuck)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"
