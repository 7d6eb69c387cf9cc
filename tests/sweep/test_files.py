"""npz files: what is loaded (tables, sequences, images; test sets; array names) and what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sweepdoctor.diagnostics import Task
from sweepdoctor.errors import DataError
from sweepdoctor.sweep.config import DataConfig
from sweepdoctor.sweep.data import load_dataset, load_npz

RNG = np.random.default_rng(0)


def _npz(tmp_path: Path, name: str = "d.npz", **arrays: Any) -> Path:
    p = tmp_path / name
    np.savez(p, **arrays)
    return p


@pytest.mark.parametrize("shape", [(40, 5), (40, 2, 16), (40, 3, 6, 7)], ids=["table", "sequence", "image"])
def test_samples_of_any_shape_keep_their_shape(tmp_path: Path, shape: tuple[int, ...]) -> None:
    X = RNG.normal(size=shape)
    ds = load_npz(_npz(tmp_path, X=X, y=np.arange(40) % 4))
    assert ds.X.shape == shape and ds.X.dtype == np.float32 and ds.sample_shape == shape[1:]
    np.testing.assert_allclose(ds.X, X.astype(np.float32))
    assert ds.task is Task.CLASSIFICATION and ds.n_classes == 4 and ds.X_test is None and ds.name == "d"


def test_test_arrays_are_found_by_their_default_names(tmp_path: Path) -> None:
    p = _npz(tmp_path, X=RNG.normal(size=(30, 1, 4, 4)), y=np.arange(30) % 2,
             X_test=RNG.normal(size=(6, 1, 4, 4)), y_test=np.array([1, 0, 1, 1, 0, 0]))
    ds = load_npz(p)
    assert ds.X_test is not None and ds.X_test.shape == (6, 1, 4, 4)
    assert ds.y_test is not None and ds.y_test.tolist() == [1, 0, 1, 1, 0, 0]


def test_named_arrays_and_string_labels(tmp_path: Path) -> None:
    labels = np.array(["cat", "dog", "owl"])[np.arange(30) % 3]
    p = _npz(tmp_path, images=RNG.random((30, 1, 5, 5)), labels=labels,
             t_images=RNG.random((4, 1, 5, 5)), t_labels=np.array(["owl", "cat", "cat", "dog"]))
    ds = load_npz(p, x="images", y="labels", x_test="t_images", y_test="t_labels")
    assert ds.classes == ("cat", "dog", "owl") and ds.y[:3].tolist() == [0, 1, 2]
    assert ds.y_test is not None and ds.y_test.tolist() == [2, 0, 0, 1]


def test_regression_target_and_task_override(tmp_path: Path) -> None:
    p = _npz(tmp_path, X=RNG.normal(size=(50, 3)), y=RNG.normal(size=50))
    assert load_npz(p).task is Task.REGRESSION
    q = _npz(tmp_path, "c.npz", X=RNG.normal(size=(50, 3)), y=np.arange(50) % 2)
    assert load_npz(q, task="regression").task is Task.REGRESSION


def test_load_dataset_reads_the_npz_a_config_names(tmp_path: Path) -> None:
    p = _npz(tmp_path, a=RNG.normal(size=(20, 2, 9)), b=np.arange(20) % 2)
    ds = load_dataset(DataConfig(npz=str(p), npz_x="a", npz_y="b"))
    assert ds.X.shape == (20, 2, 9) and ds.n_classes == 2


def _write(tmp_path: Path, content: bytes) -> Path:
    p = tmp_path / "d.npz"
    p.write_bytes(content)
    return p


def _damaged(tmp_path: Path) -> Path:
    p = _npz(tmp_path, X=RNG.normal(size=(2000, 8)), y=np.arange(2000) % 2)
    data = p.read_bytes()
    return _write(tmp_path, data[: len(data) // 2])


def _npy(tmp_path: Path) -> Path:
    p = tmp_path / "d.npz"
    with p.open("wb") as fh:
        np.save(fh, RNG.normal(size=(20, 3)))
    return p


X20, Y20 = RNG.normal(size=(20, 3)), np.arange(20) % 2
CASES: dict[str, tuple[Any, str]] = {
    "missing file": (lambda d: d / "absent.npz", r"cannot read '.*absent\.npz': No such file.*--npz"),
    "a folder": (lambda d: d, r"cannot read '.*'.*check the path"),
    "a text file": (lambda d: _write(d, b"X,y\n1,2\n"), r"'.*d\.npz' is not an \.npz file.*np\.savez"),
    "damaged": (_damaged, r"'.*d\.npz' (is not an \.npz file|.*damaged)"),
    "one .npy array": (_npy, r"holds one array \(an \.npy file\), not named arrays"),
    "wrong key": (lambda d: _npz(d, features=X20, y=Y20), r"has no array 'X'; its arrays: features, y; .*--npz-keys"),
    "length mismatch": (lambda d: _npz(d, X=X20, y=Y20[:15]), r"array 'X' has 20 samples but 'y' has 15"),
    "NaN in X": (lambda d: _npz(d, X=np.where(np.eye(20, 3) > 0, np.nan, X20), y=Y20),
                 r"array 'X' of '.*d\.npz' has 3 NaN or infinite values \(the first in row 0\)"),
    "inf in X_test": (lambda d: _npz(d, X=X20, y=Y20, X_test=np.full((2, 3), np.inf), y_test=Y20[:2]),
                      r"array 'X_test' of .* NaN or infinite"),
    "text X": (lambda d: _npz(d, X=X20.astype(str), y=Y20), r"array 'X' of .* is not numeric \(dtype <U"),
    "object y": (lambda d: _npz(d, X=X20, y=np.array([{"a": 1}] * 20, dtype=object)),
                 r"array 'y' of .* holds Python objects .*allow_pickle=False"),
    "complex X": (lambda d: _npz(d, X=X20 * 1j, y=Y20), r"array 'X' .* not numeric \(dtype complex128\)"),
    "scalar X": (lambda d: _npz(d, X=np.float64(3.0), y=Y20), r"array 'X' .* is a single value"),
    "2-D y": (lambda d: _npz(d, X=X20, y=np.ones((20, 2))),
              r"array 'y' .* has shape \(20, 2\); the target must be 1-D"),
    "NaN in y": (lambda d: _npz(d, X=X20, y=np.where(Y20 > 0, np.nan, 1.0)), r"array 'y' .* NaN or infinite"),
    "X_test without y_test": (lambda d: _npz(d, X=X20, y=Y20, X_test=X20), r"has 'X_test' but no 'y_test'"),
    "test samples of another shape": (lambda d: _npz(d, X=X20, y=Y20, X_test=np.ones((2, 4)), y_test=Y20[:2]),
                                      r"'.*d\.npz': X_test's samples have shape \(4,\), X's \(3,\)"),
    "one class": (lambda d: _npz(d, X=X20, y=np.ones(20, dtype=int)),
                  r"'.*d\.npz': classification needs at least 2 classes"),
    "too few rows": (lambda d: _npz(d, X=X20[:5], y=Y20[:5]), r"'.*d\.npz': need at least 10 rows, got 5"),
    "5-D X": (lambda d: _npz(d, X=np.ones((20, 1, 1, 1, 1)), y=Y20), r"'.*d\.npz': X must be .*got shape"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_npz_is_refused_naming_the_file(tmp_path: Path, name: str) -> None:
    make, match = CASES[name]
    with pytest.raises(DataError, match=match):
        load_npz(make(tmp_path))


def test_asked_test_keys_must_exist(tmp_path: Path) -> None:
    p = _npz(tmp_path, X=X20, y=Y20)
    with pytest.raises(DataError, match=r"has no array 'Xt'; its arrays: X, y"):
        load_npz(p, x_test="Xt", y_test="yt")
    with pytest.raises(DataError, match=r"a test set needs both arrays"):
        load_npz(p, x_test="X")
