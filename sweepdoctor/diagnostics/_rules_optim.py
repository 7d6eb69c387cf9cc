"""Why training got stuck (RULES.md §2, §4, §5): divergence, oscillation, critical point,
slow convergence, and mean squared error for classification.

Oscillation, critical point and slow convergence refine a large training loss that is
*not* explained by model bias (``RunEvidence.optimization_context``): they read the
end of the curve and the gradient norm, as §2 says ("training stuck ≠ small gradient").
"""

from __future__ import annotations

from sweepdoctor.diagnostics._evidence import RunEvidence
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._history import Task
from sweepdoctor.diagnostics._rules import Rule, fmt, hp_note

__all__ = ["CriticalPoint", "Divergence", "MseForClassification", "Oscillation", "SlowConvergence"]

# Losses whose trivial value is a few nats, so that an absolute ceiling makes sense.
_LOG_LOSSES = frozenset({"cross_entropy", "bce", "nll", "log_loss"})


class Divergence(Rule):
    """The loss became non-finite, blew up, or ended above where it started."""

    code = FindingCode.DIVERGENCE
    section = "RULES.md §4"

    def check(self, ev: RunEvidence) -> Finding | None:
        th = ev.thresholds
        why = self._why(ev)
        if why is None:
            return None
        advice = (
            f"the learning rate is too high for this model ({hp_note(ev, 'lr', 'optimizer', 'schedule')}): "
            "lower lr by 10x or more, use an adaptive optimizer (adam, rmsprop), a warmup schedule, "
            "or clip gradients"
        )
        nf = ev.nonfinite
        return self.finding(
            ev, Severity.ERROR, why, advice,
            nonfinite_field=nf.field if nf else None, nonfinite_epoch=nf.epoch if nf else None,
            nonfinite_fold=nf.fold if nf else None, max_train_loss=ev.train_max,
            final_train_loss=ev.train_final, min_train_loss=ev.train_min, grew_folds=ev.grew_folds,
            growth_threshold=th.divergence_growth,
        )

    @staticmethod
    def _why(ev: RunEvidence) -> str | None:
        th = ev.thresholds
        if ev.nonfinite is not None:
            nf = ev.nonfinite
            return f"{nf.field} became NaN/inf at epoch {nf.epoch} (fold {nf.fold})"
        if ev.train_max is not None:
            if ev.loss in _LOG_LOSSES and ev.train_max >= th.exploded_cross_entropy:
                return f"training loss reached {fmt(ev.train_max)} (a trivial predictor scores a few nats)"
        if ev.grew_folds:
            return (
                f"training loss grew to {fmt(ev.train_final)} from a minimum of {fmt(ev.train_min)} and ended "
                f"above its first epoch in {ev.grew_folds} of {len(ev.run.folds)} folds"
            )
        return None


class Oscillation(Rule):
    """Loss stalled while the gradient norm stays large: bouncing between valley walls."""

    code = FindingCode.OSCILLATION
    section = "RULES.md §2"

    def check(self, ev: RunEvidence) -> Finding | None:
        if not ev.optimization_context:
            return None
        if not ev.stalled or not ev.grad_kept or not ev.bouncing:
            return None
        summary = (
            f"training loss stalled at {fmt(ev.train_final)} (last epochs improved it by "
            f"{_pct(ev.tail_improvement)}), going up in {_pct(ev.up_fraction)} of the late epochs, while the "
            f"gradient norm stayed at {_pct(ev.grad_ratio)} of its start ({fmt(ev.grad_final)}): not a critical "
            "point, the steps overshoot"
        )
        advice = (
            f"a smaller or adaptive learning rate ({hp_note(ev, 'lr', 'optimizer')}): lower lr, use adam or "
            "rmsprop, add a decay schedule (step, exponential, cosine) or momentum"
        )
        return self.finding(
            ev, Severity.WARNING, summary, advice, train_loss=ev.train_final,
            tail_improvement=ev.tail_improvement, grad_norm=ev.grad_final, grad_ratio=ev.grad_ratio,
            up_fraction=ev.up_fraction,
        )


