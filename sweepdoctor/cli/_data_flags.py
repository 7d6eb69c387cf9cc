"""The data flags of ``sweepdoctor sweep``: a built-in dataset, a CSV or npz file, an image folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import click

from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep.config import BUILTIN_DATASETS, CHANNELS, IMAGE_MODES, SCALES, STREAM, DataConfig, SweepConfig

__all__ = ["data_options", "data_overrides"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = [
    click.option("--dataset", type=click.Choice(BUILTIN_DATASETS), help="A built-in or generated dataset. [digits]"),
    click.option("--csv", "csv_path", help="A CSV file with a header row and numeric features."),
    click.option("--target", help="The CSV's target column."),
    click.option("--test-csv", help="A test set from the deployment distribution (recorded, never used to select)."),
    click.option("--npz", "npz_path", metavar="FILE",
                 help="An .npz file (np.savez) with arrays X (rows x features, N x C x L or N x C x H x W) and y; "
                      "X_test and y_test, when present, are the test set."),
    click.option("--npz-keys", metavar="X,y[,X_test,y_test]",
                 help="The names of the --npz arrays, when not X,y,X_test,y_test."),
    click.option("--images", "images_dir", metavar="DIR",
                 help="A folder with one subfolder of PNG/JPEG images per class (the folder names are the classes)."),
    click.option("--test-images", metavar="DIR", help="A test folder with (some of) the class subfolders of --images."),
    click.option("--image-size", metavar="N|HxW",
                 help="Resize every image to N x N (or H x W) pixels; needed when the images differ in size."),
    click.option("--image-mode", type=click.Choice(IMAGE_MODES),
                 help="Grey (1 channel) or RGB (3 channels). [auto: rgb when any image has colour]"),
    click.option("--stream", type=click.Choice(STREAM),
                 help="Read the --images on demand, batch by batch in worker processes, instead of decoding them "
                      "all up front. [auto: when decoded they would take over a quarter of the free memory]"),
    click.option("--scale", type=click.Choice(SCALES),
                 help="Standardize the inputs, fit on each fold's training rows: per feature, per channel "
                      "(images, sequences) or not. [auto: feature for a table, channel otherwise]"),
    click.option("--channels", type=click.Choice(CHANNELS),
                 help="A sequence's channel axis: first (n, C, L), last (n, L, C). [auto: the shorter axis]"),
    click.option("--task", type=click.Choice(["classification", "regression"]), help="Override the inferred task."),
    click.option("--n-samples", type=int, help="Rows of a generated dataset (classification/regression)."),
    click.option("--n-features", type=int, help="Features of a generated dataset."),
]

# The [data] fields of each kind of source: a source given as a flag replaces the file's other kinds.
_SOURCE_FIELDS = {
    "dataset": ("dataset",),
    "csv": ("csv", "target", "test_csv"),
    "npz": ("npz", "npz_x", "npz_y", "npz_x_test", "npz_y_test"),
    "images": ("images", "test_images", "image_size", "image_mode", "stream"),
}


def data_options(f: F) -> F:
    """The data flags, in this order in ``--help``."""
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def data_overrides(cfg: SweepConfig, o: dict[str, Any]) -> SweepConfig:
    """The [data] of the configuration file with the flags' values over it (not validated yet)."""
    flags = {"dataset": o["dataset"], "csv": o["csv_path"], "npz": o["npz_path"], "images": o["images_dir"]}
    given = {kind for kind, value in flags.items() if value is not None}
    if given:
        plain = DataConfig()
        cfg = replace(cfg, data=replace(cfg.data, **{f: getattr(plain, f) for kind, names in _SOURCE_FIELDS.items()
                                                     if kind not in given for f in names}))
    return cfg.with_overrides(
        "data",
        dataset=o["dataset"],
        csv=o["csv_path"],
        target=o["target"],
        test_csv=o["test_csv"],
        npz=o["npz_path"],
        **_npz_keys(o["npz_keys"]),
        images=o["images_dir"],
        test_images=o["test_images"],
        image_size=o["image_size"],
        image_mode=o["image_mode"],
        stream=o["stream"],
        scale=o["scale"],
        channels=o["channels"],
        task=o["task"],
        n_samples=o["n_samples"],
        n_features=o["n_features"],
    )


def _npz_keys(text: str | None) -> dict[str, str]:
    """``--npz-keys images,labels[,test_images,test_labels]`` as the [data] npz_* fields."""
    if text is None:
        return {}
    names = [n.strip() for n in text.split(",")]
    if len(names) not in (2, 4) or not all(names):
        raise ConfigError(f"--npz-keys must be 2 or 4 comma-separated array names (X,y or X,y,X_test,y_test), "
                          f"got {text!r}")
    return dict(zip(("npz_x", "npz_y", "npz_x_test", "npz_y_test"), names))
