"""Training histories: the curves the diagnostics read (format ``sweepdoctor.history/1``).

A :class:`History` holds one or more runs (a candidate trial, or a baseline trained on
the same folds); a run holds one curve per cross-validation fold; a curve is a list of
per-epoch records. Non-finite numbers are ``None`` here and ``null`` in JSON.

This module is the public contract between the sweep, the study database and the
diagnostics: keep it small and documented.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from sweepdoctor.errors import HistoryFormatError

__all__ = [
    "FORMAT",
    "EpochRecord",
    "FoldHistory",
    "History",
    "Role",
    "RunHistory",
    "RunState",
    "Task",
]

FORMAT = "sweepdoctor.history/1"


class Task(str, Enum):
    """What the model predicts."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class Role(str, Enum):
    """A run is a candidate (a trial of the sweep) or a reference baseline."""

    CANDIDATE = "candidate"
    BASELINE = "baseline"


def finite_or_none(value: Any) -> float | None:
    """``float(value)`` when it is a finite number, else ``None`` (the JSON ``null``)."""
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of one fold. Losses are means over the fold's rows."""

    epoch: int
    train_loss: float | None
    val_loss: float | None
    grad_norm: float | None
    lr: float
    val_metric: float | None = None
    wall_time: float | None = None


@dataclass(frozen=True)
class FoldHistory:
    """The curve of one fold; ``test_loss`` is the loss on a deployment test set, ``score``
    the fold's validation score as the sweep stored it (``None`` when not known)."""

    epochs: tuple[EpochRecord, ...]
    test_loss: float | None = None
    score: float | None = None


class RunState(str, Enum):
    """A trial's state, one word for it everywhere (engine, search, guide, studies, service, CLI): Optuna's
    ``TrialState`` names in lower case. A ``str``: ``RunState.FAIL == "fail"``."""

    COMPLETE = "complete"
    PRUNED = "pruned"
    FAIL = "fail"
    RUNNING = "running"
    WAITING = "waiting"

    def __str__(self) -> str:  # the word itself in text and f-strings, not "RunState.FAIL"
        return self.value

    @classmethod
    def of(cls, text: object) -> RunState | None:
        """The state a text names (``"failed"`` as older records and files wrote it, Optuna's ``"FAIL"``),
        or None for None or a word that names no state."""
        if isinstance(text, Enum):
            text = text.name if not isinstance(text, str) else text.value
        if not isinstance(text, str):
            return None
        word = text.strip().lower()
        try:
            return cls("fail" if word == "failed" else word)
        except ValueError:
            return None


@dataclass(frozen=True)
class RunHistory:
    """One trained configuration evaluated on every fold."""

    name: str
    role: Role
    folds: tuple[FoldHistory, ...]
    depth: int | None = None
    n_params: int | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    # A RunState value ("complete", "pruned", "fail", ...) or None when unknown. Informational only.
    state: str | None = None
    # The run's cross-validation score (mean of the folds' scores) where the store
    # knows it; informational (reports show it). The history file carries it (and each
    # fold's score) so that a diagnosis of an exported study shows the study's numbers.
    score: float | None = None

    def __post_init__(self) -> None:
        if self.state is not None:  # one word per state, whatever the record or file wrote ("failed": "fail")
            known = RunState.of(self.state)
            object.__setattr__(self, "state", known.value if known is not None else self.state)


