"""What a sweep reports: one event per finished trial, and the frozen result at the end."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import optuna

from sweepdoctor.diagnostics import Finding
from sweepdoctor.studies import mask_url
from sweepdoctor.sweep.config import TrialParams

__all__ = ["Tally", "SweepResult", "TrialEvent", "best_of"]


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

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._items())
        return f"SweepResult({shown})"

    def _items(self) -> list[tuple[str, Any]]:
        shown = {"storage": mask_url(self.storage)}
        return [(f.name, shown.get(f.name, getattr(self, f.name))) for f in fields(self)]

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self._items() if k not in ("findings", "best_params", "best_fold_scores")}
        d["best_params"] = self.best_params.as_dict() if self.best_params is not None else {}
        d["best_fold_scores"] = list(self.best_fold_scores)
        d["best_fold_std"] = float(np.std(self.best_fold_scores)) if self.best_fold_scores else None
        d["findings"] = [f.to_dict() for f in self.findings]
        return d


@dataclass(frozen=True)
class Best:
    number: int | None = None
    value: float | None = None
    params: TrialParams | None = None
    fold_scores: tuple[float, ...] = field(default=())


def best_of(study: optuna.Study) -> Best:
    """The study's best trial, its typed parameters and per-fold scores (empty when none completed)."""
    try:
        best = study.best_trial
    except ValueError:
        return Best()
    stored = best.user_attrs.get("hyperparameters")
    params = TrialParams.from_dict(stored) if isinstance(stored, dict) else None
    splits = sorted((_split_key(k), v) for k, v in best.user_attrs.items() if _split_key(k) >= 0)
    scores = tuple(float(v) for _, v in splits if v is not None and math.isfinite(float(v)))
    return Best(best.number, best.value, params, scores)


def _split_key(k: str) -> int:
    if k.startswith("split") and k.endswith("_score") and k[5:-6].isdigit():
        return int(k[5:-6])
    return -1
