"""Data: built-in and generated datasets, CSV files, and arrays from the Python API."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweepdoctor.diagnostics import Task
from sweepdoctor.errors import DataError
from sweepdoctor.sweep.config import BUILTIN_DATASETS

__all__ = ["BUILTIN_DATASETS", "Dataset", "from_arrays", "load_builtin", "load_csv", "with_labels"]



@dataclass(frozen=True)
class Dataset:
    """Features and target as numpy arrays, plus an optional deployment test set."""

    name: str
    X: np.ndarray  # (n, d) float32 for a table, (n, *sample_shape) for images (n, C, H, W) or sequences;
    # or a SampleStream (_stream.py) with the same shape, read on demand
    y: np.ndarray  # (n,) int64 class index or float32 target
    task: Task
    n_classes: int  # 0 for regression
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    classes: tuple[Any, ...] = ()
    origin: str | None = None  # what the samples were read from, when it names them (an image folder's files)

    @property
    def n_features(self) -> int:
        """Numbers per sample: the columns of a table, C*H*W of an image."""
        return int(np.prod(self.X.shape[1:]))

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample: ``(d,)`` for a table, ``(C, H, W)`` for an image, ``(C, L)`` for a sequence."""
        return tuple(int(s) for s in self.X.shape[1:])

    def fingerprint(self) -> str:
        """A hash of the data (compared when a study is resumed)."""
        h = hashlib.sha256()
        if self.origin is not None:  # the same folder held in memory or read on demand: one fingerprint
            h.update(self.origin.encode())
        for a in ((self.y, self.y_test) if self.origin is not None else (self.X, self.y, self.X_test, self.y_test)):
            if a is not None and hasattr(a, "fingerprint"):  # samples read on demand: their source's fingerprint
                h.update(a.fingerprint().encode())
            elif a is not None:
                h.update(str(a.shape).encode())
                h.update(np.ascontiguousarray(a).data)  # the buffer itself: no copy of a large array
        return h.hexdigest()[:16]


def _infer_task(y: np.ndarray) -> Task:
    if y.dtype.kind in "OUSb":
        return Task.CLASSIFICATION
    if y.dtype.kind in "iu":
        return Task.CLASSIFICATION if len(np.unique(y)) <= max(20, int(0.05 * len(y))) else Task.REGRESSION
    if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0) and len(np.unique(y)) <= 20:
        return Task.CLASSIFICATION
    return Task.REGRESSION


def from_arrays(
    X: Any,
    y: Any,
    *,
    task: Task | str | None = None,
    X_test: Any = None,
    y_test: Any = None,
    name: str = "arrays",
) -> Dataset:
    """Make a :class:`Dataset` from arrays or tensors (task inferred unless given)."""
    Xa = _as_float_samples(X, "X")
    ya = _as_1d(y, "y")
    if Xa.size == 0 or 0 in Xa.shape[1:]:
        raise DataError(f"data: X has no features (shape {Xa.shape}); give at least one feature per sample")
    Xt = yt = None
    if X_test is not None or y_test is not None:
        if X_test is None or y_test is None:
            raise DataError("data: a test set needs both X_test and y_test")
        Xt = _as_float_samples(X_test, "X_test")
        if Xt.shape[1:] != Xa.shape[1:]:
            raise DataError(f"data: X_test's samples have shape {Xt.shape[1:]}, X's {Xa.shape[1:]}; they must match")
        yt = _as_1d(y_test, "y_test")
    return with_labels(name, Xa, ya, task=task, X_test=Xt, y_test=yt)


