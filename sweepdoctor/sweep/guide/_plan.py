"""The rules of a guided round: which evidence edits which part of the space, and how far.

Each rule reads the outcomes of the trials so far and returns at most one edit of one
parameter, with the finding codes and trial numbers that justify it. They run in a
fixed order on the space the previous rule left, so a round is reproducible.

1. Divergence concentrated above a learning rate: cap ``lr`` below it.
2. Slow convergence or a critical point among the best trials: raise the ``lr`` floor;
   drop plain SGD when its trials were slow.
3. Overfitting among the best trials: room for stronger weight decay, else dropout.
4. Model bias among the best trials: a deeper or wider model, within the limits.
5. The best trials at a boundary of a numeric range: widen it that way, within the limits.
Mismatch is reported, never "fixed" by the space. No edit is made that would leave the
best trial so far outside the space (:func:`holds`): the findings say where to look
further, not that the best model is wrong.

Then the repair probes (:mod:`._probes`): the best trials whose findings name a fixable
problem, repaired and fitted into the new space, queued as the next round's first trials.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sweepdoctor.diagnostics import FindingCode
from sweepdoctor.sweep.config import Choice, Fixed, FloatRange, GuideConfig, IntRange, Param, SearchSpace
from sweepdoctor.sweep.guide._probes import Probe, optuna_params, repair_probes

__all__ = ["Edit", "GuideLimits", "Plan", "TrialOutcome", "plan_round"]

F = FindingCode
TOP_SHARE = 0.25  # the best quarter of the complete trials are "the best trials"
MIN_COMPLETE = 4  # no plan from fewer complete trials
MIN_SUPPORT = 2  # a rule about the best trials needs at least this many of them to show the problem
EDGE = 0.1  # within the outer tenth of a range (log scale for log ranges) is "at the boundary"


@dataclass(frozen=True)
class TrialOutcome:
    """What one finished trial says: its parameters, state, score and main findings."""

    number: int
    state: str  # complete | pruned | failed
    value: float | None
    params: Mapping[str, Any]
    codes: frozenset[FindingCode] = frozenset()


@dataclass(frozen=True)
class GuideLimits:
    """Hard limits no edit goes past (the user's: ``[guide]`` in the TOML file)."""

    lr: tuple[float, float] = (1e-6, 1.0)
    weight_decay: tuple[float, float] = (1e-7, 0.1)
    dropout: tuple[float, float] = (0.0, 0.7)
    depth: tuple[int, int] = (1, 6)
    width: tuple[int, int] = (8, 1024)

    @classmethod
    def from_config(cls, g: GuideConfig) -> GuideLimits:
        return cls(lr=(g.min_lr, g.max_lr), weight_decay=(1e-7, g.max_weight_decay), dropout=(0.0, g.max_dropout),
                   depth=(1, g.max_depth), width=(8, g.max_width))

    def to_config(self) -> GuideConfig:
        return GuideConfig(min_lr=self.lr[0], max_lr=self.lr[1], max_weight_decay=self.weight_decay[1],
                           max_dropout=self.dropout[1], max_depth=self.depth[1], max_width=self.width[1])


@dataclass(frozen=True)
class Edit:
    """One change of the space and why."""

    param: str
    before: str
    after: str
    reason: str
    codes: tuple[str, ...] = ()
    trials: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"param": self.param, "before": self.before, "after": self.after, "reason": self.reason,
                "codes": list(self.codes), "trials": list(self.trials)}


@dataclass(frozen=True)
class Plan:
    """The space for the next round, the edits that made it, the trials to run first, and what was
    seen but not acted on."""

    space: SearchSpace
    edits: tuple[Edit, ...] = ()
    notes: tuple[str, ...] = field(default=())
    probes: tuple[Probe, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"edits": [e.to_dict() for e in self.edits], "notes": list(self.notes),
                "probes": [p.to_dict() for p in self.probes]}


Rule = Callable[[SearchSpace, Sequence[TrialOutcome], bool, GuideLimits], "tuple[SearchSpace, Edit] | None"]


