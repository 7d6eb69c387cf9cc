"""Fold data as tensors: the samples held once, folds as index sets, a scaler per fold.

Prepared once per study. The samples ``X`` (a table ``(n, d)``, images ``(n, C, H, W)``
or sequences ``(n, C, L)``) are held once, unscaled; a fold is a set of row indices.
Fold f's scaler is fit on fold f's training rows only (mean and population standard
deviation, as scikit-learn's ``StandardScaler``) and applied as rows are gathered
(:meth:`FoldData.rows`), so no validation row ever contributes to a statistic.

What a scaler computes (``scale``):

- ``feature``: one mean and deviation per feature (per column of a table; per pixel of an image);
- ``channel``: one per channel, over every position of it (axis 1 of ``(n, C, H, W)``; of
  ``(n, C, L)`` or ``(n, L, C)``, the shorter of the two axes);
- ``none``: the samples as given;
- ``auto``: ``feature`` for a table, ``channel`` for images and sequences.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import torch
from torch import Tensor

from sweepdoctor.diagnostics import Task
from sweepdoctor.errors import ConfigError, SweepdoctorError
from sweepdoctor.sweep.config import SCALES
from sweepdoctor.sweep.data._stream import SampleStream, is_stream

if TYPE_CHECKING:  # only annotations here: the measuring process imports this module without sklearn
    from sweepdoctor.sweep.data._datasets import Dataset
    from sweepdoctor.sweep.data._folds import Split

__all__ = ["FoldData", "Samples", "channel_axis", "pick_device", "prepare_folds", "scaler_stats", "stream_stats"]

Samples = Union[Tensor, SampleStream]
"""A fold set's samples: one tensor, or a stream read on demand (data larger than memory)."""

def pick_device(name: str) -> torch.device:
    """The device for ``train.device`` (auto: CUDA when there is one, else the CPU)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise SweepdoctorError("train.device=cuda but no CUDA device is available; use --device cpu or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def scaler_stats(
    X: np.ndarray, scale: str = "feature", *, rows: np.ndarray | None = None, channels: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale as ``StandardScaler`` computes them (scale 1 where constant), shaped as one sample
    with 1 on the axes a statistic spans: ``(d,)`` per feature, ``(C, 1, 1)`` per channel of images.

    ``rows``: the rows to fit on (all when None); ``channels``: a sequence's channel axis
    (:func:`channel_axis`). Large data are read in chunks of rows, two passes in float64 (the
    mean, then the squared deviations): no copy of the rows is made.
    """
    if is_stream(X):
        return stream_stats(X, scale, [rows], channels=channels)[0]
    shape = X.shape[1:]
    if scale == "none":
        ones = (1,) * len(shape)
        return np.zeros(ones, dtype=np.float32), np.ones(ones, dtype=np.float32)
    axes: tuple[int, ...] = (0,)
    if _resolved(scale, X.ndim) == "channel" and X.ndim > 2:
        c = channel_axis(shape, channels)
        axes = (0, *(1 + a for a in range(len(shape)) if a != c))
    idx = np.arange(len(X)) if rows is None else rows
    if len(idx) * int(np.prod(shape)) <= _CHUNK_ELEMENTS:  # small: at once, as scikit-learn
        part = X[idx]
        mu = part.mean(axis=axes, dtype=np.float64, keepdims=True)[0]
        sd = part.std(axis=axes, dtype=np.float64, keepdims=True)[0]
    else:
        mu, sd = _chunked_stats(X, idx, axes)
    sd[sd < 1e-12] = 1.0
    return mu.astype(np.float32), sd.astype(np.float32)


_CHUNK_ELEMENTS = 1 << 22  # numbers per chunk when the statistics are taken chunk by chunk (16 MB of float32)


