"""Where a sweep's data comes from ([data] in the TOML file): a built-in or generated dataset,
a CSV or npz file, or a folder of images; and how its inputs are scaled."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sweepdoctor.errors import ConfigError

__all__ = ["CHANNELS", "IMAGE_MODES", "SCALES", "STREAM", "DataConfig", "data_source"]

IMAGE_MODES = ("auto", "grey", "rgb")  # auto: rgb when any image has colour, else grey
# feature: per column of a table; channel: per channel of an image or sequence; auto: by the shape of X.
SCALES = ("auto", "feature", "channel", "none")
# Where a sequence (n, A, B) keeps its channels: axis 1 (first), axis 2 (last), or auto (the shorter axis).
CHANNELS = ("auto", "first", "last")
# An image folder decoded up front (never), read on demand in worker processes (always), or by its size (auto).
STREAM = ("auto", "always", "never")

_SOURCES = (("csv", "--csv"), ("npz", "--npz"), ("images", "--images"))
_NPZ_KEYS = ("npz_x", "npz_y", "npz_x_test", "npz_y_test")
_SIZE = re.compile(r"(\d+)(?:\s*[xX]\s*(\d+))?")


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from: a built-in/generated dataset, a CSV or npz file, or an image folder."""

    dataset: str | None = None  # iris, wine, breast_cancer, digits, diabetes, classification, regression
    csv: str | None = None
    target: str | None = None  # the CSV's target column
    test_csv: str | None = None  # a test set from the deployment distribution
    task: str | None = None  # classification | regression (inferred when absent)
    n_samples: int = 1000  # for generated datasets
    n_features: int = 20
    npz: str | None = None  # an .npz file with arrays X and y, optionally X_test and y_test
    npz_x: str | None = None  # the names of those arrays in the file, when not X, y, X_test, y_test
    npz_y: str | None = None
    npz_x_test: str | None = None
    npz_y_test: str | None = None
    images: str | None = None  # a folder with one subfolder of PNG/JPEG images per class
    test_images: str | None = None  # a test folder with (some of) the same class subfolders
    image_size: int | str | None = None  # N or "HxW": resize every image (needed when their sizes differ)
    image_mode: str = "auto"  # grey (1 channel) | rgb (3) | auto (rgb when any image has colour)
    scale: str = "auto"  # feature | channel | none | auto (feature for a table, channel for images and sequences)
    channels: str = "auto"  # a sequence's channel axis: first (n, C, L) | last (n, L, C) | auto (the shorter one)
    stream: str = "auto"  # an image folder read on demand: always | never | auto (past a quarter of free memory)

    def image_hw(self) -> tuple[int, int] | None:
        """``image_size`` as (height, width), or None to keep the images' own size."""
        return _image_hw(self.image_size)

    def validate(self) -> DataConfig:
        """Refuse a configuration that names no single source, or options its source does not use."""
        _one_of("data.task", self.task, ("classification", "regression"), allow_none=True)
        _one_of("data.image_mode", self.image_mode, IMAGE_MODES)
        _one_of("data.scale", self.scale, SCALES)
        _one_of("data.channels", self.channels, CHANNELS)
        _one_of("data.stream", self.stream, STREAM)
        given = [(key, flag) for key, flag in _SOURCES if getattr(self, key) is not None]
        if len(given) > 1:
            raise ConfigError(f"data: give one data file, got {' and '.join(k for k, _ in given)} "
                              f"({' and '.join(f for _, f in given)}); drop all but one")
        if given and self.dataset is not None:
            key, flag = given[0]
            what = {"csv": "a CSV file", "npz": "an npz file", "images": "an image folder"}[key]
            raise ConfigError(f"data: give either a dataset name or {what}, not both (got {self.dataset!r} and "
                              f"{flag} {getattr(self, key)!r}); drop data.dataset (--dataset) or data.{key}")
        self._check_csv()
        self._check_npz()
        self._check_images()
        return self

    def _check_csv(self) -> None:
        if self.csv is not None and self.target is None:
            raise ConfigError("data.target: a CSV needs the name of its target column (--target)")
        if self.test_csv is not None and self.csv is None:
            raise ConfigError("data.test_csv needs data.csv (--csv); for an npz file use its X_test and y_test "
                              "arrays, for images --test-images")
        if self.target is not None and (self.npz is not None or self.images is not None):
            raise ConfigError(f"data.target names a CSV column, got {self.target!r} with "
                              f"{'an npz file' if self.npz else 'an image folder'}; drop it (npz: the y array, "
                              "images: the class folders)")

    def _check_npz(self) -> None:
        keys = {k: getattr(self, k) for k in _NPZ_KEYS if getattr(self, k) is not None}
        if keys and self.npz is None:
            raise ConfigError(f"data.{next(iter(keys))} names an array of an npz file; it needs data.npz (--npz)")
        for key, value in keys.items():
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"data.{key} must be the name of an array in the npz file, got {value!r}")
        names = [self.npz_x or "X", self.npz_y or "y", self.npz_x_test or "X_test", self.npz_y_test or "y_test"]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ConfigError(f"data: the npz arrays need four different names, got {name!r} twice "
                                  f"({', '.join(names)}); set npz_x, npz_y, npz_x_test, npz_y_test (--npz-keys)")

    def _check_images(self) -> None:
        if self.images is None:
            for key, value, default in (("test_images", self.test_images, None), ("image_size", self.image_size, None),
                                        ("image_mode", self.image_mode, "auto"), ("stream", self.stream, "auto")):
                if value != default:
                    raise ConfigError(f"data.{key} is for an image folder; it needs data.images (--images)")
            return
        if self.task == "regression":
            raise ConfigError("data.task: an image folder is a classification task (one subfolder per class), "
                              "got 'regression'; drop --task")
        self.image_hw()


def _image_hw(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        h = w = value
    else:
        m = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
        if m is None:
            raise ConfigError(f"data.image_size (--image-size) must be N or HxW (like 32 or 28x32), got {value!r}")
        h, w = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 1 <= h <= 8192 or not 1 <= w <= 8192:
        raise ConfigError(f"data.image_size (--image-size) must be 1 to 8192 pixels a side, got {value!r}")
    return h, w


def _one_of(key: str, value: Any, choices: tuple[str, ...], *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")


def data_source(cfg: DataConfig, *, seed: int) -> dict[str, Any]:
    """A JSON-able record of where the data came from (file paths made absolute)."""
    doc: dict[str, Any] = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    for key in ("csv", "test_csv", "npz", "images", "test_images"):
        if doc[key] is not None:
            doc[key] = str(Path(doc[key]).resolve())
    doc["seed"] = seed
    return doc
