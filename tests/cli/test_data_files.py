"""``sweep --npz`` / ``--images``: a sweep from an npz file, and every bad file refused the usual way:
exit status 2, one ``error:`` line naming the file, no traceback, nothing written (no database)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sweepdoctor.cli import main
from sweepdoctor.cli._data_flags import data_overrides
from sweepdoctor.sweep.config import SweepConfig

FAST = ["--folds", "2", "--epochs", "1", "--trials", "1", "--no-baselines", "--threads", "1"]
RNG = np.random.default_rng(0)
X40, Y40 = RNG.normal(size=(40, 3)), np.arange(40) % 2

Args = Callable[[Path], list[str]]


def _npz(d: Path, name: str = "d.npz", **arrays: Any) -> str:
    np.savez(d / name, **arrays)
    return str(d / name)


def _images(d: Path, classes: dict[str, int], *, h: int = 6, w: int = 5, name: str = "imgs") -> str:
    for c, n in classes.items():
        (d / name / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(RNG.integers(0, 256, (h, w), dtype=np.uint8)).save(d / name / c / f"{i}.png")
    return str(d / name)


def _corrupt(d: Path) -> str:
    root = _images(d, {"a": 5, "b": 5})
    (d / "imgs" / "a" / "x.png").write_bytes(b"junk")
    return root


def _mixed(d: Path) -> str:
    root = _images(d, {"a": 5, "b": 5})
    _images(d, {"b": 1}, h=9, w=9, name="imgs/b/more")
    return root


def _class_without_images(d: Path) -> str:
    root = _images(d, {"a": 5, "b": 5})
    (d / "imgs" / "empty").mkdir()
    return root


def _text_file(d: Path) -> str:
    (d / "d.npz").write_text("X,y\n1,0\n", encoding="utf-8")
    return str(d / "d.npz")


def _empty_folder(d: Path) -> str:
    (d / "imgs").mkdir()
    return str(d / "imgs")


def _npz_run(make: Callable[[Path], str], *extra: str) -> Args:
    return lambda d: ["sweep", "--npz", make(d), *FAST, *extra]


def _img_run(make: Callable[[Path], str], *extra: str) -> Args:
    return lambda d: ["sweep", "--images", make(d), *FAST, *extra]


def _toml(text: Callable[[Path], str]) -> Args:
    def args(d: Path) -> list[str]:
        (d / "s.toml").write_text(text(d), encoding="utf-8")
        return ["sweep", "--config", str(d / "s.toml"), *FAST]
    return args


CASES: dict[str, tuple[Args, str]] = {
    "npz missing": (_npz_run(lambda d: str(d / "absent.npz")), "absent.npz"),
    "npz wrong key": (_npz_run(lambda d: _npz(d, feats=X40, y=Y40)), "its arrays: feats, y"),
    "npz key flag names a missing array": (_npz_run(lambda d: _npz(d, X=X40, y=Y40), "--npz-keys", "X,label"),
                                           "no array 'label'"),
    "npz-keys one name": (_npz_run(lambda d: _npz(d, X=X40, y=Y40), "--npz-keys", "X"), "--npz-keys must be 2 or 4"),
    "npz length mismatch": (_npz_run(lambda d: _npz(d, X=X40, y=Y40[:30])), "40 samples but 'y' has 30"),
    "npz NaN in X": (_npz_run(lambda d: _npz(d, X=np.where(X40 > 2, np.nan, X40), y=Y40)), "NaN or infinite"),
    "npz inf in X": (_npz_run(lambda d: _npz(d, X=np.where(X40 > 2, -np.inf, X40), y=Y40)), "NaN or infinite"),
    "npz text X": (_npz_run(lambda d: _npz(d, X=X40.astype(str), y=Y40)), "is not numeric"),
    "npz object y": (_npz_run(lambda d: _npz(d, X=X40, y=np.array([None] * 40, dtype=object))), "Python objects"),
    "npz not an npz": (_npz_run(_text_file), "is not an .npz"),
    "npz one class": (_npz_run(lambda d: _npz(d, X=X40, y=np.zeros(40, dtype=int))), "at least 2 classes"),
    "csv and npz": (lambda d: ["sweep", "--csv", str(d / "a.csv"), "--target", "y", "--npz",
                               _npz(d, X=X40, y=Y40), *FAST], "give one data file, got csv and npz"),
    "dataset and images": (lambda d: ["sweep", "--dataset", "iris", "--images", _images(d, {"a": 5, "b": 5}), *FAST],
                           "give either a dataset name"),
    "target with npz": (_npz_run(lambda d: _npz(d, X=X40, y=Y40), "--target", "y"), "data.target names a CSV column"),
    "images missing": (_img_run(lambda d: str(d / "absent")), "does not exist"),
    "images corrupt": (_img_run(_corrupt), "x.png"),
    "images mixed sizes": (_img_run(_mixed), "--image-size"),
    "images one class": (_img_run(lambda d: _images(d, {"only": 12})), "one class folder ('only')"),
    "images empty folder": (_img_run(_empty_folder), "is empty"),
    "images class without images": (_img_run(_class_without_images), "has no PNG or JPEG images"),
    "images bad size": (_img_run(lambda d: _images(d, {"a": 5, "b": 5}), "--image-size", "large"), "N or HxW"),
    "images as regression": (_img_run(lambda d: _images(d, {"a": 5, "b": 5}), "--task", "regression"),
                             "classification task"),
    "images test folder of other classes": (lambda d: ["sweep", "--images", _images(d, {"a": 5, "b": 5}),
                                                       "--test-images", _images(d, {"a": 1, "z": 1}, name="test"),
                                                       *FAST], "lacks: 'z'"),
    "image-size without images": (lambda d: ["sweep", "--dataset", "iris", "--image-size", "8", *FAST],
                                  "is for an image folder"),
    "unknown image mode": (_img_run(lambda d: _images(d, {"a": 5, "b": 5}), "--image-mode", "cmyk"), "cmyk"),
    "unknown scale": (lambda d: ["sweep", "--dataset", "iris", "--scale", "pixel", *FAST], "pixel"),
    "toml npz wrong key": (_toml(lambda d: f'[data]\nnpz = "{_npz(d, X=X40, y=Y40)}"\nnpz_x = "images"\n'),
                           "no array 'images'; its arrays: X, y"),
    "toml scale unknown": (_toml(lambda d: '[data]\ndataset = "iris"\nscale = "pixel"\n'), "data.scale must be one of"),
}


def _snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(d.rglob("*"))}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_data_file_is_one_line_and_writes_nothing(name: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWEEPDOCTOR_STORAGE", raising=False)
    make, expected = CASES[name]
    args = make(tmp_path)
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(main, args)
    lines = result.stderr.strip().splitlines()
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.output and "Usage:" not in result.output
    assert _snapshot(tmp_path) == before, "a file was written"
    assert not (tmp_path / "sweepdoctor.db").exists()


def test_sweep_from_an_npz_file_with_named_arrays(tmp_path: Path) -> None:
    path = _npz(tmp_path, "tab.npz", feats=X40, labels=np.array(["no", "yes"])[Y40])
    url = f"sqlite:///{tmp_path}/s.db"
    r = CliRunner().invoke(main, ["sweep", "--npz", path, "--npz-keys", "feats,labels", *FAST, "--storage", url,
                                  "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["study_name"] == "tab-mlp" and doc["n_complete"] == 1 and len(doc["best_fold_scores"]) == 2


def test_sweep_from_an_npz_named_in_toml(tmp_path: Path) -> None:
    path = _npz(tmp_path, "tab.npz", a=X40, b=Y40, ta=X40[:5], tb=Y40[:5])
    (tmp_path / "s.toml").write_text(f'[data]\nnpz = "{path}"\nnpz_x = "a"\nnpz_y = "b"\nnpz_x_test = "ta"\n'
                                     'npz_y_test = "tb"\n[study]\nname = "from-toml"\n', encoding="utf-8")
    r = CliRunner().invoke(main, ["sweep", "--config", str(tmp_path / "s.toml"), *FAST,
                                  "--storage", f"sqlite:///{tmp_path}/s.db", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["n_complete"] == 1


def _opts(**given: Any) -> dict[str, Any]:
    keys = ("dataset", "csv_path", "target", "test_csv", "npz_path", "npz_keys", "images_dir", "test_images",
            "image_size", "image_mode", "stream", "scale", "channels", "task", "n_samples", "n_features")
    return {k: given.get(k) for k in keys}


def test_a_source_flag_replaces_the_files_other_sources() -> None:
    base = SweepConfig().with_overrides("data", dataset="iris")
    cfg = data_overrides(base, _opts(images_dir="imgs", image_size="8x8", image_mode="grey", scale="channel"))
    assert (cfg.data.dataset, cfg.data.images, cfg.data.image_hw(), cfg.data.image_mode, cfg.data.scale) == \
        (None, "imgs", (8, 8), "grey", "channel")
    cfg = data_overrides(cfg, _opts(npz_path="f.npz", npz_keys="a, b,c,d"))
    assert (cfg.data.images, cfg.data.image_size, cfg.data.image_mode) == (None, None, "auto")
    assert (cfg.data.npz, cfg.data.npz_x, cfg.data.npz_y, cfg.data.npz_x_test, cfg.data.npz_y_test) == \
        ("f.npz", "a", "b", "c", "d")
    kept = data_overrides(base.with_overrides("data", dataset=None, images="imgs", image_size=16), _opts())
    assert kept.data.images == "imgs" and kept.data.image_size == 16  # no source flag: the file's [data] stays


def test_help_lists_the_data_flags() -> None:
    r = CliRunner().invoke(main, ["sweep", "--help"])
    assert r.exit_code == 0
    for flag in ("--npz ", "--npz-keys", "--images", "--test-images", "--image-size", "--image-mode", "--scale",
                 "--channels"):
        assert flag in r.output, flag