def plan_round(
    space: SearchSpace, outcomes: Sequence[TrialOutcome], *, maximize: bool, limits: GuideLimits | None = None
) -> Plan:
    """The next round's space: every rule in order on the outcomes so far (see the module docstring)."""
    limits = limits or GuideLimits()
    complete = [o for o in outcomes if o.state == "complete" and o.value is not None and math.isfinite(o.value)]
    if len(complete) < MIN_COMPLETE:
        return Plan(space, notes=(f"{len(complete)} complete trials: too few to plan from (need {MIN_COMPLETE})",))
    edits: list[Edit] = []
    incumbent = best_trials(outcomes, maximize=maximize)[0]
    for rule in RULES:
        found = rule(space, outcomes, maximize, limits)
        if found is not None and holds(found[0], incumbent.params):
            space, edit = found
            edits.append(edit)
    known = [p for o in outcomes if (p := optuna_params(space, o.params)) is not None]
    probes = repair_probes(space, best_trials(outcomes, maximize=maximize), known=known, limits=limits.to_config())
    return Plan(space, tuple(edits), _notes(space, outcomes, maximize), probes)


def holds(space: SearchSpace, params: Mapping[str, Any]) -> bool:
    """Whether ``space`` still holds these parameters (the best trial's): no edit moves the space
    away from the best model found so far, whatever the findings say about it."""
    for name in ("lr", "weight_decay", "dropout"):  # the ranges the rules move
        p, v = getattr(space, name), params.get(name)
        if not isinstance(p, FloatRange) or not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        if not (p.include_zero and v == 0) and not p.low * (1 - 1e-9) <= v <= p.high * (1 + 1e-9):
            return False
    return True


def best_trials(outcomes: Sequence[TrialOutcome], *, maximize: bool) -> list[TrialOutcome]:
    """The best quarter of the complete trials (at least two), best first."""
    done = [o for o in outcomes if o.state == "complete" and o.value is not None and math.isfinite(o.value)]
    done.sort(key=lambda o: float(o.value or 0.0) * (-1.0 if maximize else 1.0))
    return done[: max(2, math.ceil(TOP_SHARE * len(done)))]


def _shown(p: Param) -> str:
    if isinstance(p, Fixed):
        return repr(p.value)
    if isinstance(p, Choice):
        return "[" + ", ".join(str(v) for v in p.values) + "]"
    return f"{p.low:.4g}..{p.high:.4g}" + (" (log)" if p.log else "") + (" or 0" if getattr(p, "include_zero", False)
                                                                          else "")


def _edit(space: SearchSpace, name: str, new: Param, reason: str, codes: Sequence[FindingCode],
          trials: Sequence[int]) -> tuple[SearchSpace, Edit]:
    old = getattr(space, name)
    return replace(space, **{name: new}), Edit(name, _shown(old), _shown(new), reason,
                                               tuple(c.value for c in codes), tuple(sorted(trials)))


def _most(hit: Sequence[TrialOutcome], top: Sequence[TrialOutcome]) -> bool:
    """At least half of the best trials, and at least :data:`MIN_SUPPORT` of them."""
    return len(hit) >= MIN_SUPPORT and 2 * len(hit) >= len(top)


def _lr(o: TrialOutcome) -> float | None:
    v = o.params.get("lr")
    return float(v) if isinstance(v, (int, float)) else None


def _lrs(outcomes: Sequence[TrialOutcome]) -> list[float]:
    return [v for o in outcomes if (v := _lr(o)) is not None]


def cap_divergence(space: SearchSpace, outcomes: Sequence[TrialOutcome], maximize: bool,
                   limits: GuideLimits) -> tuple[SearchSpace, Edit] | None:
    """Rule 1: two or more diverged trials, and few trials at or above their smallest lr did not."""
    lr = space.lr
    diverged = [o for o in outcomes if F.DIVERGENCE in o.codes and _lr(o) is not None]
    if not isinstance(lr, FloatRange) or len(diverged) < 2:
        return None
    edge = min(_lrs(diverged))
    survived = [o for o in outcomes if F.DIVERGENCE not in o.codes and (_lr(o) or 0.0) >= edge]
    if len(survived) * 3 > len(diverged) or edge <= lr.low * 1.5 or edge >= lr.high:
        return None  # not concentrated, or capping would leave too little of the range
    fine = [v for o in outcomes if F.DIVERGENCE not in o.codes and o.state == "complete"
            and (v := _lr(o)) is not None and v < edge]
    new = replace(lr, high=max(edge * 0.8, *fine, lr.low * 1.5))  # above every rate that trained well
    reason = (f"{len(diverged)} trials with lr >= {edge:.3g} diverged and {len(survived)} at or above it did not: "
              f"cap lr at {new.high:.3g}")
    return _edit(space, "lr", new, reason, [F.DIVERGENCE], [o.number for o in diverged])


