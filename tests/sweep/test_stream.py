"""Data read on demand: a user's torch Dataset and large image folders stream through worker
processes, folds stay index sets, the numbers are those of the same data held in memory, and the
memory a sweep takes does not grow with the data."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from sweepdoctor import sweep
from sweepdoctor.errors import ConfigError, DataError
from sweepdoctor.sweep.data import (
    MEMORY_ENV,
    SampleStream,
    is_stream,
    load_image_folder,
    memory_budget,
    scaler_stats,
    should_stream,
)

HERE = Path(__file__).parent


class Noise:
    """A stream source: sample i drawn from seed i (counts its reads when read in this process)."""

    def __init__(self, n: int, shape: tuple[int, ...]) -> None:
        self.n, self.shape, self.reads = n, shape, 0

    def __len__(self) -> int:
        return self.n

    def sample(self, i: int) -> np.ndarray:
        self.reads += 1
        return (np.random.default_rng(i).normal(size=self.shape) * (1 + np.arange(self.shape[0]))[
            (slice(None),) + (None,) * (len(self.shape) - 1)] + i % 3).astype(np.float32)

    def fingerprint(self) -> str:
        return f"noise-{self.n}-{self.shape}"


class Pairs(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """A map-style dataset of (tensor, label) pairs over arrays; ``targets`` when asked."""

    def __init__(self, X: np.ndarray, y: np.ndarray, *, targets: bool = True) -> None:
        self.X, self.y = X, y
        if targets:
            self.targets = list(y)

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, object]:
        label = self.y[i]
        return torch.from_numpy(self.X[i]), torch.tensor(label) if self.y.dtype.kind in "iuf" else str(label)


@pytest.fixture(scope="module")
def digits_images() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    keep = np.arange(0, len(y), 3)
    return (X[keep] / 16.0).reshape(-1, 1, 8, 8).astype(np.float32), y[keep]


# --- the stream reads rows as an array would -------------------------------------------------


@pytest.mark.parametrize("workers", [0, 1])
def test_a_stream_reads_rows_as_an_array_would(workers: int) -> None:
    src = Noise(300, (2, 5, 4))
    st = SampleStream(src, (2, 5, 4), workers=workers)
    full = np.stack([src.sample(i) for i in range(300)])
    idx = np.array([[3, 7, 7], [299, 0, 150]])
    assert st.shape == full.shape and st.ndim == 4 and len(st) == 300
    np.testing.assert_array_equal(st[idx], full[idx])
    np.testing.assert_array_equal(st[10:20], full[10:20])
    np.testing.assert_array_equal(st[5], full[5])
    t = st[torch.from_numpy(idx)]
    assert isinstance(t, torch.Tensor) and torch.equal(t, torch.from_numpy(full[idx]))
    order = torch.from_numpy(np.stack([np.random.default_rng(1).permutation(300), np.arange(300)]))
    steps = list(st.steps(order, 64))
    assert [s.shape[1] for s in steps] == [64, 64, 64, 64, 44]
    assert torch.equal(torch.cat(steps, dim=1), torch.from_numpy(full)[order])
    flat = st.reshape(300, -1)
    assert flat.shape == (300, 40) and np.array_equal(flat[idx], full[idx].reshape(2, 3, 40))
    again = pickle.loads(pickle.dumps(st))  # what a worker process of a sweep receives
    np.testing.assert_array_equal(again[idx], full[idx])
    with pytest.raises(IndexError):
        st[np.array([300])]


def test_a_bad_sample_is_one_clean_error_from_a_worker() -> None:
    class Ragged(Noise):
        def sample(self, i: int) -> np.ndarray:
            return np.zeros((3,) if i == 250 else (4,), dtype=np.float32)

    st = SampleStream(Ragged(300, (4,)), (4,), workers=1)
    with pytest.raises(DataError) as err:
        st[np.arange(300)]
    message = str(err.value)
    assert "sample 250 has shape (3,)" in message and "Traceback" not in message and "\n" not in message


# --- statistics: one pass, the same numbers as the array's ----------------------------------


@pytest.mark.parametrize("shape,scale,channels", [
    ((3, 4, 4), "channel", "auto"),
    ((3, 4, 4), "feature", "auto"),
    ((12, 3), "channel", "last"),
    ((6,), "auto", "auto"),
    ((3, 4, 4), "none", "auto"),
])
def test_stream_statistics_are_the_arrays(shape: tuple[int, ...], scale: str, channels: str) -> None:
    src = Noise(500, shape)
    full = np.stack([src.sample(i) for i in range(500)])
    rows = np.sort(np.random.default_rng(0).choice(500, 320, replace=False))
    src.reads = 0
    st = SampleStream(src, shape, workers=0)
    for r in (None, rows):
        mu, sd = scaler_stats(st, scale, rows=r, channels=channels)
        mu0, sd0 = scaler_stats(full, scale, rows=r, channels=channels)
        assert mu.shape == mu0.shape and sd.shape == sd0.shape
        np.testing.assert_allclose(mu, mu0, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sd, sd0, rtol=1e-5, atol=1e-6)
    reads = src.reads
    scaler_stats(st, scale, rows=rows, channels=channels)  # kept: not read again
    assert src.reads == reads and reads <= 2 * 500


def test_every_folds_scaler_takes_one_pass(digits_images) -> None:
    X, y = digits_images
    src = Noise(len(X), (1, 8, 8))
    ds = sweep.from_arrays(np.stack([src.sample(i) for i in range(len(X))]), y)
    src.reads = 0
    streamed = sweep.from_dataset(_SourceAsDataset(src, y), workers=0)
    splits = sweep.make_splits(ds.y, ds.task, n_splits=5)
    held = sweep.prepare_folds(ds, splits, torch.device("cpu"))
    read = sweep.prepare_folds(streamed, splits, torch.device("cpu"))
    assert src.reads == len(X) + 1  # one pass for five scalers (and the first sample, read for its shape)
    torch.testing.assert_close(read.mu, held.mu, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(read.sd, held.sd, rtol=1e-5, atol=1e-6)
    assert read.streamed and not held.streamed
    assert torch.equal(read.rows(read.val_idx), held.rows(held.val_idx))


class _SourceAsDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, src: Noise, y: np.ndarray) -> None:
        self.src, self.targets = src, list(y)

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.src.sample(i), int(self.targets[i])


# --- sweep.run(dataset=...) ---------------------------------------------------------------------


def test_a_torch_dataset_sweeps_as_its_arrays_do(digits_images, tmp_path) -> None:
    X, y = digits_images
    kw = dict(n_trials=2, epochs=2, folds=3, seed=0, storage=f"sqlite:///{tmp_path / 's.db'}")
    held = sweep.run(X=X, y=y, study_name="held", **kw)
    read = sweep.run(dataset=Pairs(X, y), study_name="read", **kw)
    assert read.n_complete == held.n_complete == 2
    np.testing.assert_allclose(read.best_fold_scores, held.best_fold_scores, atol=2e-3)
    assert read.best_params == held.best_params
    assert read.training_path == held.training_path


def test_labels_come_from_y_targets_a_subset_or_one_pass(digits_images) -> None:
    X, y = digits_images
    y_word = np.array(["even", "odd"])[y % 2]
    expected = sweep.from_arrays(X, y_word).y
    for ds in (sweep.from_dataset(Pairs(X, y_word), workers=0),
               sweep.from_dataset(Pairs(X, y_word, targets=False), workers=1),  # a pass over the items
               sweep.from_dataset(Pairs(X, y % 7, targets=False), y=y_word, workers=0)):  # y= wins
        assert ds.classes == ("even", "odd")
        np.testing.assert_array_equal(ds.y, expected)
    part = sweep.from_dataset(torch.utils.data.Subset(Pairs(X, y), list(range(0, len(y), 2))), workers=0)
    np.testing.assert_array_equal(part.y, sweep.from_arrays(X[::2], y[::2]).y)
    assert is_stream(part.X) and part.sample_shape == (1, 8, 8)


def test_a_torch_dataset_that_cannot_be_swept_is_refused(digits_images) -> None:
    X, y = digits_images

    class Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter([])

    class Bare(Pairs):
        def __getitem__(self, i: int) -> torch.Tensor:  # type: ignore[override]
            return torch.from_numpy(self.X[i])

    class Words(Pairs):
        def __getitem__(self, i: int) -> tuple[str, int]:  # type: ignore[override]
            return "an image", int(self.y[i])

    cases = [
        (lambda: sweep.from_dataset(Stream()), "map-style"),
        (lambda: sweep.from_dataset(Bare(X, y)), r"pair \(x, y\)"),
        (lambda: sweep.from_dataset(Words(X, y)), "not numbers"),
        (lambda: sweep.from_dataset(Pairs(X[:0], y[:0])), "empty"),
        (lambda: sweep.from_dataset(Pairs(X, y), workers=-1), "workers"),
        (lambda: sweep.from_dataset(Pairs(X, y), test_dataset=Pairs(X[:, :, :4], y)), "must match"),
        (lambda: sweep.from_dataset(Pairs(X, np.where(y == 3, np.nan, y).astype(float), targets=True)), "NaN"),
    ]
    for make, words in cases:
        with pytest.raises(DataError, match=words):
            make()
    with pytest.raises(ConfigError, match="one way"):
        sweep.run(dataset=Pairs(X, y), X=X, y=y, n_trials=1)
    with pytest.raises(ConfigError, match="test_dataset= goes with dataset="):
        sweep.run(X=X, y=y, test_dataset=Pairs(X, y), n_trials=1)


# --- image folders: read on demand past a quarter of the memory --------------------------------


def _folder(root: Path, n: int, side: int = 12) -> Path:
    """``n`` grey PNGs in two classes: a bright square or a bright bar at a seeded place, in noise."""
    for c in ("bar", "square"):
        (root / c).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng(i)
        a = rng.integers(0, 90, size=(side, side)).astype(np.uint8)
        r, c = rng.integers(0, side - 4, size=2)
        if i % 2:
            a[r:r + 4, c:c + 4] = 255
        else:
            a[r:r + 2, :] = 255
        Image.fromarray(a).save(root / ("square" if i % 2 else "bar") / f"{i:05d}.png")
    return root


def test_an_image_folder_streams_past_a_quarter_of_the_memory(tmp_path, monkeypatch) -> None:
    root = _folder(tmp_path / "imgs", 60)
    held = load_image_folder(root)
    assert not is_stream(held.X)
    monkeypatch.setenv(MEMORY_ENV, str(4 * held.X.nbytes / 2**20 * 0.9))  # the decoded folder: just over a quarter
    read = load_image_folder(root)
    assert is_stream(read.X) and read.X.shape == held.X.shape
    np.testing.assert_array_equal(read.X[np.arange(60)], held.X)
    np.testing.assert_array_equal(read.y, held.y)
    assert read.fingerprint() == held.fingerprint()  # a study resumes whichever way its folder is read
    assert not is_stream(load_image_folder(root, stream="never").X)
    monkeypatch.delenv(MEMORY_ENV)
    assert is_stream(load_image_folder(root, stream="always").X)


def test_the_memory_budget_is_read_and_checked(monkeypatch) -> None:
    monkeypatch.setenv(MEMORY_ENV, "64")
    assert memory_budget() == 64 << 20
    assert should_stream(17 << 20) and not should_stream(15 << 20)
    assert should_stream(1, "always") and not should_stream(1 << 40, "never")
    for bad in ("0", "-5", "lots", "inf", "nan"):
        monkeypatch.setenv(MEMORY_ENV, bad)
        with pytest.raises(DataError, match=MEMORY_ENV):
            memory_budget()
    monkeypatch.delenv(MEMORY_ENV)
    assert memory_budget() > 0
    with pytest.raises(DataError, match="data.stream"):
        should_stream(1, "sometimes")


def test_a_corrupt_image_read_on_demand_names_its_file(tmp_path) -> None:
    root = _folder(tmp_path / "imgs", 40)
    bad = root / "bar" / "00010.png"
    bad.write_bytes(bad.read_bytes()[:60])  # the header reads, the pixels do not
    ds = load_image_folder(root, stream="always")
    with pytest.raises(DataError, match="00010.png") as err:
        ds.X[np.arange(40)]
    assert "\n" not in str(err.value)


def test_a_streamed_folder_sweeps_from_the_cli(tmp_path) -> None:
    root = _folder(tmp_path / "imgs", 80)
    db = tmp_path / "s.db"
    cmd = [sys.executable, "-m", "sweepdoctor", "sweep", "--images", str(root), "--trials", "1", "--epochs", "1",
           "--folds", "2", "--storage", f"sqlite:///{db}", "--study", "imgs", "--json"]
    env = {**os.environ, MEMORY_ENV: "0.01"}  # 10 kB: the 46 kB folder streams (auto)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    assert first["n_complete"] == 1
    again = subprocess.run([*cmd[:-1], "--trials", "2", "--stream", "never", "--json"], capture_output=True,
                           text=True, env=env, timeout=300)  # the same folder held in memory: the study resumes
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["resumed"] is True


# --- memory: bounded whatever the size of the data ----------------------------------------------


def test_a_streamed_sweeps_memory_does_not_grow_with_its_data(tmp_path) -> None:
    """Two image folders, 2,800 and 8,400 images of 40x40 (17 and 51 MB decoded), under a memory
    limit of 16 MB (a quarter: 4 MB): both stream, and the larger one's peak RSS is within a
    quarter of the difference in data of the smaller one's (held in memory it would add all of it)."""
    peaks, sizes = [], []
    for n in (2800, 8400):
        root = _folder(tmp_path / f"imgs{n}", n, side=40)
        env = {**os.environ, MEMORY_ENV: "16", "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}  # no allocator hoarding
        out = subprocess.run([sys.executable, str(HERE / "_stream_rss.py"), str(root), str(tmp_path / f"{n}.db")],
                             capture_output=True, text=True, env=env, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        got = json.loads(out.stdout.strip().splitlines()[-1])
        assert got["streamed"] and got["n_complete"] == 1
        peaks.append(got["peak_mb"])
        sizes.append(n * 40 * 40 * 4 / 2**20)
    assert peaks[1] - peaks[0] < 0.25 * (sizes[1] - sizes[0]), (peaks, sizes)
