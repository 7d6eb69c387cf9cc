"""A trial's saved weights: its best fold, kept for the Hessian, and read back to analyse it.

:func:`study_hessians` rebuilds saved weights into the built-in MLP and analyses them on
the training rows of the fold they come from; the data is loaded again from where the
study says it came from (or from the ``DataConfig`` given) and checked against the
study's fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna
import torch
from sqlalchemy.engine import make_url
from torch import Tensor

from sweepdoctor import diagnostics
from sweepdoctor.diagnostics import HessianReport, Task
from sweepdoctor.errors import ConfigError, StudyNotFoundError
from sweepdoctor.sweep.config import DataConfig, TrialParams
from sweepdoctor.sweep.data import Dataset, FoldData, Split, load_dataset, make_splits, prepare_folds, splits_hash
from sweepdoctor.sweep.engine import FitResult, build_builtin, model_inputs, row_loss
from sweepdoctor.sweep.search._storage import optuna_storage
from sweepdoctor.sweep.search._study import DATA_SOURCE_ATTR, STUDY_ATTR

__all__ = ["WEIGHTS_DIR", "save_trial_weights", "study_hessians", "weights_dir"]

WEIGHTS_DIR = "sweepdoctor-weights"


def weights_dir(storage_url: str, study: str) -> Path:
    """Beside the SQLite file, or under the working directory for a server database."""
    url = make_url(storage_url)
    base = Path.cwd()
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        base = Path(url.database).resolve().parent
    return base / WEIGHTS_DIR / study


def save_trial_weights(
    fit: FitResult,
    hp: TrialParams,
    data: FoldData,
    study: str,
    number: int,
    storage_url: str,
    *,
    maximize: bool,
) -> Path:
    """Save the best fold's weights and what is needed to rebuild and score it.

    The file loads with ``torch.load(path, weights_only=True)``: a dict with
    ``state_dict``, ``hyperparameters``, ``fold``, ``n_inputs``, ``n_outputs``,
    ``task`` and ``builtin`` (True when it is the built-in MLP's or CNN's module, ``engine.build_builtin``).
    """
    scores = np.asarray(fit.fold_scores, dtype=float)
    sign = 1.0 if maximize else -1.0
    best = int(np.nanargmax(sign * scores)) if np.isfinite(scores).any() else 0
    out = weights_dir(storage_url, study)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"trial-{number}.pt"
    torch.save(
        {
            "state_dict": fit.fold_state_dicts()[best],
            "hyperparameters": hp.as_dict(),
            "fold": best,
            "n_inputs": model_inputs(data),
            "channels_last": data.channels_last,
            "n_outputs": data.n_outputs,
            "task": data.task.value,
            "builtin": fit.depth is not None,
        },
        path,
    )
    return path


def study_hessians(
    storage_url: str,
    study: str,
    *,
    trial: int | None = None,
    data: DataConfig | None = None,
    seed: int | None = None,
) -> tuple[dict[str, HessianReport], dict[str, float]]:
    """Hessian analysis of a study's saved weights (``train.save_weights``).

    With ``trial``: that trial's full :class:`HessianReport`. Without: the top eigenvalue
    (sharpness) of every trial with saved weights, by run name. ``data``/``seed`` say
    where the sweep's data came from when the study does not (or to override it).
    """
    folder = weights_dir(storage_url, study)
    if trial is not None:
        path = folder / f"trial-{trial}.pt"
        if not path.is_file():
            raise ConfigError(
                f"--hessian: no saved weights for trial {trial} of study {study!r} (looked for {str(path)!r}); "
                "re-run the sweep with --save-weights"
            )
        paths = {f"trial-{trial}": path}
    else:
        paths = {p.stem: p for p in sorted(folder.glob("trial-*.pt"))}
        if not paths:
            raise ConfigError(
                f"--hessian: no saved weights for study {study!r} in {str(folder)!r}; "
                "re-run the sweep with --save-weights"
            )
    fp = _fingerprint(storage_url, study)
    ds, splits = _study_data(fp, data, seed)
    if trial is not None:
        return {name: _full(_rebuild(p, ds, splits, fp)) for name, p in paths.items()}, {}
    return {}, {name: _sharpness(_rebuild(p, ds, splits, fp)) for name, p in paths.items()}


def _fingerprint(url: str, study: str) -> dict[str, Any]:
    """What the study was made with, and where its data came from."""
    try:
        s = optuna.load_study(study_name=study, storage=optuna_storage(url))
    except KeyError:
        raise StudyNotFoundError(f"storage: no study named {study!r}") from None
    fp = s.user_attrs.get(STUDY_ATTR)
    if not isinstance(fp, dict):
        raise ConfigError(f"--hessian: study {study!r} was not made by 'sweepdoctor sweep' (no fingerprint)")
    return {**fp, "_source": s.user_attrs.get(DATA_SOURCE_ATTR)}


def _study_data(fp: dict[str, Any], given: DataConfig | None, seed: int | None) -> tuple[Dataset, list[Split]]:
    """The sweep's dataset and folds, checked against the study's fingerprint."""
    data, data_seed = given or DataConfig(), 0
    source = fp.get("_source")
    if given is None and isinstance(source, dict):  # the study says where its data came from
        data_seed = int(source.get("seed", 0))
        data = DataConfig(**{k: v for k, v in source.items() if k in DataConfig.__dataclass_fields__})
    seed = data_seed if seed is None else seed
    ds = load_dataset(data, seed=seed)
    if ds.fingerprint() != fp.get("data"):
        raise ConfigError(
            "--hessian: this data is not the data the study was swept on; pass the same "
            "--dataset/--csv/--target/--config (and --seed) as the sweep"
        )
    splits = make_splits(ds.y, ds.task, n_splits=int(fp["folds"]), n_repeats=int(fp.get("repeats", 1)), seed=seed)
    if splits_hash(splits) != fp.get("splits"):
        raise ConfigError(f"--hessian: the folds differ from the study's; pass the sweep's --seed (got {seed})")
    return ds, splits


class _Rebuilt(NamedTuple):
    model: torch.nn.Module
    loss_fn: Callable[[Tensor, Tensor], Tensor]
    X: Tensor
    y: Tensor


def _rebuild(path: Path, ds: Dataset, splits: list[Split], fp: dict[str, Any]) -> _Rebuilt:
    """Saved trial weights in the built-in MLP, with its fold's training rows and the sweep's loss."""
    saved = torch.load(path, weights_only=True)
    if not saved.get("builtin"):
        raise ConfigError(
            f"--hessian: {str(path)!r} holds a custom model; load it yourself and call "
            "sweepdoctor.diagnostics.hessian_analysis(model, loss_fn, X, y)"
        )
    hp = saved["hyperparameters"]
    model = build_builtin({**hp, "channels_last": saved.get("channels_last")}, saved["n_inputs"],
                          int(saved["n_outputs"]))
    model.load_state_dict(saved["state_dict"])
    data = prepare_folds(ds, [splits[int(saved["fold"])]], torch.device("cpu"), scale=str(fp.get("scale", "auto")),
                         channels=str(fp.get("channels", "auto")))
    rows = data.train_idx[0, : data.train_n[0]]
    task, loss = Task(str(fp["task"])), str(fp["loss"])

    def loss_fn(out: Tensor, y: Tensor) -> Tensor:
        return row_loss(out.unsqueeze(0), y.unsqueeze(0), task, loss).mean()

    X = data.rows(rows[None])[0]
    if hp.get("model") != "cnn":  # the MLP takes each sample as one row of features
        X = X.reshape(len(X), -1)
    return _Rebuilt(model, loss_fn, X, data.Y[0, rows])


def _full(r: _Rebuilt) -> HessianReport:
    return diagnostics.hessian_analysis(r.model, r.loss_fn, r.X, r.y)


def _sharpness(r: _Rebuilt) -> float:
    return float(diagnostics.top_eigenvalue(r.model, r.loss_fn, r.X, r.y))
