"""A user's map-style ``torch.utils.data.Dataset`` as a sweep's data, read on demand.

Each item is ``(x, y)``: ``x`` a tensor or array (one sample: ``(d,)``, ``(C, L)``/``(L, C)`` or
``(C, H, W)``, the same shape for every item), ``y`` its label or target. The samples are never
all read at once (:class:`~sweepdoctor.sweep.data._stream.SampleStream`); the labels are, since
the folds are made from them: from ``y=`` when given, else from the dataset's ``targets``
(torchvision's convention, also through a ``Subset``), else by one pass over the items.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sweepdoctor.diagnostics import Task
from sweepdoctor.errors import DataError
from sweepdoctor.sweep.data._datasets import Dataset, with_labels
from sweepdoctor.sweep.data._stream import SampleStream, _identity, default_workers

__all__ = ["TorchSource", "from_dataset"]


def _as_array(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy()
    return v


class TorchSource:
    """Sample ``i`` of a stream: the ``x`` of ``dataset[i]`` as float32."""

    def __init__(self, dataset: Any, what: str = "dataset") -> None:
        self.dataset, self.what = dataset, what

    def __len__(self) -> int:
        return len(self.dataset)

    def item(self, i: int) -> tuple[Any, Any]:
        try:
            item = self.dataset[i]
        except (IndexError, KeyError) as e:
            raise DataError(f"data: {self.what}[{i}] failed ({type(e).__name__}: {e}); a map-style dataset must "
                            f"answer every index 0..len-1") from None
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise DataError(f"data: {self.what}[{i}] is a {type(item).__name__}; each item must be a pair "
                            "(x, y): a sample and its label")
        return item[0], item[1]

    def sample(self, i: int) -> np.ndarray:
        x = _as_array(self.item(i)[0])
        try:
            a = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError(f"data: {self.what}[{i}]'s sample is a {type(x).__name__}, not numbers; return a "
                            "tensor or array (a torchvision transform such as ToTensor() does)") from None
        return a.reshape(1) if a.ndim == 0 else a

    def label(self, i: int) -> Any:
        y = _as_array(self.item(i)[1])
        return y.item() if hasattr(y, "item") else y

    def fingerprint(self) -> str:
        """The dataset's type and length, and its first and last samples."""
        h = hashlib.sha256(f"{type(self.dataset).__module__}.{type(self.dataset).__qualname__}|{len(self)}".encode())
        for i in {0, len(self) - 1}:
            h.update(np.ascontiguousarray(self.sample(i)).tobytes())
        return h.hexdigest()[:16]


class _Labels(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """The labels of a source, a batch at a time (read by the loader's workers)."""

    def __init__(self, source: TorchSource) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> Any:
        return self.source.label(i)

    def __getitems__(self, rows: Sequence[int]) -> list[Any] | DataError:
        try:
            return [self.source.label(int(i)) for i in rows]
        except DataError as e:
            return e


def _targets(dataset: Any) -> np.ndarray | None:
    """The labels a dataset keeps beside its samples (``targets``; a ``Subset`` of such a dataset)."""
    if isinstance(dataset, torch.utils.data.Subset):
        base = _targets(dataset.dataset)
        return None if base is None else base[np.asarray(dataset.indices, dtype=np.int64)]
    t = getattr(dataset, "targets", None)
    if t is None:
        return None
    return np.asarray(_as_array(t)) if not isinstance(t, list) else np.asarray([_as_array(v) for v in t])


def _read_labels(source: TorchSource, workers: int) -> np.ndarray:
    loader = torch.utils.data.DataLoader(_Labels(source), batch_size=256, num_workers=workers, collate_fn=_identity)
    out: list[Any] = []
    for part in loader:
        if isinstance(part, DataError):
            raise part
        out.extend(part)
    return np.asarray(out)


def _stream_of(dataset: Any, labels: Any, what: str, workers: int) -> tuple[SampleStream, np.ndarray]:
    if isinstance(dataset, torch.utils.data.IterableDataset) or not (
        hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")
    ):
        raise DataError(f"data: {what} must be a map-style dataset (len() and dataset[i] -> (x, y)), got a "
                        f"{type(dataset).__name__}; an IterableDataset cannot be split into folds")
    source = TorchSource(dataset, what)
    if len(source) == 0:
        raise DataError(f"data: {what} is empty")
    shape = source.sample(0).shape
    if len(shape) > 3 or 0 in shape:
        raise DataError(f"data: {what}'s samples have shape {shape}; a sample must be (features,), (C, L) or "
                        "(C, H, W)")
    if labels is not None:
        y = np.asarray(_as_array(labels))
    else:
        found = _targets(dataset)
        y = found if found is not None else _read_labels(source, workers)
    if y.ndim != 1:
        y = y.reshape(len(y), -1)[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        raise DataError(f"data: {what}'s labels must be one per sample, got shape {y.shape}")
    return SampleStream(source, tuple(int(s) for s in shape), workers=workers), y


def from_dataset(
    dataset: Any,
    *,
    y: Any = None,
    task: Task | str | None = None,
    test_dataset: Any = None,
    workers: int | None = None,
    name: str | None = None,
) -> Dataset:
    """A :class:`Dataset` whose samples are read from ``dataset`` on demand (see the module docstring).

    ``workers``: decoding processes (default: one per spare core, 1 to 4; 0 reads in the
    training process). ``test_dataset``: a deployment test set laid out the same way.
    """
    n_workers = default_workers() if workers is None else workers
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 0:
        raise DataError(f"data: workers must be an integer >= 0, got {workers!r}")
    X, labels = _stream_of(dataset, y, "dataset", n_workers)
    Xt = yt = None
    if test_dataset is not None:
        Xt, yt = _stream_of(test_dataset, None, "test_dataset", n_workers)
        if Xt.sample_shape != X.sample_shape:
            raise DataError(f"data: test_dataset's samples have shape {Xt.sample_shape}, dataset's "
                            f"{X.sample_shape}; they must match")
    return with_labels(name or type(dataset).__name__, X, labels, task=task, X_test=Xt, y_test=yt)
