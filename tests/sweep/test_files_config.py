"""[data] keys for npz files and image folders, and scale: parsed, checked, recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep.config import DataConfig, data_source, load_config


def _toml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_npz_and_image_keys_are_read_from_toml(tmp_path: Path) -> None:
    cfg = load_config(_toml(tmp_path, '[data]\nnpz = "f.npz"\nnpz_x = "images"\nnpz_y = "labels"\n'
                                      'npz_x_test = "ti"\nnpz_y_test = "tl"\nscale = "channel"\n'))
    d = cfg.data
    assert (d.npz, d.npz_x, d.npz_y, d.npz_x_test, d.npz_y_test, d.scale) == ("f.npz", "images", "labels", "ti", "tl",
                                                                              "channel")
    cfg = load_config(_toml(tmp_path, '[data]\nimages = "imgs"\ntest_images = "t"\nimage_size = 32\n'
                                      'image_mode = "rgb"\n'))
    assert cfg.data.image_hw() == (32, 32) and cfg.data.image_mode == "rgb" and cfg.data.test_images == "t"


@pytest.mark.parametrize("value,hw", [(None, None), (28, (28, 28)), ("28", (28, 28)), ("28x32", (28, 32)),
                                      (" 28 X 32 ", (28, 32))])
def test_image_size_is_n_or_h_by_w(value: int | str | None, hw: tuple[int, int] | None) -> None:
    assert DataConfig(images="d", image_size=value).validate().image_hw() == hw


@pytest.mark.parametrize("scale", ["auto", "feature", "channel", "none"])
def test_every_scale_is_accepted(scale: str) -> None:
    assert DataConfig(scale=scale).validate().scale == scale


BAD = {
    "csv and npz": ('csv = "a.csv"\ntarget = "y"\nnpz = "b.npz"', r"give one data file, got csv and npz"),
    "npz and images": ('npz = "b.npz"\nimages = "d"', r"give one data file, got npz and images \(--npz and --images\)"),
    "dataset and npz": ('dataset = "iris"\nnpz = "b.npz"',
                        r"give either a dataset name or an npz file, not both \(got 'iris' and --npz 'b.npz'\)"),
    "npz key without npz": ('npz_x = "a"', r"data.npz_x names an array of an npz file; it needs data.npz"),
    "npz key empty": ('npz = "b.npz"\nnpz_y = " "', r"data.npz_y must be the name of an array"),
    "npz key a number": ('npz = "b.npz"\nnpz_x = 3', r"data.npz_x must be a string"),
    "npz keys the same": ('npz = "b.npz"\nnpz_x = "y"', r"four different names, got 'y' twice"),
    "target with npz": ('npz = "b.npz"\ntarget = "y"', r"data.target names a CSV column"),
    "test_csv with npz": ('npz = "b.npz"\ntest_csv = "t.csv"', r"data.test_csv needs data.csv"),
    "test_images without images": ('dataset = "iris"\ntest_images = "t"', r"data.test_images is for an image folder"),
    "image_size without images": ('image_size = 8', r"data.image_size is for an image folder"),
    "image_mode without images": ('image_mode = "rgb"', r"data.image_mode is for an image folder"),
    "image_size a word": ('images = "d"\nimage_size = "big"', r"image_size \(--image-size\) must be N or HxW .*'big'"),
    "image_size 0": ('images = "d"\nimage_size = 0', r"must be 1 to 8192 pixels a side, got 0"),
    "image_size 0x4": ('images = "d"\nimage_size = "0x4"', r"must be 1 to 8192 pixels a side"),
    "image_size a float": ('images = "d"\nimage_size = 2.5', r"data.image_size must be an integer or a string"),
    "image_mode unknown": ('images = "d"\nimage_mode = "cmyk"', r"data.image_mode must be one of auto, grey, rgb"),
    "images as regression": ('images = "d"\ntask = "regression"', r"an image folder is a classification task"),
    "scale unknown": ('scale = "pixel"', r"data.scale must be one of auto, feature, channel, none, got 'pixel'"),
    "unknown key": ('npz_z = "a"', r"unknown key 'npz_z'"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_data_keys_are_refused(tmp_path: Path, name: str) -> None:
    body, match = BAD[name]
    with pytest.raises(ConfigError, match=match):
        load_config(_toml(tmp_path, "[data]\n" + body + "\n"))


def test_data_source_records_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = data_source(DataConfig(images="imgs", test_images="t", image_size="8x9"), seed=3)
    assert doc["images"] == str(tmp_path / "imgs") and doc["test_images"] == str(tmp_path / "t")
    assert doc["image_size"] == "8x9" and doc["scale"] == "auto" and doc["seed"] == 3
    assert DataConfig(**{k: v for k, v in doc.items() if k != "seed"}).validate().image_hw() == (8, 9)
    assert data_source(DataConfig(npz="f.npz"), seed=0)["npz"] == str(tmp_path / "f.npz")
