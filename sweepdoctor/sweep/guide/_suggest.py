"""The next configuration to try after one run, for users with their own training loop.

``diagnose --history run.json --suggest``: the run's own hyper-parameters and its findings
in, the changed hyper-parameters and the reason for each out, as a TOML snippet. The
same evidence as a guided round, read for a single run (there is no study to compare).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sweepdoctor.diagnostics import FindingCode
from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep.config import GuideConfig
from sweepdoctor.sweep.guide._toml import toml_value

__all__ = ["Suggestion", "suggest_next"]

F = FindingCode
_ADAPTIVE = ("adam", "adamw", "rmsprop", "adagrad")


@dataclass(frozen=True)
class Suggestion:
    """Changed hyper-parameters of the next run, each with the reason (empty: nothing to change)."""

    changes: Mapping[str, Any]
    reasons: Mapping[str, str]
    notes: tuple[str, ...] = ()
    # Hyper-parameters a finding needed to suggest a change that the run did not give (add them to retry).
    missing: tuple[str, ...] = ()

    def to_toml(self, *, header: str = "the next run to try (sweepdoctor diagnose --suggest)") -> str:
        """One TOML document: a ``[space]``/``[train]`` table of the changes, after ``header`` as a comment."""
        lines = [f"# {header}"]
        train = ("epochs", "loss")
        for section, keys in (("space", [k for k in self.changes if k not in train]),
                              ("train", [k for k in self.changes if k in train])):
            if not keys:
                continue
            lines.append(f"[{section}]")
            lines += [f"{k} = {toml_value(self.changes[k])}  # {self.reasons[k]}" for k in keys]
        lines += [f"# note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"changes": dict(self.changes), "reasons": dict(self.reasons), "notes": list(self.notes),
                "missing": list(self.missing)}


def _num(params: Mapping[str, Any], key: str) -> float | None:
    v = params.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _checked_lr(params: Mapping[str, Any]) -> float | None:
    """The run's learning rate; a number that is not positive is refused (a tenth of it means nothing)."""
    lr = params.get("lr")
    if isinstance(lr, (int, float)) and not isinstance(lr, bool) and not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"lr must be a positive number to suggest the next run, got {lr}: "
                          "give the learning rate the run trained with")
    return _num(params, "lr")


def _needed(params: Mapping[str, Any], codes: frozenset[FindingCode]) -> tuple[str, ...]:
    """The hyper-parameters the findings' rules read that ``params`` lacks (no change can be suggested)."""
    missing = []
    stalled = codes & {F.SLOW_CONVERGENCE, F.CRITICAL_POINT, F.SADDLE_POINT, F.OPTIMIZATION_FAILURE}
    adaptive = params.get("optimizer") in _ADAPTIVE + ("momentum", "nesterov")
    if _num(params, "lr") is None and (codes & {F.DIVERGENCE, F.OSCILLATION} or (stalled and adaptive)):
        missing.append("lr")
    if stalled and "optimizer" not in params:
        missing.append("optimizer")
    if F.MODEL_BIAS in codes and _num(params, "width") is None and _num(params, "depth") is None:
        missing.append("width")
    return tuple(missing)


def suggest_next(params: Mapping[str, Any], codes: Collection[FindingCode], *, epochs: int | None = None,
                 limits: GuideConfig | None = None) -> Suggestion:
    """What to change after a run with these hyper-parameters and findings (in the order of the rules).

    Raises :class:`~sweepdoctor.errors.ConfigError` when ``params["lr"]`` is a number that is not positive.
    """
    g, codes = limits or GuideConfig(), frozenset(codes)
    changes: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    lr, opt = _checked_lr(params), params.get("optimizer")

    def put(key: str, value: Any, why: str) -> None:
        if key not in changes and params.get(key) != value:
            changes[key], reasons[key] = value, why

    if F.DIVERGENCE in codes and lr is not None:
        put("lr", max(lr / 10, g.min_lr), f"the run diverged at lr {lr:.3g}: a tenth of it")
    if codes & {F.SLOW_CONVERGENCE, F.CRITICAL_POINT, F.SADDLE_POINT, F.OPTIMIZATION_FAILURE}:
        if opt in ("sgd", None) or opt not in _ADAPTIVE + ("momentum", "nesterov"):
            put("optimizer", "adam", "the loss stalled or fell slowly with plain SGD: an adaptive optimizer")
        elif lr is not None and F.DIVERGENCE not in codes:
            put("lr", min(lr * 3, g.max_lr), f"the loss stalled or fell slowly at lr {lr:.3g}: three times it")
        if epochs is not None and F.SLOW_CONVERGENCE in codes:
            put("epochs", epochs * 2, f"still improving when training stopped after {epochs} epochs")
    if F.OSCILLATION in codes and lr is not None:
        put("lr", max(lr / 3, g.min_lr), f"the loss oscillated with a large gradient at lr {lr:.3g}: a third of it")
    if F.OVERFITTING in codes:
        wd = _num(params, "weight_decay") or 0.0
        put("weight_decay", min(max(wd * 10, 1e-4), g.max_weight_decay), "validation loss rose while training fell")
        drop = _num(params, "dropout") or 0.0
        put("dropout", min(round(drop + 0.2, 2), g.max_dropout), "validation loss rose while training fell")
        if not _num(params, "patience"):
            put("patience", 5, "stop when validation loss has not improved for 5 epochs")
    if F.MODEL_BIAS in codes:
        width = _num(params, "width")
        if width is not None and width * 2 <= g.max_width:
            put("width", int(width * 2), "a wider reference fits the training data better (model bias)")
        elif (depth := _num(params, "depth")) is not None and depth < g.max_depth:
            put("depth", int(depth) + 1, "a wider reference fits the training data better (model bias)")
    if F.MSE_FOR_CLASSIFICATION in codes:
        put("loss", "cross_entropy", "mean squared error on a classification task: cross-entropy")
    notes = ("the run scores worse on the test set than in validation (mismatch): no hyper-parameter fixes "
             "that; look at the data",) if F.MISMATCH in codes else ()
    return Suggestion(changes, reasons, notes, _needed(params, codes))