def _chunked_stats(X: np.ndarray, idx: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    step = max(1, _CHUNK_ELEMENTS // int(np.prod(X.shape[1:])))
    count = len(idx) * int(np.prod([X.shape[a] for a in axes[1:]]))
    total = sum(X[idx[i:i + step]].sum(axis=axes, dtype=np.float64, keepdims=True) for i in range(0, len(idx), step))
    mu = total / count
    sq = sum((((X[idx[i:i + step]] - mu) ** 2).sum(axis=axes, keepdims=True)) for i in range(0, len(idx), step))
    return mu[0], np.sqrt(sq / count)[0]


def stream_stats(
    X: Any, scale: str, row_sets: list[np.ndarray | None], *, channels: str = "auto"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`scaler_stats` of a :class:`SampleStream` for several row sets (folds) in one pass over it.

    Each chunk's per-sample sums and sums of squares (float64, over the axes a statistic
    spans) are added to every row set that holds the sample; the deviation is then
    ``sqrt(E[x^2] - E[x]^2)``. Results are kept on the stream: a fold's scaler asked for
    again (the linear reference, a refit) is not read again.
    """
    n, shape = len(X), tuple(X.sample_shape)
    sets = [np.arange(n) if r is None else np.asarray(r, dtype=np.int64) for r in row_sets]
    memo = X._state.setdefault("stats", {})
    keys = [(scale, channels, hashlib.sha1(r.tobytes()).hexdigest()) for r in sets]
    todo = [i for i, key in enumerate(keys) if key not in memo]
    if todo:
        for i, stat in zip(todo, _one_pass(X, shape, scale, [sets[i] for i in todo], channels)):
            memo[keys[i]] = stat
    return [memo[key] for key in keys]


def _one_pass(
    X: SampleStream, shape: tuple[int, ...], scale: str, sets: list[np.ndarray], channels: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    if scale == "none":
        ones = (1,) * len(shape)
        return [(np.zeros(ones, dtype=np.float32), np.ones(ones, dtype=np.float32)) for _ in sets]
    axes: tuple[int, ...] = ()
    if _resolved(scale, len(shape) + 1) == "channel" and len(shape) > 1:
        c = channel_axis(shape, channels)
        axes = tuple(1 + a for a in range(len(shape)) if a != c)
    member = np.zeros((len(sets), len(X)), dtype=bool)
    for f, r in enumerate(sets):
        member[f, r] = True
    total = sq = None
    step = max(1, (_CHUNK_ELEMENTS >> 2) // max(1, int(np.prod(shape))))  # 4 MB of samples a chunk
    for start, part in X.chunks(step):
        p = part.astype(np.float64)
        m = member[:, start:start + len(part)].astype(np.float64)
        s1 = np.tensordot(m, p.sum(axis=axes, keepdims=True), axes=(1, 0))
        s2 = np.tensordot(m, (p * p).sum(axis=axes, keepdims=True), axes=(1, 0))
        total, sq = (s1, s2) if total is None else (total + s1, sq + s2)
    per = int(np.prod([shape[a - 1] for a in axes])) if axes else 1
    out = []
    for f, r in enumerate(sets):
        count = max(1, len(r) * per)
        mu = total[f] / count  # type: ignore[index]
        sd = np.sqrt(np.maximum(sq[f] / count - mu * mu, 0.0))  # type: ignore[index]
        sd[sd < 1e-12] = 1.0
        out.append((mu.astype(np.float32), sd.astype(np.float32)))
    return out


def channel_axis(sample_shape: tuple[int, ...], channels: str = "auto") -> int:
    """The channel axis of one sample: 0 for ``(C, H, W)``; of a sequence, 0 for ``channels = "first"``
    ``(C, L)``, 1 for ``"last"`` ``(L, C)``, and for ``"auto"`` the shorter axis (0 on a tie)."""
    if len(sample_shape) != 2 or channels == "first":
        return 0
    if channels == "last":
        return 1
    return 1 if sample_shape[1] < sample_shape[0] else 0


def _resolved(scale: str, ndim: int) -> str:
    if scale not in SCALES:
        raise ConfigError(f"data.scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if scale == "auto":
        return "feature" if ndim <= 2 else "channel"
    return scale


def _pad(rows: list[np.ndarray]) -> tuple[Tensor, Tensor, list[int]]:
    n_max = max(len(r) for r in rows)
    idx = np.zeros((len(rows), n_max), dtype=np.int64)
    mask = np.zeros((len(rows), n_max), dtype=np.float32)
    for f, r in enumerate(rows):
        idx[f, : len(r)] = r
        mask[f, : len(r)] = 1.0
    return torch.from_numpy(idx), torch.from_numpy(mask), [len(r) for r in rows]


@dataclass(frozen=True)
class FoldData:
    """Everything the trainer reads, for k folds, already on the device.

    The samples are held once (``X``, unscaled); :meth:`rows` gathers rows for every
    fold at once and scales them with each fold's own scaler.
    """

    task: Task
    n_classes: int
    X: Samples  # (n, *sample_shape), unscaled, held once (or read on demand: a SampleStream)
    mu: Tensor  # (k, *stat_shape): fold f's scaler mean, 1 on the axes a statistic spans
    sd: Tensor  # (k, *stat_shape)
    Y: Tensor  # (k, n): class index, or the target standardized per fold
    train_idx: Tensor  # (k, n_train_max) row indices, padded
    train_n: tuple[int, ...]
    val_idx: Tensor  # (k, n_val_max)
    val_mask: Tensor  # (k, n_val_max) 1 for real rows
    y_scale: Tensor  # (k,) target standard deviation per fold (1 for classification)
    X_test: Samples | None  # (n_test, *sample_shape), unscaled
    Y_test: Tensor | None  # (k, n_test)
    folds: tuple[int, ...]  # which global folds these are
    channels_last: bool = False  # sequences (n, L, C): the channels are the last axis

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    @property
    def n_outputs(self) -> int:
        return self.n_classes if self.task is Task.CLASSIFICATION else 1

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.X.shape[1:])

    @property
    def n_features(self) -> int:
        return int(np.prod(self.sample_shape))

    @property
    def device(self) -> torch.device:
        return self.X.device

    @property
    def streamed(self) -> bool:
        """Whether the samples are read on demand (a :class:`SampleStream`), not held as one tensor."""
        return is_stream(self.X)

    def rows(self, idx: Tensor) -> Tensor:
        """Rows ``idx`` (``(k, b)``, one row of indices per fold) scaled per fold: ``(k, b, *sample_shape)``."""
        return self._scaled(self.X[idx])

    def step_rows(self, order: Tensor, step: int) -> Iterator[Tensor]:
        """The rows of ``order`` (``(k, n)``) ``step`` columns at a time, scaled per fold (a stream reads ahead)."""
        if isinstance(self.X, SampleStream):
            return (self._scaled(x) for x in self.X.steps(order, step))
        return (self.rows(order[:, s:s + step]) for s in range(0, order.shape[1], step))

    def _scaled(self, x: Tensor) -> Tensor:
        return (x - self.mu.unsqueeze(1)) / self.sd.unsqueeze(1)

    def test_rows(self, start: int = 0, end: int | None = None) -> Tensor | None:
        """The test set (rows ``start:end``) as each fold's model sees it: ``(k, n_test, *sample_shape)``."""
        if self.X_test is None:
            return None
        if isinstance(self.X_test, SampleStream):
            x = self.X_test[torch.arange(len(self.X_test))[start:end]]
        else:
            x = self.X_test[start:end]
        return self._scaled(x.unsqueeze(0))

    def flattened(self) -> FoldData:
        """The same data with every sample as one row of features (for a model of tables, the MLP)."""
        if self.X.ndim == 2:
            return self
        k = self.n_folds

        def flat(t: Tensor) -> Tensor:
            return t.expand(k, *self.sample_shape).reshape(k, -1).contiguous()

        return replace(self, X=self.X.reshape(len(self.X), -1), mu=flat(self.mu), sd=flat(self.sd),
                        X_test=None if self.X_test is None else self.X_test.reshape(len(self.X_test), -1))

    def subset(self, folds: list[int]) -> FoldData:
        """The same data for some of the folds (positions in this object)."""
        i = torch.tensor(folds, device=self.X.device)
        n_max = max(self.train_n[f] for f in folds)
        vm = self.val_mask[i]
        v_max = int(vm.sum(1).max().item())
        return replace(
            self,
            mu=self.mu[i],
            sd=self.sd[i],
            Y=self.Y[i],
            train_idx=self.train_idx[i][:, :n_max],
            train_n=tuple(self.train_n[f] for f in folds),
            val_idx=self.val_idx[i][:, :v_max],
            val_mask=vm[:, :v_max],
            y_scale=self.y_scale[i],
            Y_test=None if self.Y_test is None else self.Y_test[i],
            folds=tuple(self.folds[f] for f in folds),
        )


def prepare_folds(
    ds: Dataset, splits: list[Split], device: torch.device, *, scale: str = "auto", channels: str = "auto"
) -> FoldData:
    """The fold data of ``ds``: the samples once, each fold's rows and scaler (fit on its training rows only)."""
    mus, sds, Ys, Yts, scales = [], [], [], [], []
    if is_stream(ds.X):  # every fold's scaler in one pass over the samples
        stream_stats(ds.X, scale, [s.train for s in splits], channels=channels)
    for s in splits:
        mu, sd = scaler_stats(ds.X, scale, rows=s.train, channels=channels)
        mus.append(mu)
        sds.append(sd)
        if ds.task is Task.REGRESSION:
            ymu, ysd = scaler_stats(ds.y[s.train][:, None])
            Ys.append((ds.y - ymu[0]) / ysd[0])
            scales.append(float(ysd[0]))
            if ds.y_test is not None:
                Yts.append((ds.y_test - ymu[0]) / ysd[0])
        else:
            Ys.append(ds.y)
            scales.append(1.0)
            if ds.y_test is not None:
                Yts.append(ds.y_test)
    train_idx, _, train_n = _pad([s.train for s in splits])
    val_idx, val_mask, _ = _pad([s.val for s in splits])
    y_dtype = torch.long if ds.task is Task.CLASSIFICATION else torch.float32

    def t(a: list[np.ndarray], dtype: torch.dtype) -> Tensor:
        return torch.from_numpy(np.stack(a)).to(device=device, dtype=dtype)

    def samples(a: Any) -> Samples:
        if isinstance(a, SampleStream):
            return a.to(device)
        with warnings.catch_warnings():  # a read-only array (np.load with mmap_mode) is shared, never written
            warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)

    return FoldData(
        task=ds.task,
        n_classes=ds.n_classes,
        X=samples(ds.X),
        mu=t(mus, torch.float32),
        sd=t(sds, torch.float32),
        Y=t(Ys, y_dtype),
        train_idx=train_idx.to(device),
        train_n=tuple(train_n),
        val_idx=val_idx.to(device),
        val_mask=val_mask.to(device),
        y_scale=torch.tensor(scales, device=device),
        X_test=samples(ds.X_test) if ds.X_test is not None else None,
        Y_test=t(Yts, y_dtype) if Yts else None,
        folds=tuple(range(len(splits))),
        channels_last=channel_axis(ds.sample_shape, channels) == 1,
    )
