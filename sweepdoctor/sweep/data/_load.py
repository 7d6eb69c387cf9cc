"""The dataset a :class:`~sweepdoctor.sweep.config.DataConfig` names."""

from __future__ import annotations

from sweepdoctor.sweep.config import DataConfig
from sweepdoctor.sweep.data._datasets import Dataset, from_arrays, load_builtin, load_csv
from sweepdoctor.sweep.data._files import load_npz
from sweepdoctor.sweep.data._images import load_image_folder

__all__ = ["load_dataset"]


def load_dataset(cfg: DataConfig, *, seed: int = 0) -> Dataset:
    """The dataset a :class:`DataConfig` names: a CSV or npz file, an image folder, or a built-in/generated one."""
    cfg.validate()  # one source, and only the options it uses
    if cfg.npz is not None:
        return load_npz(cfg.npz, x=cfg.npz_x or "X", y=cfg.npz_y or "y", x_test=cfg.npz_x_test,
                        y_test=cfg.npz_y_test, task=cfg.task)
    if cfg.images is not None:
        return load_image_folder(cfg.images, size=cfg.image_hw(), mode=cfg.image_mode, test_path=cfg.test_images,
                                 stream=cfg.stream)
    if cfg.csv is not None:
        assert cfg.target is not None  # DataConfig.validate refuses a CSV without one
        return load_csv(cfg.csv, target=cfg.target, task=cfg.task, test_path=cfg.test_csv)
    ds = load_builtin(cfg.dataset or "digits", n_samples=cfg.n_samples, n_features=cfg.n_features, seed=seed)
    if cfg.task is not None and cfg.task != ds.task.value:
        return from_arrays(ds.X, ds.y, task=cfg.task, name=ds.name)
    return ds
