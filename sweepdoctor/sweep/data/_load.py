"""The dataset a :class:`~sweepdoctor.sweep.config.DataConfig` names."""

from __future__ import annotations

from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep.config import DataConfig
from sweepdoctor.sweep.data._datasets import Dataset, from_arrays, load_builtin, load_csv

__all__ = ["load_dataset"]


def load_dataset(cfg: DataConfig, *, seed: int = 0) -> Dataset:
    """The dataset a :class:`DataConfig` names: a CSV file, or a built-in/generated one."""
    if cfg.csv is not None:
        if cfg.dataset is not None:
            raise ConfigError("data: give either a dataset name or a CSV file, not both")
        if cfg.target is None:
            raise ConfigError("data.target: a CSV file needs the name of its target column (--target)")
        return load_csv(cfg.csv, target=cfg.target, task=cfg.task, test_path=cfg.test_csv)
    if cfg.test_csv is not None:
        raise ConfigError("data.test_csv needs data.csv (a test set for a built-in dataset is not supported)")
    ds = load_builtin(cfg.dataset or "digits", n_samples=cfg.n_samples, n_features=cfg.n_features, seed=seed)
    if cfg.task is not None and cfg.task != ds.task.value:
        return from_arrays(ds.X, ds.y, task=cfg.task, name=ds.name)
    return ds