_SLOW = frozenset({F.SLOW_CONVERGENCE, F.CRITICAL_POINT, F.OPTIMIZATION_FAILURE})


def raise_lr_floor(space: SearchSpace, outcomes: Sequence[TrialOutcome], maximize: bool,
                   limits: GuideLimits) -> tuple[SearchSpace, Edit] | None:
    """Rule 2: at least half of the best trials converge slowly or sit at a critical point."""
    slow_codes = set(_SLOW)
    top = best_trials(outcomes, maximize=maximize)
    slow = [o for o in top if o.codes & slow_codes and _lr(o) is not None]
    lr = space.lr
    if not _most(slow, top):
        return _drop_plain_sgd(space, outcomes, slow_codes)
    if isinstance(lr, FloatRange) and lr.log:
        floor = math.sqrt(lr.low * min(_lrs(slow)))
        if floor > lr.low * 1.5 and floor < lr.high / 2:
            reason = f"{len(slow)} of the {len(top)} best trials learned slowly or stalled: raise the lr floor"
            codes = sorted({c for o in slow for c in o.codes & slow_codes}, key=lambda c: c.value)
            return _edit(space, "lr", replace(lr, low=floor), reason, codes, [o.number for o in slow])
    return _drop_plain_sgd(space, outcomes, slow_codes)


def _slow_sgd(space: SearchSpace, outcomes: Sequence[TrialOutcome]) -> list[TrialOutcome]:
    """The plain-SGD trials, when there are two or more and every one learned slowly or stalled."""
    opt = space.optimizer
    sgd = [o for o in outcomes if o.params.get("optimizer") == "sgd" and o.state != "failed"]
    if not isinstance(opt, Choice) or "sgd" not in opt.values or len(opt.values) < 2 or len(sgd) < 2:
        return []
    return sgd if all(o.codes & _SLOW for o in sgd) else []


def _drop_plain_sgd(space: SearchSpace, outcomes: Sequence[TrialOutcome],
                    slow_codes: set[FindingCode]) -> tuple[SearchSpace, Edit] | None:
    """Only where one optimizer is left: Optuna keeps a categorical parameter's choices for the
    whole study, so narrowing ``[sgd, adam, ...]`` is a note for the next study (:func:`_notes`)."""
    sgd, opt = _slow_sgd(space, outcomes), space.optimizer
    if not sgd or not isinstance(opt, Choice) or len(opt.values) != 2:
        return None
    reason = f"all {len(sgd)} plain-SGD trials learned slowly or stalled: favour momentum and adaptive optimizers"
    (other,) = [v for v in opt.values if v != "sgd"]
    return _edit(space, "optimizer", Fixed(other), reason,
                 sorted({c for o in sgd for c in o.codes & slow_codes}, key=lambda c: c.value),
                 [o.number for o in sgd])


def regularize(space: SearchSpace, outcomes: Sequence[TrialOutcome], maximize: bool,
               limits: GuideLimits) -> tuple[SearchSpace, Edit] | None:
    """Rule 3: at least half of the best trials overfit: room for stronger weight decay (or dropout)."""
    top = best_trials(outcomes, maximize=maximize)
    over = [o for o in top if F.OVERFITTING in o.codes]
    if not _most(over, top):
        return None
    reason = f"{len(over)} of the {len(top)} best trials overfit"
    wd, dropout = space.weight_decay, space.dropout
    if isinstance(wd, FloatRange) and wd.log and wd.high < limits.weight_decay[1]:
        new = replace(wd, high=min(wd.high * 10, limits.weight_decay[1]))
        return _edit(space, "weight_decay", new, reason + ": up to 10x stronger weight decay",
                     [F.OVERFITTING], [o.number for o in over])
    if isinstance(dropout, FloatRange) and dropout.high < limits.dropout[1]:
        new_d = replace(dropout, high=min(dropout.high + 0.2, limits.dropout[1]))
        return _edit(space, "dropout", new_d, reason + ": up to 0.2 more dropout", [F.OVERFITTING],
                     [o.number for o in over])
    return None