class CriticalPoint(Rule):
    """Loss stalled while the gradient vanishes: a saddle point, local minimum or flat region."""

    code = FindingCode.CRITICAL_POINT
    section = "RULES.md §2"

    def check(self, ev: RunEvidence) -> Finding | None:
        if not ev.optimization_context:
            return None
        if not ev.stalled or not ev.grad_vanished:
            return None
        summary = (
            f"training loss stalled at {fmt(ev.train_final)} while the gradient norm fell to "
            f"{_pct(ev.grad_ratio)} of its start ({fmt(ev.grad_final)}): training sits near a critical point"
        )
        advice = (
            "run the Hessian analysis (sweepdoctor diagnose --trial N --hessian) to tell a saddle point "
            "(escape along its negative-curvature direction) from a local minimum; meanwhile: momentum or "
            "adam, a larger initial lr with warmup, a different initialization or activation "
            f"({hp_note(ev, 'optimizer', 'lr', 'activation')})"
        )
        return self.finding(
            ev, Severity.WARNING, summary, advice, train_loss=ev.train_final,
            tail_improvement=ev.tail_improvement, grad_norm=ev.grad_final, grad_ratio=ev.grad_ratio,
        )


class SlowConvergence(Rule):
    """Loss still falling steadily at the end, far from the reference: lr too small or too few epochs.

    "Still falling" means: most late steps go down, the gradient has not vanished, and
    the gradient is as large as at the start (the steps, not the slope, are small), or
    the fall has not levelled off (a straight line), or it is fast enough to reach the
    reference within a few more runs' worth of epochs (too few epochs).
    """

    code = FindingCode.SLOW_CONVERGENCE
    section = "RULES.md §4"

    def check(self, ev: RunEvidence) -> Finding | None:
        if ev.run.state == "pruned":
            return None  # the pruner stopped it, not the epoch budget
        if not ev.optimization_context:
            return None
        if ev.down_fraction is None or ev.down_fraction < ev.thresholds.steady_down_fraction:
            return None
        if ev.grad_ratio is None or ev.grad_vanished:
            return None
        if not (ev.grad_kept or ev.steady_falling or not ev.stalled):
            return None
        refs = ev.better_references()
        target = min((r.train_loss for r in refs), default=None)
        summary = (
            f"training loss {fmt(ev.train_final)} still falling steadily after {ev.n_epochs} epochs "
            f"({_pct(ev.down_fraction)} of the last steps down, gradient norm kept at {_pct(ev.grad_ratio)})"
            + (f", far from the reference's {fmt(target)}" if target is not None else "")
        )
        advice = (
            f"raise the learning rate ({hp_note(ev, 'lr', 'optimizer')}) or train for more epochs; an adaptive "
            "optimizer (adam) or momentum speeds up flat directions"
        )
        if ev.lr_peak and ev.lr_final is not None and ev.lr_final < ev.lr_peak / 10:
            summary += f"; the schedule cut lr from its peak {fmt(ev.lr_peak)} to {fmt(ev.lr_final)}"
            advice += f"; decay later or slower ({hp_note(ev, 'schedule')})"
        return self.finding(
            ev, Severity.WARNING, summary, advice, train_loss=ev.train_final, reference_train_loss=target,
            lr_peak=ev.lr_peak, lr_final=ev.lr_final,
            epochs=ev.n_epochs, down_fraction=ev.down_fraction, rate_ratio=ev.rate_ratio, grad_ratio=ev.grad_ratio,
        )


class MseForClassification(Rule):
    """Classification trained with mean squared error (a warning when it also stalls)."""

    code = FindingCode.MSE_FOR_CLASSIFICATION
    section = "RULES.md §5"

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
        return self.finding(ev, severity, summary, advice, loss=ev.loss, train_loss=ev.train_final, stuck=stuck)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"
