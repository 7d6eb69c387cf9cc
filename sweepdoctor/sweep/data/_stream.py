"""Samples read on demand: data larger than memory, never held whole.

A :class:`SampleStream` stands where a sweep otherwise holds its samples as one array
(``Dataset.X``, ``FoldData.X``). It knows how many samples there are and the shape of one,
and reads the rows it is asked for from its *source* (a user's map-style
``torch.utils.data.Dataset``, or an image folder's files, decoded on the fly). Reads go
through a ``DataLoader`` whose worker processes decode while the caller trains; the folds
stay index sets, so a row is read whenever a fold's batch holds it (each epoch reads a
training row once per fold it trains: ``k - 1`` times with ``k`` folds).

What it holds at any time: the batches in flight (``prefetch`` per worker) and, per
process, the source itself (a file list, a user's dataset object). Indexing it:

- ``stream[idx]`` with a NumPy index (an array of row numbers of any shape, an int, a
  slice) gives a float32 array ``(*idx.shape, *sample_shape)``, as an array would;
- with a ``torch.Tensor`` index it gives a tensor on the stream's device;
- :meth:`SampleStream.steps` reads a whole plan of batches ahead (an epoch in batch order).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, overload

import numpy as np
import torch
from torch import Tensor

from sweepdoctor.errors import DataError
from sweepdoctor.sweep.config import STREAM

__all__ = ["MEMORY_ENV", "SampleSource", "SampleStream", "default_workers", "is_stream",
           "memory_budget", "should_stream"]

# Megabytes of memory a sweep may assume it has (default: what the OS says is available).
MEMORY_ENV = "SWEEPDOCTOR_MEMORY_MB"


class SampleSource(Protocol):
    """Where a stream's samples come from: ``len`` and one sample by its row number."""

    def __len__(self) -> int: ...

    def sample(self, i: int) -> np.ndarray:
        """Sample ``i`` as float32 of the stream's sample shape (raise :class:`DataError` when it cannot be read)."""
        ...

    def fingerprint(self) -> str:
        """A short text that changes when the samples do (compared when a study is resumed)."""
        ...


def default_workers() -> int:
    """Decoding processes a stream starts: one per core beyond the training process's, 1 to 4."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores - 1))


def memory_budget() -> int:
    """Bytes of memory this process may assume: ``$SWEEPDOCTOR_MEMORY_MB`` when set, else the smaller of the
    memory the OS has available and this process's cgroup limit (Linux; unknown elsewhere: 8 GiB)."""
    env = os.environ.get(MEMORY_ENV, "").strip()
    if env:
        try:
            mb = float(env)
        except ValueError:
            mb = -1.0
        if not mb > 0 or mb == float("inf"):
            raise DataError(f"data: ${MEMORY_ENV} must be a positive number of megabytes, got {env!r}")
        return int(mb * (1 << 20))
    found = [v for v in (_meminfo_available(), _cgroup_limit()) if v]
    return min(found) if found else 8 << 30


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def should_stream(nbytes: int, setting: str = "auto") -> bool:
    """Whether samples taking ``nbytes`` decoded are read on demand: ``always``, ``never``, or (``auto``)
    when they would take more than a quarter of :func:`memory_budget`."""
    if setting not in STREAM:
        raise DataError(f"data.stream must be one of {', '.join(STREAM)}, got {setting!r}")
    if setting != "auto":
        return setting == "always"
    return nbytes > memory_budget() // 4


def is_stream(x: object) -> bool:
    """Whether ``x`` is a :class:`SampleStream` (samples read on demand) rather than an array or tensor."""
    return isinstance(x, SampleStream)


@dataclass(frozen=True)
class _Failed:
    """What a worker sends back instead of a batch it could not read (a clean error, no worker traceback)."""

    message: str