def grow_model(space: SearchSpace, outcomes: Sequence[TrialOutcome], maximize: bool,
               limits: GuideLimits) -> tuple[SearchSpace, Edit] | None:
    """Rule 4: at least half of the best trials have model bias: wider, else deeper, within limits."""
    top = best_trials(outcomes, maximize=maximize)
    biased = [o for o in top if F.MODEL_BIAS in o.codes]
    if not _most(biased, top):
        return None
    reason = f"{len(biased)} of the {len(top)} best trials fit the training data worse than a wider reference"
    for name, factor in (("width", 2), ("depth", 1)):
        p, (_, hi) = getattr(space, name), getattr(limits, name)
        current = p.value if isinstance(p, Fixed) else p.high if isinstance(p, IntRange) else None
        if isinstance(current, int) and not isinstance(current, bool):
            grown = min(current * factor if name == "width" else current + factor, hi)
            if grown > current:
                return _edit(space, name, Fixed(grown), reason + f": {name} {current} -> {grown}",
                             [F.MODEL_BIAS], [o.number for o in biased])
    return None


def widen_at_boundary(space: SearchSpace, outcomes: Sequence[TrialOutcome], maximize: bool,
                      limits: GuideLimits) -> tuple[SearchSpace, Edit] | None:
    """Rule 5: every best trial (three or more) has lr in the outer tenth of its range, or weight decay or
    dropout in the top tenth (their low end is nearly "off" already: nothing to widen there)."""
    top = best_trials(outcomes, maximize=maximize)
    if len(top) < 3:
        return None
    for name in ("lr", "weight_decay", "dropout"):
        p = getattr(space, name)
        values = [o.params.get(name) for o in top]
        if not isinstance(p, FloatRange) or not all(isinstance(v, (int, float)) and v > 0 for v in values):
            continue
        side = _boundary_side(p, [float(v) for v in values])  # type: ignore[arg-type]
        hard_lo, hard_hi = getattr(limits, name)
        if side == "high" and p.high < hard_hi:
            new = replace(p, high=min(p.high * 3 if p.log else p.high + (p.high - p.low) / 2, hard_hi))
        elif side == "low" and name == "lr" and p.low > hard_lo:
            new = replace(p, low=max(p.low / 3 if p.log else p.low - (p.high - p.low) / 2, hard_lo))
        else:
            continue
        reason = f"the {len(top)} best trials all have {name} at the {side} end of its range: widen it that way"
        return _edit(space, name, new, reason, [], [o.number for o in top])
    return None


def _boundary_side(p: FloatRange, values: list[float]) -> str | None:
    scale: Callable[[float], float] = math.log if p.log else float  # type: ignore[assignment]
    lo, hi = scale(p.low), scale(p.high)
    if hi <= lo:
        return None
    where = [(scale(v) - lo) / (hi - lo) for v in values]
    if all(w >= 1 - EDGE for w in where):
        return "high"
    if all(w <= EDGE for w in where):
        return "low"
    return None


def _notes(space: SearchSpace, outcomes: Sequence[TrialOutcome], maximize: bool) -> tuple[str, ...]:
    """What the evidence says that the space of this study cannot act on."""
    notes = []
    hit = [o.number for o in best_trials(outcomes, maximize=maximize) if F.MISMATCH in o.codes]
    if hit:
        notes.append(f"the best trials {hit} score worse on the test set than in validation (mismatch): "
                     "the search space cannot fix that; look at the data")
    sgd = _slow_sgd(space, outcomes)
    if sgd and isinstance(space.optimizer, Choice) and len(space.optimizer.values) > 2:
        notes.append(f"all {len(sgd)} plain-SGD trials {[o.number for o in sgd]} learned slowly or stalled; "
                     "Optuna keeps a study's choices, so leave 'sgd' out of space.optimizer in the next study")
    return tuple(notes)


RULES: tuple[Rule, ...] = (cap_divergence, raise_lr_floor, regularize, grow_model, widen_at_boundary)