def with_labels(
    name: str, X: Any, y: np.ndarray, *, task: Task | str | None = None, X_test: Any = None,
    y_test: np.ndarray | None = None,
) -> Dataset:
    """A :class:`Dataset` of samples ``X`` (an array, or a stream read on demand) and raw labels ``y``:
    missing labels refused, the task inferred unless given, classes encoded (the test set's among them)."""
    if len(X) != len(y):
        raise DataError(f"data: X has {len(X)} rows but y has {len(y)}")
    t = _task(task) if task is not None else None
    _check_labels(y, "y")
    t = t or _infer_task(y)
    classes: tuple[Any, ...] = ()
    n_classes = 0
    yt = None
    if t is Task.CLASSIFICATION:
        cls, yi = np.unique(y, return_inverse=True)
        classes = tuple(c.item() if hasattr(c, "item") else c for c in cls)
        n_classes = len(classes)
        if n_classes < 2:
            raise DataError(f"data: classification needs at least 2 classes, y has {n_classes}")
        y_out = yi.astype(np.int64)
    else:
        if y.dtype.kind not in "iuf":
            raise DataError("data: a regression target must be numeric; use task='classification' for labels")
        y_out = y.astype(np.float32)
    if y_test is not None:
        if X_test is None or len(X_test) != len(y_test):
            raise DataError(f"data: the test set has {0 if X_test is None else len(X_test)} samples but "
                            f"{len(y_test)} labels; give one label per test sample")
        _check_labels(y_test, "y_test")
        if t is Task.CLASSIFICATION:
            lookup = {c: i for i, c in enumerate(classes)}
            unknown = sorted({v.item() if hasattr(v, "item") else v for v in y_test} - set(lookup), key=str)
            if unknown:
                raise DataError(f"data: the test set has classes not in the training data: {unknown[:5]}")
            yt = np.array([lookup[v.item() if hasattr(v, "item") else v] for v in y_test], dtype=np.int64)
        else:
            yt = y_test.astype(np.float32)
    if len(X) < 10:
        raise DataError(f"data: need at least 10 rows, got {len(X)}")
    return Dataset(name, X, y_out, t, n_classes, X_test if yt is not None else None, yt, classes)


def _check_labels(y: np.ndarray, what: str) -> None:
    """Refuse missing labels (NaN, None): they would become a class of their own, or fail later."""
    if y.dtype.kind == "f":
        missing = ~np.isfinite(y)
    elif y.dtype.kind == "O":
        missing = np.array([v is None or (isinstance(v, float) and not np.isfinite(v)) for v in y], dtype=bool)
    else:
        return
    if missing.any():
        raise DataError(f"data: {what} contains NaN, None or infinite values ({int(missing.sum())} of them, first "
                        f"in row {int(np.flatnonzero(missing)[0])}); drop those rows or give them a label")


def _task(task: Task | str) -> Task:
    try:
        return Task(task)
    except ValueError:
        raise DataError(f"data: task must be 'classification' or 'regression', got {task!r}") from None


def _check_generated(name: str, n_samples: Any, n_features: Any) -> None:
    """make_classification/make_regression's sizes, checked here so the error says what to change."""
    low = 2 if name == "classification" else 1
    for key, value, least in (("n_samples", n_samples, 10), ("n_features", n_features, low)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise DataError(f"data.{key}: the {name} dataset needs an integer >= {least}, got {value!r}; "
                            f"pass --{key.replace('_', '-')} {least} or more")


def _as_float_samples(X: Any, what: str) -> np.ndarray:
    """``X`` as float32 ``(n, *sample_shape)``: a table (n, d), images (n, C, H, W), sequences (n, C, L)."""
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    try:
        a = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError):
        raise DataError(f"data: {what} must be numeric") from None
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim > 4 or a.ndim < 1:
        raise DataError(f"data: {what} must be (rows, features), (rows, C, L) or (rows, C, H, W), got shape {a.shape}")
    bad = ~np.isfinite(a)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise DataError(f"data: {what} contains NaN or infinite values ({int(bad.sum())} of them, first in row {row}); "
                        "drop or fill those values")
    return a


def _as_1d(y: Any, what: str) -> np.ndarray:
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise DataError(f"data: {what} must be 1-D, got shape {a.shape}")
    return a


