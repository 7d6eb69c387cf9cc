"""Refit: train the best configuration on all the data and save it for use; load it back to predict."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sweepdoctor.diagnostics import RunState
from sweepdoctor.errors import ConfigError, DataError, SweepdoctorError
from sweepdoctor.sweep.config import TrialParams, model_for
from sweepdoctor.sweep.data import Dataset, Split, prepare_folds, scaler_stats
from sweepdoctor.sweep.engine import ModelFn, build_builtin, cnn_arch, fit_folds, model_inputs

__all__ = ["LoadedModel", "load_model", "refit"]


def refit(
    ds: Dataset,
    hp: TrialParams,
    *,
    epochs: int,
    loss: str,
    metric: str,
    out_dir: str | Path,
    seed: int = 0,
    model_fn: ModelFn | None = None,
    device: torch.device | None = None,
    scale: str = "auto",
    channels: str = "auto",
) -> Path:
    """Train ``hp`` on every row of ``ds``; write ``model.pt`` and ``model.json``.

    ``model.pt`` is a ``state_dict``; ``model.json`` holds the hyper-parameters, the
    architecture of the built-in model (MLP or CNN), the input shape, the scaler, the class
    labels and the task. :func:`load_model` reads both back into a model that predicts.
    With early stopping the number of epochs is the best epoch found in the sweep.
    """
    if model_fn is None:  # the built-in model these data get (auto: the MLP for a table, the CNN otherwise)
        hp = replace(hp, model=model_for(hp.model, len(ds.sample_shape)))
    everything = np.arange(len(ds.y))
    data = prepare_folds(ds, [Split(everything, everything)], device or torch.device("cpu"), scale=scale,
                         channels=channels)
    fit = fit_folds(data, hp, epochs=epochs, loss=loss, metric=metric, seed=seed, model_fn=model_fn, vectorize=False)
    if fit.status == RunState.FAIL:
        raise SweepdoctorError(f"refit: training on all the data failed ({fit.reason})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(fit.fold_state_dicts()[0], out / "model.pt")
    mu, sd = scaler_stats(ds.X, scale, channels=channels)
    model = hp.model
    meta: dict[str, Any] = {
        "task": ds.task.value,
        "hyperparameters": hp.as_dict(),
        "architecture": None if model_fn is not None else {  # build_mlp(**architecture) for the MLP
            "n_in": ds.n_features,
            "n_out": data.n_outputs,
            "depth": hp.depth,
            "width": hp.width,
            "activation": hp.activation,
            "dropout": hp.dropout,
            **({"model": "cnn", **cnn_arch(hp), "channels_last": data.channels_last} if model == "cnn" else {}),
        },
        "sample_shape": list(ds.sample_shape),
        "n_inputs": model_inputs(data) if isinstance(model_inputs(data), int) else list(ds.sample_shape),
        "n_outputs": data.n_outputs,
        "scaler": {"mean": mu.tolist(), "scale": sd.tolist()},
        "classes": list(ds.classes),
        "epochs": epochs,
        "train_loss": fit.curves[0][-1].train_loss,
    }
    if ds.task.value == "regression":
        ymu, ysd = scaler_stats(ds.y[:, None])
        meta["target_scaler"] = {"mean": float(ymu[0]), "scale": float(ysd[0])}
    (out / "model.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return out


@dataclass(frozen=True)
class LoadedModel:
    """A refit model, ready to predict on new samples given as the sweep's data were (unscaled)."""

    module: nn.Module  # in eval mode
    task: str
    classes: tuple[Any, ...]
    sample_shape: tuple[int, ...]
    mean: np.ndarray
    scale: np.ndarray
    target: tuple[float, float] | None  # regression: the target's mean and scale
    flatten: bool = False  # the built-in MLP on images or sequences: each sample as one row of features

    def outputs(self, X: Any) -> np.ndarray:
        """The model's raw outputs (logits, or the standardized target) for samples ``X``."""
        a = np.asarray(X.detach().cpu().numpy() if hasattr(X, "detach") else X, dtype=np.float32)
        if a.shape[1:] != self.sample_shape:
            raise DataError(f"predict: samples must have shape {self.sample_shape} (as in the sweep), "
                            f"got {a.shape[1:]}")
        x = torch.from_numpy((a - self.mean) / self.scale)
        if self.flatten:
            x = x.reshape(len(x), -1)
        with torch.no_grad():
            return self.module(x).numpy()  # type: ignore[no-any-return]

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (classification) or target values (regression) for samples ``X``."""
        out = self.outputs(X)
        if self.task == "classification":
            return np.asarray(self.classes, dtype=object)[out.argmax(1)] if self.classes else out.argmax(1)
        mu, sd = self.target or (0.0, 1.0)
        return out[:, 0] * sd + mu  # type: ignore[no-any-return]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the outputs), one column per class."""
        out = torch.from_numpy(self.outputs(X))
        return torch.softmax(out, dim=1).numpy()  # type: ignore[no-any-return]


def load_model(path: str | Path, *, model_fn: ModelFn | None = None) -> LoadedModel:
    """Load what :func:`refit` wrote (a folder with ``model.pt`` and ``model.json``) as a :class:`LoadedModel`.

    A custom model needs its factory again: ``load_model(path, model_fn=my_factory)``.
    """
    folder = Path(path)
    try:
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        state = torch.load(folder / "model.pt", weights_only=True)
    except (OSError, ValueError) as e:
        raise ConfigError(f"load_model: {str(folder)!r} holds no refit model (model.json and model.pt): {e}") from None
    arch, hp = meta.get("architecture"), meta["hyperparameters"]
    n_inputs = meta.get("n_inputs", arch["n_in"] if arch else None)
    n_in = tuple(n_inputs) if isinstance(n_inputs, list) else n_inputs
    if arch is not None:  # the architecture decides (the MLP's has no "model" key: refits before the CNN)
        spec = {**hp, **arch, "model": arch.get("model", "mlp")}
        module: nn.Module = build_builtin(spec, n_in, int(meta.get("n_outputs", arch["n_out"])))
    elif model_fn is None:
        raise ConfigError(f"load_model: {str(folder)!r} holds a custom model; pass the factory that made it "
                          "(load_model(path, model_fn=...))")
    else:
        module = model_fn(TrialParams.from_dict(hp), n_in, int(meta["n_outputs"]))
    module.load_state_dict(state)
    module.train(False)
    target = meta.get("target_scaler")
    shape = tuple(meta.get("sample_shape") or [len(meta["scaler"]["mean"])])
    return LoadedModel(
        module=module, task=meta["task"], classes=tuple(meta.get("classes") or ()), sample_shape=shape,
        mean=np.asarray(meta["scaler"]["mean"], dtype=np.float32), scale=np.asarray(meta["scaler"]["scale"],
                                                                                    dtype=np.float32),
        target=None if target is None else (float(target["mean"]), float(target["scale"])),
        flatten=arch is not None and arch.get("model", "mlp") != "cnn" and len(shape) > 1,
    )