@dataclass(frozen=True)
class History:
    """Everything the diagnostics need about a set of runs on one task."""

    task: Task
    loss: str
    runs: tuple[RunHistory, ...]

    @property
    def candidates(self) -> tuple[RunHistory, ...]:
        return tuple(r for r in self.runs if r.role is Role.CANDIDATE)

    @property
    def baselines(self) -> tuple[RunHistory, ...]:
        return tuple(r for r in self.runs if r.role is Role.BASELINE)

    # ---- JSON ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "task": self.task.value,
            "loss": self.loss,
            "runs": [_run_to_dict(r) for r in self.runs],
        }

    @classmethod
    def from_dict(cls, doc: Any) -> History:
        """Parse a ``sweepdoctor.history/1`` document; unknown fields are ignored."""
        if not isinstance(doc, Mapping):
            raise HistoryFormatError("history: the document must be a JSON object")
        fmt = doc.get("format")
        if fmt != FORMAT:
            raise HistoryFormatError(f"history: 'format' must be {FORMAT!r}, got {fmt!r}")
        task = _enum(Task, doc.get("task"), "task")
        loss = doc.get("loss", "cross_entropy" if task is Task.CLASSIFICATION else "mse")
        if not isinstance(loss, str):
            raise HistoryFormatError(f"history: 'loss' must be a string, got {loss!r}")
        runs = doc.get("runs")
        if not isinstance(runs, list) or not runs:
            raise HistoryFormatError("history: 'runs' must be a non-empty list")
        parsed = tuple(_run_from_dict(r, i) for i, r in enumerate(runs))
        names: dict[str, int] = {}
        for i, run in enumerate(parsed):
            if run.name in names:
                raise HistoryFormatError(
                    f"history: runs[{i}].name {run.name!r} repeats runs[{names[run.name]}].name; "
                    "give each run its own name"
                )
            names[run.name] = i
        return cls(task=task, loss=loss, runs=parsed)

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def load(cls, path: str | Path) -> History:
        """Read a history file; any problem is a one-line :class:`HistoryFormatError`."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise HistoryFormatError(f"history: cannot read {str(path)!r}: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise HistoryFormatError(
                f"history: {str(path)!r} is not UTF-8 text (byte {e.start}); save it as UTF-8 JSON"
            ) from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise HistoryFormatError(
                f"history: {str(path)!r} is not valid JSON (line {e.lineno}: {e.msg})"
            ) from None
        except (ValueError, RecursionError) as e:  # a number of over 4300 digits, nesting deeper than Python's stack
            raise HistoryFormatError(f"history: {str(path)!r} is not readable JSON ({type(e).__name__})") from None
        return cls.from_dict(doc)


def _run_to_dict(run: RunHistory) -> dict[str, Any]:
    return {
        "name": run.name,
        "role": run.role.value,
        "depth": run.depth,
        "n_params": run.n_params,
        "state": run.state,
        "hyperparameters": dict(run.hyperparameters),
        **({"score": finite_or_none(run.score)} if run.score is not None else {}),
        "folds": [
            {
                "test_loss": f.test_loss,
                **({"score": finite_or_none(f.score)} if f.score is not None else {}),
                "epochs": [
                    {
                        "epoch": e.epoch,
                        "train_loss": e.train_loss,
                        "val_loss": e.val_loss,
                        "grad_norm": e.grad_norm,
                        "lr": finite_or_none(e.lr),
                        "val_metric": e.val_metric,
                        "wall_time": e.wall_time,
                    }
                    for e in f.epochs
                ],
            }
            for f in run.folds
        ],
    }


def _enum(kind: type[Task] | type[Role], value: Any, where: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in kind)
        raise HistoryFormatError(f"history: {where!r} must be one of {choices}, got {value!r}") from None


def _number(d: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> float | None:
    if key not in d:
        if required:
            raise HistoryFormatError(f"history: {where}.{key} is missing")
        return None
    v = d[key]
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise HistoryFormatError(f"history: {where}.{key} must be a number or null, got {_short(v)}")
    try:
        return finite_or_none(v)
    except OverflowError:  # an integer beyond a float's range: as infinite as 1e999
        return None


def _short(v: Any) -> str:
    """``repr(v)``, cut to keep an error message on one readable line."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(d: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> int | None:
    if key not in d or d[key] is None:
        if required:
            raise HistoryFormatError(f"history: {where}.{key} is missing")
        return None
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise HistoryFormatError(f"history: {where}.{key} must be an integer, got {_short(v)}")
    if v < 0:
        raise HistoryFormatError(f"history: {where}.{key} must not be negative, got {v}")
    return v


def _run_from_dict(doc: Any, i: int) -> RunHistory:
    where = f"runs[{i}]"
    if not isinstance(doc, Mapping):
        raise HistoryFormatError(f"history: {where} must be an object")
    name = doc.get("name", f"run-{i}")
    if not isinstance(name, str):
        raise HistoryFormatError(f"history: {where}.name must be a string, got {name!r}")
    role = _enum(Role, doc.get("role", "candidate"), f"{where}.role")
    hp = doc.get("hyperparameters", {})
    if not isinstance(hp, Mapping):
        raise HistoryFormatError(f"history: {where}.hyperparameters must be an object")
    folds = doc.get("folds")
    if not isinstance(folds, list) or not folds:
        raise HistoryFormatError(f"history: {where}.folds must be a non-empty list")
    state = doc.get("state")
    return RunHistory(
        name=name,
        role=role,
        folds=tuple(_fold_from_dict(f, f"{where}.folds[{j}]") for j, f in enumerate(folds)),
        depth=_int(doc, "depth", where),
        n_params=_int(doc, "n_params", where),
        hyperparameters=dict(hp),
        state=state if isinstance(state, str) else None,
        score=_number(doc, "score", where),
    )


def _fold_from_dict(doc: Any, where: str) -> FoldHistory:
    if not isinstance(doc, Mapping):
        raise HistoryFormatError(f"history: {where} must be an object")
    epochs = doc.get("epochs")
    if not isinstance(epochs, list):
        raise HistoryFormatError(f"history: {where}.epochs must be a list")
    if not epochs:
        raise HistoryFormatError(
            f"history: {where}.epochs is empty; a fold needs at least one epoch record (drop the fold or the run)"
        )
    records: list[EpochRecord] = []
    for k, e in enumerate(epochs):
        ew = f"{where}.epochs[{k}]"
        if not isinstance(e, Mapping):
            raise HistoryFormatError(f"history: {ew} must be an object")
        given = _int(e, "epoch", ew)
        epoch = k if given is None else given
        if records and epoch <= records[-1].epoch:
            raise HistoryFormatError(
                f"history: {ew}.epoch is {epoch} after {records[-1].epoch}; epochs must increase within a fold"
            )
        lr = _number(e, "lr", ew)
        records.append(
            EpochRecord(
                epoch=epoch,
                train_loss=_number(e, "train_loss", ew),
                val_loss=_number(e, "val_loss", ew),
                grad_norm=_number(e, "grad_norm", ew),
                lr=float("nan") if lr is None else lr,
                val_metric=_number(e, "val_metric", ew),
                wall_time=_number(e, "wall_time", ew),
            )
        )
    return FoldHistory(epochs=tuple(records), test_loss=_number(doc, "test_loss", where),
                       score=_number(doc, "score", where))
