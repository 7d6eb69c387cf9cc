"""Repair probes: the best trials' own findings, acted on as the next trials to run.

A round's space edits (:mod:`._plan`) steer the sampler over many trials; a probe goes
straight at the evidence. For each of the best trials (at most :data:`MAX_PROBES`) whose
diagnosis names a problem that hyper-parameters can fix (divergence, slow convergence or
a stall, oscillation, overfitting, model bias), its own parameters with that fix (the
rules of ``diagnose --suggest``: :func:`~._suggest.suggest_next`), fitted into the
round's space, are queued as the next trials. The sampler learns from their results
like from any other trial. A probe that the space cannot hold (a choice it does not
offer), that changes nothing once fitted, or that repeats a trial already run or queued,
is not made.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweepdoctor.diagnostics import FindingCode
from sweepdoctor.sweep.config import (
    SAMPLED,
    Choice,
    Fixed,
    FloatRange,
    GuideConfig,
    IntRange,
    Param,
    SearchSpace,
    admits,
    optimizer_params,
)
from sweepdoctor.sweep.guide._suggest import suggest_next

__all__ = ["MAX_PROBES", "Probe", "optuna_params", "repair_probes"]

F = FindingCode
MAX_PROBES = 2  # per round: a round of 8 keeps most of its trials for the sampler
FIXABLE = frozenset({F.DIVERGENCE, F.SLOW_CONVERGENCE, F.CRITICAL_POINT, F.SADDLE_POINT, F.OPTIMIZATION_FAILURE,
                     F.OSCILLATION, F.OVERFITTING, F.MODEL_BIAS})


@dataclass(frozen=True)
class Probe:
    """One queued trial: the trial it repairs, its parameters (as Optuna names them), what changed and why."""

    source: int
    params: Mapping[str, Any]
    changes: Mapping[str, tuple[Any, Any]]  # name -> (before, after)
    reason: str
    codes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.source, "params": dict(self.params),
                "changes": {k: list(v) for k, v in self.changes.items()}, "reason": self.reason,
                "codes": list(self.codes)}


def _fit(p: Param, value: Any) -> tuple[bool, Any]:
    """``value`` as the parameter ``p`` can take it: (False, None) when it cannot."""
    if isinstance(p, Choice):
        return (True, value) if value in p.values else (False, None)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return False, None
    if isinstance(p, IntRange):
        return True, int(min(max(round(value), p.low), p.high))
    assert isinstance(p, FloatRange)
    return True, float(min(max(value, p.low), p.high))


def optuna_params(space: SearchSpace, values: Mapping[str, Any]) -> dict[str, Any] | None:
    """``values`` (a trial's hyper-parameters) as the parameters Optuna would have sampled in ``space``.

    Fixed parameters are not Optuna's; a weight decay of 0 in a range that includes zero is
    ``use_weight_decay = False``. None when the optimizer is not one the space offers.
    """
    out: dict[str, Any] = {}
    if not admits(space.optimizer, values.get("optimizer")):
        return None  # the plan no longer offers this optimizer
    for name in ("optimizer", *SAMPLED, *optimizer_params(values.get("optimizer"))):
        p = space.lr_for(values.get("optimizer")) if name == "lr" else getattr(space, name)
        v = values.get(name)
        if isinstance(p, Fixed) or v is None:
            continue
        if isinstance(p, FloatRange) and p.include_zero:
            out[f"use_{name}"] = bool(v)
            if not v:
                continue
        ok, fitted = _fit(p, v)
        if not ok:
            if name == "optimizer":
                return None
            continue  # the sampler chooses it
        out[name] = fitted
    return out


def _key(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, f"{v:.6g}" if isinstance(v, float) else repr(v)) for k, v in params.items()))


def repair_probes(
    space: SearchSpace,
    best: Sequence[Any],
    *,
    known: Iterable[Mapping[str, Any]] = (),
    limits: GuideConfig | None = None,
    max_probes: int = MAX_PROBES,
) -> tuple[Probe, ...]:
    """Probes from ``best`` (trial outcomes, best first) in ``space``; ``known``: parameters of trials run or queued."""
    seen = {_key(p) for p in known}
    probes: list[Probe] = []
    for o in best:
        codes = frozenset(o.codes) & FIXABLE
        if not codes or len(probes) >= max_probes:
            continue
        suggestion = suggest_next(o.params, codes, limits=limits)
        before = optuna_params(space, o.params)
        after = optuna_params(space, {**o.params, **suggestion.changes})
        if before is None or after is None:
            continue
        changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
        if not changed or _key(after) in seen:
            continue
        seen.add(_key(after))
        why = "; ".join(dict.fromkeys(  # each reason once, in the order of the rules
            suggestion.reasons[k] for k in suggestion.changes if k in changed or f"use_{k}" in changed))
        probes.append(Probe(o.number, after, changed, f"trial {o.number} ({why})",
                            tuple(sorted(c.value for c in codes))))
    return tuple(probes)
