"""The rules of a guided round: which evidence edits which part of the space, and how far.

Each rule reads the outcomes of the trials so far and returns at most one edit of one
parameter, with the finding codes and trial numbers that justify it. They run in a
fixed order on the space the previous rule left, so a round is reproducible.

1. Divergence concentrated above a learning rate: cap ``lr`` below it.
2. Per optimizer family (plain SGD; SGD with momentum or Nesterov; Adagrad; RMSProp, Adam
   and AdamW), trials that failed to optimize above (below) every rate that trained
   well: a learning-rate window for that family that ends between them.
3. Slow convergence or a critical point among the best trials: raise the ``lr`` floor.
4. An optimizer whose every trial failed to optimize while others trained: drop it.
5. Overfitting among the best trials: room for stronger weight decay, else dropout.
6. Model bias among the best trials: a deeper or wider model, within the limits.
7. The best trials at a boundary of a numeric range: widen it that way, within the limits.
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
from functools import partial
from typing import Any

from sweepdoctor.diagnostics import FindingCode, RunState
from sweepdoctor.sweep.config import Choice, Fixed, FloatRange, GuideConfig, IntRange, Param, SearchSpace, admits
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
    state: str  # a RunState: complete | pruned | fail ("failed", as older callers wrote it, is read as fail)
    value: float | None
    params: Mapping[str, Any]
    codes: frozenset[FindingCode] = frozenset()

    def __post_init__(self) -> None:
        known = RunState.of(self.state)
        if known is not None:
            object.__setattr__(self, "state", known.value)


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
    complete = [o for o in outcomes if _scored(o)]
    if len(complete) < MIN_COMPLETE:
        return Plan(space, notes=(f"{len(complete)} complete trials: too few to plan from (need {MIN_COMPLETE})",))
    edits: list[Edit] = []
    incumbent = best_trials(outcomes, maximize=maximize)[0]
    for rule in RULES:
        found = rule(space, outcomes, maximize, limits)
        if found is not None and holds(found[0], incumbent.params) and not _squeezes(space, found[0]):
            space, edit = found
            edits.append(edit)
    known = [p for o in outcomes if (p := optuna_params(space, o.params)) is not None]
    probes = repair_probes(space, best_trials(outcomes, maximize=maximize), known=known, limits=limits.to_config())
    return Plan(space, tuple(edits), _notes(space, outcomes, maximize), probes)


def _squeezes(before: SearchSpace, after: SearchSpace) -> bool:
    """Whether ``after`` leaves an optimizer it offers one learning rate where ``before`` had a range
    (a window and ``lr`` that no longer overlap)."""
    opt = after.optimizer
    names = opt.values if isinstance(opt, Choice) else (getattr(opt, "value", None),)
    return any(isinstance(before.lr_for(o), FloatRange) and not isinstance(after.lr_for(o), FloatRange) for o in names)


def holds(space: SearchSpace, params: Mapping[str, Any]) -> bool:
    """Whether ``space`` still holds these parameters (the best trial's): no edit moves the space
    away from the best model found so far, whatever the findings say about it."""
    opt = params.get("optimizer")
    if opt is not None and not admits(space.optimizer, opt):
        return False
    for name in ("lr", "weight_decay", "dropout"):  # the ranges the rules move
        p, v = space.lr_for(opt) if name == "lr" else getattr(space, name), params.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not admits(p, v):
            return False
    return True


def _scored(o: TrialOutcome) -> bool:
    """A complete trial with a finite score."""
    return o.state == "complete" and o.value is not None and math.isfinite(o.value)


def best_trials(outcomes: Sequence[TrialOutcome], *, maximize: bool) -> list[TrialOutcome]:
    """The best quarter of the complete trials (at least two), best first."""
    done = [o for o in outcomes if _scored(o)]
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
    changed: dict[str, Any] = {name: new}
    return replace(space, **changed), Edit(name, _shown(old), _shown(new), reason,
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
    """Rule 3: at least half of the best trials converge slowly or sit at a critical point."""
    slow_codes = set(_SLOW)
    top = best_trials(outcomes, maximize=maximize)
    slow = [o for o in top if o.codes & slow_codes and _lr(o) is not None]
    lr = space.lr
    if not _most(slow, top) or not isinstance(lr, FloatRange) or not lr.log:
        return None
    floor = math.sqrt(lr.low * min(_lrs(slow)))
    if floor > lr.low * 1.5 and floor < lr.high / 2:
        reason = f"{len(slow)} of the {len(top)} best trials learned slowly or stalled: raise the lr floor"
        codes = sorted({c for o in slow for c in o.codes & slow_codes}, key=lambda c: c.value)
        return _edit(space, "lr", replace(lr, low=floor), reason, codes, [o.number for o in slow])
    return None


# A trial "failed to optimize": it diverged, stalled, oscillated, or ended far above a baseline's loss.
_FAILED = frozenset({F.DIVERGENCE, F.OPTIMIZATION_FAILURE, F.OSCILLATION, F.CRITICAL_POINT})
FAMILIES = (("sgd",), ("momentum", "nesterov"), ("adagrad",), ("rmsprop", "adam", "adamw"))
NARROW = 1.5  # a window edit cuts at least this factor off one end of the family's rates
GAP = 4.0  # a failure is evidence against rates this far beyond a good one (nearer: the other settings differ)
DROP_MIN_TRIALS = 3  # an optimizer is dropped after this many failed trials (plain SGD: 2)...
DROP_MIN_SPAN = 10.0  # ... at rates at least this far apart (plain SGD: any rates)


def _failed_set(outcomes: Sequence[TrialOutcome], maximize: bool) -> frozenset[int]:
    """The trials that failed to optimize: they failed outright, or a failure finding names them and
    they scored no better than the median complete trial (a trial among the better half flagged
    beside a strong baseline still trained)."""
    values = sorted(float(o.value or 0.0) for o in outcomes if _scored(o))
    median = values[len(values) // 2] if values else math.nan

    def better_half(o: TrialOutcome) -> bool:
        if not _scored(o) or median != median:
            return False
        return float(o.value or 0.0) > median if maximize else float(o.value or 0.0) < median

    return frozenset(o.number for o in outcomes
                     if o.state == RunState.FAIL or (o.codes & _FAILED and not better_half(o)))


def _trained(o: TrialOutcome, failed: frozenset[int]) -> bool:
    return _scored(o) and o.number not in failed


def _offered(space: SearchSpace, names: Sequence[str]) -> list[str]:
    return [n for n in names if admits(space.optimizer, n)]


def _enough(failed: list[TrialOutcome]) -> list[TrialOutcome]:
    """Failures on one side of a family's good rates, if they are evidence enough: two or more
    (one could owe its failure to its other settings), or one that diverged."""
    return failed if len(failed) >= MIN_SUPPORT or any(F.DIVERGENCE in o.codes for o in failed) else []


def window_family_lr(family: Sequence[str], space: SearchSpace, outcomes: Sequence[TrialOutcome], maximize: bool,
                     limits: GuideLimits) -> tuple[SearchSpace, Edit] | None:
    """Rule 2, for one optimizer family: its trials that failed to optimize (:func:`_failed_set`),
    two or more or one that diverged (:func:`_enough`), at rates :data:`GAP` times above (below)
    every rate at which one of its trials trained well bound its learning rates from above
    (below), at the geometric mean of the two rates. Below, a pruned trial is no evidence: a
    smaller rate starts slowly, and the pruner stops slow starts. With no trial of the family
    trained well yet, only divergence says which way: below 0.8 x the smallest rate that diverged."""
    members = _offered(space, family)
    current = space.lr_for(members[0]) if members else None
    if not isinstance(current, FloatRange) or not current.log:
        return None
    tried = [o for o in outcomes if o.params.get("optimizer") in family and _lr(o) is not None]
    failed = _failed_set(outcomes, maximize)
    good, bad = [o for o in tried if _trained(o, failed)], [o for o in tried if o.number in failed]
    low, high = current.low, current.high
    if good:
        g_lo, g_hi = min(_lrs(good)), max(_lrs(good))
        # a pruned trial at a smaller rate only started slowly (warm-up, a small step): no evidence
        above = _enough([o for o in bad if (_lr(o) or 0.0) >= g_hi * GAP])
        below = _enough([o for o in bad if (_lr(o) or math.inf) * GAP <= g_lo and o.state != "pruned"])
        if above:
            high = min(high, math.sqrt(g_hi * min(_lrs(above))))
        if below:
            low = max(low, math.sqrt(max(_lrs(below)) * g_lo))
    else:
        above, below = [o for o in bad if F.DIVERGENCE in o.codes], []
        if above:
            high = min(high, 0.8 * min(_lrs(above)))
    if not (high < current.high / NARROW or low > current.low * NARROW) or not low < high / NARROW:
        return None
    new = FloatRange(low, high, log=True)
    windowed = space
    for m in members:  # each member's own window, narrowed (a user's narrower window stays)
        own = space.lr_for(m)
        if isinstance(own, FloatRange):
            windowed = windowed.with_lr_window([m], FloatRange(max(own.low, low), min(own.high, high), log=True))
    names = ", ".join(members)
    parts = []
    if above:
        parts.append(f"{len(above)} failed at lr >= {min(_lrs(above)):.3g}")
    if below:
        parts.append(f"{len(below)} failed at lr <= {max(_lrs(below)):.3g}")
    trained = f", {len(good)} trained well at {min(_lrs(good)):.3g}..{max(_lrs(good)):.3g}" if good else ""
    reason = f"{names}: {' and '.join(parts)}{trained}: lr {_shown(new)} for {names}"
    codes = sorted({c for o in above + below for c in o.codes & _FAILED}, key=lambda c: c.value)
    edit = Edit(f"lr ({names})", _shown(current), _shown(new), reason, tuple(c.value for c in codes),
                tuple(sorted(o.number for o in above + below)))
    return windowed, edit


def drop_failing_optimizers(space: SearchSpace, outcomes: Sequence[TrialOutcome], maximize: bool,
                            limits: GuideLimits) -> tuple[SearchSpace, Edit] | None:
    """Rule 4: an optimizer none of whose trials trained, while two or more trials of others did:
    plain SGD after two slow or failed trials (none among the best), any other after three failed
    ones (trained to the end, not pruned) at rates ten times apart (not just one bad rate). The
    search room keeps later draws to the other choices; one left becomes fixed."""
    opt = space.optimizer
    if not isinstance(opt, Choice) or len(opt.values) < 2:
        return None
    dropped: dict[str, list[TrialOutcome]] = {}
    failed, top = _failed_set(outcomes, maximize), {o.number for o in best_trials(outcomes, maximize=maximize)}
    for name in opt.values:
        tried = [o for o in outcomes if o.params.get("optimizer") == name]
        if name == "sgd":
            slow = all(o.codes & _SLOW or o.number in failed for o in tried) and not {o.number for o in tried} & top
            hit = tried if len(tried) >= 2 and slow else []
        else:
            rates = _lrs(tried)
            enough = len(tried) >= DROP_MIN_TRIALS and rates and max(rates) >= DROP_MIN_SPAN * min(rates)
            hit = tried if enough and all(o.number in failed and o.state != "pruned" for o in tried) else []
        if hit:
            dropped[name] = hit
    others = [o for o in outcomes if o.params.get("optimizer") not in dropped and _trained(o, failed)]
    kept = tuple(v for v in opt.values if v not in dropped)
    if not dropped or len(others) < 2 or not kept:
        return None
    evidence = [o for hit in dropped.values() for o in hit]
    reason = "; ".join(f"all {len(hit)} {name} trials (lr {min(_lrs(hit)):.3g}..{max(_lrs(hit)):.3g}) "
                       f"{'learned slowly or ' if name == 'sgd' else ''}failed to optimize"
                       for name, hit in dropped.items() if _lrs(hit))
    reason += f", while {len(others)} trials of other optimizers trained well: drop {', '.join(dropped)}"
    return _edit(space, "optimizer", Choice(kept) if len(kept) > 1 else Fixed(kept[0]), reason,
                 sorted({c for o in evidence for c in o.codes & (_SLOW | _FAILED)}, key=lambda c: c.value),
                 [o.number for o in evidence])


def regularize(space: SearchSpace, outcomes: Sequence[TrialOutcome], maximize: bool,
               limits: GuideLimits) -> tuple[SearchSpace, Edit] | None:
    """Rule 5: at least half of the best trials overfit: room for stronger weight decay (or dropout)."""
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
    """Rule 6: at least half of the best trials have model bias: wider, else deeper, within limits."""
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
    """Rule 7: every best trial (three or more) has lr in the outer tenth of its range, or weight decay or
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
    return tuple(notes)


RULES: tuple[Rule, ...] = (
    cap_divergence,
    *(partial(window_family_lr, family) for family in FAMILIES),
    raise_lr_floor,
    drop_failing_optimizers,
    regularize,
    grow_model,
    widen_at_boundary,
)