class _Reader(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """The loader's view of a source: whole batches, errors as values."""

    def __init__(self, source: SampleSource, shape: tuple[int, ...]) -> None:
        self.source, self.shape = source, shape

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> np.ndarray:
        return _read(self.source, self.shape, i)

    def __getitems__(self, rows: Sequence[int]) -> np.ndarray | _Failed:
        try:
            return _read_many(self.source, self.shape, rows)
        except DataError as e:
            return _Failed(str(e))


def _read(source: SampleSource, shape: tuple[int, ...], i: int) -> np.ndarray:
    a = np.asarray(source.sample(int(i)), dtype=np.float32)
    if a.shape != shape:
        raise DataError(f"data: sample {int(i)} has shape {a.shape}, the first sample {shape}; every sample of a "
                        "dataset must have the same shape (resize or pad them in the dataset)")
    if not np.isfinite(a).all():
        raise DataError(f"data: sample {int(i)} contains NaN or infinite values; drop or fill them in the dataset")
    return a


def _read_many(source: SampleSource, shape: tuple[int, ...], rows: Sequence[int] | np.ndarray) -> np.ndarray:
    """Rows ``rows`` (a row asked for twice is read once)."""
    flat = np.asarray(rows, dtype=np.int64).reshape(-1)
    uniq, inverse = np.unique(flat, return_inverse=True)
    out = np.empty((len(uniq), *shape), dtype=np.float32)
    for j, i in enumerate(uniq):
        out[j] = _read(source, shape, int(i))
    return out if len(uniq) == len(flat) and (uniq == flat).all() else out[inverse]


def _identity(batch: Any) -> Any:
    return batch


class _Plan(torch.utils.data.Sampler):  # type: ignore[type-arg]
    """The loader's batches: whatever plan the stream set before asking for an iterator."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter([b.tolist() for b in self.batches])

    def __len__(self) -> int:
        return len(self.batches)


@dataclass
class _Loader:
    """One process's loader over a stream's source, its worker processes kept between plans."""

    reader: _Reader
    workers: int
    plan: _Plan = field(default_factory=_Plan)
    busy: bool = False
    _loader: Any = None

    def run(self, batches: list[np.ndarray]) -> Iterator[np.ndarray]:
        """The batches read in order (worker processes read ahead; in this process without workers)."""
        if self.workers == 0 or self.busy or multiprocessing.current_process().daemon or len(batches) < 2:
            for b in batches:  # a daemonic process may not start workers; a plan inside a plan reads here
                yield _read_many(self.reader.source, self.reader.shape, b)
            return
        if self._loader is None:
            self._loader = torch.utils.data.DataLoader(
                self.reader, batch_sampler=self.plan, num_workers=self.workers, collate_fn=_identity,
                persistent_workers=True, prefetch_factor=2,
            )
        self.plan.batches = batches
        self.busy = True
        try:
            for j, out in enumerate(self._loader):
                if isinstance(out, _Failed):
                    raise DataError(out.message)
                if j == len(batches) - 1:
                    self.busy = False  # the last batch is here: the next plan may start before this one ends
                yield out
        finally:
            self.busy = False


@dataclass(frozen=True)
class SampleStream:
    """``n`` samples of ``sample_shape`` read on demand from ``source`` (see the module docstring).

    ``workers``: decoding processes (0: read in the calling process); ``flat``: each sample
    as one row of features (the MLP's view of images); ``device``: where tensors go.
    """

    source: SampleSource
    sample_shape: tuple[int, ...]
    workers: int = field(default_factory=default_workers)
    flat: bool = False
    device: torch.device = torch.device("cpu")
    _state: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise DataError(f"data: a stream's workers must be an integer >= 0, got {self.workers!r}")

    # -- the array-like surface ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        one = (int(np.prod(self.sample_shape)),) if self.flat else self.sample_shape
        return (len(self.source), *one)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.source)

    def reshape(self, n: int, *rest: int) -> SampleStream:
        """The same samples, each as one row of features (``reshape(n, -1)``, the only reshape a stream has)."""
        if n != len(self) or rest != (-1,):
            raise ValueError("a sample stream reshapes only to (n, -1)")
        return replace(self, flat=True, _state=self._state)

    def to(self, device: torch.device) -> SampleStream:
        """The same stream, giving tensors on ``device``."""
        return replace(self, device=device, _state=self._state)

    @overload
    def __getitem__(self, idx: Tensor) -> Tensor: ...

    @overload
    def __getitem__(self, idx: np.ndarray | int | slice) -> np.ndarray: ...

    def __getitem__(self, idx: Tensor | np.ndarray | int | slice) -> Tensor | np.ndarray:
        if isinstance(idx, Tensor):
            rows = idx.detach().cpu().numpy()
            return self._tensor(self.read(rows), rows.shape)
        if isinstance(idx, slice):
            rows = np.arange(len(self))[idx]
        else:
            rows = np.asarray(idx)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return self._shaped(self.read(rows), rows.shape)

    # -- reading ---------------------------------------------------------------------------------
    def read(self, rows: np.ndarray, chunk: int = 256) -> np.ndarray:
        """Rows ``rows`` (any shape) as one float32 array ``(rows.size, *sample_shape)``."""
        flat = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(flat) and (flat.min() < 0 or flat.max() >= len(self)):
            raise IndexError(f"row {int(flat.max())} of a stream of {len(self)} samples")
        out = np.empty((len(flat), *self.sample_shape), dtype=np.float32)
        at = 0
        for part in self._loader().run([flat[i:i + chunk] for i in range(0, len(flat), chunk)]):
            out[at:at + len(part)] = part
            at += len(part)
        return out

    def steps(self, order: Tensor, step: int) -> Iterator[Tensor]:
        """The rows of ``order`` (``(k, n)``: one row of indices per fold) ``step`` columns at a time,
        each as a tensor ``(k, b, *shape)`` on the stream's device, read ahead by the workers."""
        idx = order.detach().cpu().numpy()
        cols = [idx[:, s:s + step] for s in range(0, idx.shape[1], step)]
        for part, c in zip(self._loader().run([c.reshape(-1) for c in cols]), cols):
            yield self._tensor(part, c.shape)

    def chunks(self, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
        """Every sample in order, ``chunk`` at a time: ``(first row, samples)``, read ahead."""
        rows = np.arange(len(self))
        plan = [rows[i:i + chunk] for i in range(0, len(rows), chunk)]
        for start, part in zip(range(0, len(rows), chunk), self._loader().run(plan)):
            yield start, part

    def fingerprint(self) -> str:
        """A hash of the source's own fingerprint and the sample shape."""
        return hashlib.sha256(f"{self.source.fingerprint()}|{self.sample_shape}".encode()).hexdigest()[:16]

    def _shaped(self, a: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
        return a.reshape(*lead, -1) if self.flat else a.reshape(*lead, *self.sample_shape)

    def _tensor(self, a: np.ndarray, lead: tuple[int, ...]) -> Tensor:
        return torch.from_numpy(self._shaped(a, lead)).to(self.device)

    def _loader(self) -> _Loader:
        """This process's loader (made on first use; a pickled stream arrives without one)."""
        mine = self._state.get("loader")
        if mine is None or self._state.get("pid") != os.getpid():
            mine = _Loader(_Reader(self.source, self.sample_shape), self.workers)
            self._state.update(loader=mine, pid=os.getpid())
        return mine

    def __getstate__(self) -> dict[str, Any]:
        state = {k: getattr(self, k) for k in ("source", "sample_shape", "workers", "flat", "device")}
        return {**state, "_state": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