def load_builtin(name: str, *, n_samples: int = 1000, n_features: int = 20, seed: int = 0) -> Dataset:
    """A dataset scikit-learn ships, or a generated one (``classification``/``regression``)."""
    from sklearn import datasets

    loaders = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "diabetes": datasets.load_diabetes,
    }
    if name in loaders:
        X, y = loaders[name](return_X_y=True)
        task = Task.REGRESSION if name == "diabetes" else Task.CLASSIFICATION
        return from_arrays(X, y, task=task, name=name)
    if name in ("classification", "regression"):
        _check_generated(name, n_samples, n_features)
    if name == "classification":
        X, y = datasets.make_classification(
            n_samples=n_samples,
            n_features=n_features,
            n_informative=max(2, n_features // 2),
            n_redundant=min(2, n_features - max(2, n_features // 2)),  # 2 (the default) from 4 features on
            n_classes=3,
            n_clusters_per_class=1,
            random_state=seed,
        )
        return from_arrays(X, y, task=Task.CLASSIFICATION, name=f"classification-{n_samples}x{n_features}")
    if name == "regression":
        X, y = datasets.make_regression(
            n_samples=n_samples,
            n_features=n_features,
            n_informative=max(1, n_features // 2),
            noise=10.0,
            random_state=seed,
        )
        return from_arrays(X, y, task=Task.REGRESSION, name=f"regression-{n_samples}x{n_features}")
    raise DataError(f"data: unknown dataset {name!r}; choose one of {', '.join(BUILTIN_DATASETS)}")


def _read_csv(path: Path, target: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as e:
        raise DataError(f"data: cannot read {str(path)!r}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise DataError(f"data: {str(path)!r} is not a UTF-8 text file; save it as UTF-8") from None
    header, body = _header_and_body(path, rows, target)
    ti = header.index(target)
    feats = [h for i, h in enumerate(header) if i != ti]
    X = np.empty((len(body), len(feats)), dtype=np.float32)
    y = []
    for line, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise DataError(f"data: {str(path)!r} line {line} has {len(r)} fields, the header has {len(header)}")
        j = 0
        for i, cell in enumerate(r):
            if i == ti:
                y.append(cell.strip())
                continue
            try:
                X[line - 2, j] = float(cell)
            except ValueError:
                raise DataError(
                    f"data: column {header[i]!r} of {str(path)!r} is not numeric "
                    f"(line {line}: {cell!r}); encode it as numbers or drop it"
                ) from None
            j += 1
    if not np.all(np.isfinite(X)):
        bad = header[[i for i in range(len(header)) if i != ti][int(np.where(~np.isfinite(X))[1][0])]]
        raise DataError(f"data: column {bad!r} of {str(path)!r} has missing or infinite values")
    yarr = np.array(y, dtype=object)
    try:
        ynum = yarr.astype(np.float64)
        if not np.all(np.isfinite(ynum)):
            raise DataError(f"data: target column {target!r} of {str(path)!r} has missing values")
        if np.all(np.mod(ynum, 1) == 0):
            return feats, X, ynum.astype(np.int64)
        return feats, X, ynum
    except ValueError:
        if any(v == "" for v in y):
            raise DataError(f"data: target column {target!r} of {str(path)!r} has empty cells") from None
        return feats, X, yarr.astype(str)


def _header_and_body(path: Path, rows: list[list[str]], target: str) -> tuple[list[str], list[list[str]]]:
    """The header and the non-blank data rows, refused unless there is something to learn from."""
    shown = repr(str(path))
    if not rows or not any(c.strip() for c in rows[0]):
        raise DataError(f"data: {shown} is empty; it needs a header row and data rows")
    header = [h.strip() for h in rows[0]]
    if "" in header:
        raise DataError(f"data: {shown} has a column without a name (column {header.index('') + 1}); "
                        "name every column in the header row")
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        if h in seen:
            leak = "; a second target column would leak the answer into the features" if h == target else ""
            raise DataError(
                f"data: {shown} has two columns named {h!r} (columns {seen[h] + 1} and {i + 1}); "
                f"give every column its own name{leak}"
            )
        seen[h] = i
    if target not in header:
        raise DataError(f"data: {shown} has no column {target!r}; columns: {', '.join(header)}")
    if len(header) < 2:
        raise DataError(f"data: {shown} has no feature columns besides the target {target!r}; add numeric features")
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    if not body:
        raise DataError(f"data: {shown} has no data rows (only a header); add rows below the header")
    return header, body


def load_csv(
    path: str | Path,
    *,
    target: str,
    task: Task | str | None = None,
    test_path: str | Path | None = None,
) -> Dataset:
    """A CSV file with a header row, numeric features and a named target column."""
    p = Path(path)
    feats, X, y = _read_csv(p, target)
    Xt = yt = None
    if test_path is not None:
        tfeats, Xt, yt = _read_csv(Path(test_path), target)
        if tfeats != feats:
            raise DataError(f"data: the test CSV's feature columns differ from {str(p)!r}'s")
    return from_arrays(X, y, task=task, X_test=Xt, y_test=yt, name=p.stem)
