"""What a sweep reports: one event per finished trial, and the frozen result at the end."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import optuna

from sweepdoctor.diagnostics import Finding
from sweepdoctor.studies import mask_url
from sweepdoctor.sweep.config import TrialParams
from sweepdoctor.sweep.search._study import STUDY_ATTR

__all__ = ["MLP_PARAMS", "Tally", "SweepResult", "TrialEvent", "best_of", "shown_params"]


@dataclass(frozen=True)
class TrialEvent:
    """What the progress display needs after each trial."""

    number: int
    state: str  # complete | pruned | failed
    value: float | None
    reason: str | None
    best_value: float | None
    done: int
    total: int
    findings: tuple[Finding, ...] = ()


@dataclass
class Tally:
    """What one worker's trials added up to (the sweep's running totals; internal and mutable)."""

    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    train_seconds: float = 0.0
    training_path: str = ""
    interrupted: bool = False
    first_error: str | None = None

    @property
    def done(self) -> int:
        return self.n_complete + self.n_pruned + self.n_failed

    def count(self, state: str, reason: str | None = None) -> None:
        if state == "complete":
            self.n_complete += 1
        elif state == "pruned":
            self.n_pruned += 1
        else:
            self.n_failed += 1
            self.first_error = self.first_error or reason

    def add(self, other: Tally) -> None:
        """Another worker's tally into this one."""
        self.n_complete += other.n_complete
        self.n_pruned += other.n_pruned
        self.n_failed += other.n_failed
        self.train_seconds += other.train_seconds
        self.training_path = self.training_path or other.training_path
        self.interrupted = self.interrupted or other.interrupted
        self.first_error = self.first_error or other.first_error


@dataclass(frozen=True)
class SweepResult:
    """The outcome of :func:`sweepdoctor.sweep.run`.

    ``storage`` is the URL the study lives at, password included (to open it again);
    ``repr`` and :meth:`to_dict` show it masked.
    """

    study_name: str
    storage: str
    direction: str
    metric: str
    task: str
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    best_number: int | None = None
    best_value: float | None = None
    best_params: TrialParams | None = None
    best_fold_scores: tuple[float, ...] = ()
    interrupted: bool = False
    resumed: bool = False
    seconds: float = 0.0
    train_seconds: float = 0.0
    training_path: str = ""
    findings: tuple[Finding, ...] = ()
    refit_dir: str | None = None
    guided_rounds: tuple[Mapping[str, Any], ...] = ()  # with study.guided: each round's space, edits, reasons
    custom_model: bool = False  # the caller's model_fn: the built-in MLP's parameters do not apply

    def finding_counts(self) -> dict[str, int]:
        """How many candidate trials carry each finding code (baselines and study-level findings
        not counted), as ``diagnose`` and ``studies show`` count them."""
        pairs = {(f.run, f.code.value) for f in self.findings if f.run is not None and f.run.startswith("trial-")}
        counts = Counter(code for _, code in pairs)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def best_params_dict(self) -> dict[str, Any]:
        """The best trial's parameters under the names the sweep uses everywhere (see :func:`shown_params`)."""
        if self.best_params is None:
            return {}
        return shown_params(self.best_params.as_dict(), custom_model=self.custom_model)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._items())
        return f"SweepResult({shown})"

    def _items(self) -> list[tuple[str, Any]]:
        shown = {"storage": mask_url(self.storage)}
        return [(f.name, shown.get(f.name, getattr(self, f.name))) for f in fields(self)]

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self._items() if k not in ("findings", "best_params", "best_fold_scores")}
        d["best_params"] = self.best_params_dict()
        d["best_fold_scores"] = list(self.best_fold_scores)
        d["best_fold_std"] = float(np.std(self.best_fold_scores)) if self.best_fold_scores else None
        d["findings"] = [f.to_dict() for f in self.findings]
        return d


# The built-in MLP's own parameters: a caller's model_fn may ignore them, so they are not shown for it.
MLP_PARAMS = ("depth", "width", "activation")


def shown_params(params: dict[str, Any], *, custom_model: bool) -> dict[str, Any]:
    """A trial's parameters as shown: those its model and optimizer use (``TrialParams.as_dict``),
    without the built-in MLP's ``depth``/``width``/``activation`` for a caller's model."""
    return {k: v for k, v in params.items() if not (custom_model and k in MLP_PARAMS)}


@dataclass(frozen=True)
class Best:
    number: int | None = None
    value: float | None = None
    params: TrialParams | None = None
    fold_scores: tuple[float, ...] = field(default=())
    custom_model: bool = False


def best_of(study: optuna.Study) -> Best:
    """The study's best trial, its typed parameters and per-fold scores (empty when none completed)."""
    fingerprint = study.user_attrs.get(STUDY_ATTR)
    custom = isinstance(fingerprint, dict) and fingerprint.get("model") == "custom"
    try:
        best = study.best_trial
    except ValueError:
        return Best(custom_model=custom)
    stored = best.user_attrs.get("hyperparameters")
    params = TrialParams.from_dict(stored) if isinstance(stored, dict) else None
    splits = sorted((_split_key(k), v) for k, v in best.user_attrs.items() if _split_key(k) >= 0)
    scores = tuple(float(v) for _, v in splits if v is not None and math.isfinite(float(v)))
    return Best(best.number, best.value, params, scores, custom_model=custom)


def _split_key(k: str) -> int:
    if k.startswith("split") and k.endswith("_score") and k[5:-6].isdigit():
        return int(k[5:-6])
    return -1
