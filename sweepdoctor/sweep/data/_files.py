"""Arrays from an ``.npz`` file (``np.savez``): ``X`` and ``y``, optionally ``X_test`` and ``y_test``.

The array names can be set. The file is read with ``allow_pickle=False``: an array of Python
objects is refused, never unpickled. Every refusal names the file, the array and the fix.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sweepdoctor.diagnostics import Task
from sweepdoctor.errors import DataError
from sweepdoctor.sweep.data._datasets import Dataset, from_arrays

__all__ = ["in_file", "load_npz"]

_KEYS_HINT = "name the arrays with --npz-keys X,y[,X_test,y_test] (or npz_x, npz_y, npz_x_test, npz_y_test in [data])"


@contextlib.contextmanager
def in_file(shown: str) -> Iterator[None]:
    """A :class:`DataError` raised inside names the file it came from (``data: 'f.npz': ...``)."""
    try:
        yield
    except DataError as e:
        msg = str(e)
        msg = f"data: {shown}: {msg[len('data: '):]}" if msg.startswith("data: ") else f"data: {shown}: {msg}"
        raise DataError(msg) from None


def load_npz(
    path: str | Path,
    *,
    x: str = "X",
    y: str = "y",
    x_test: str | None = None,
    y_test: str | None = None,
    task: Task | str | None = None,
) -> Dataset:
    """The arrays ``x`` (samples, any of (n, d), (n, C, L), (n, C, H, W)) and ``y`` of an npz file.

    ``x_test``/``y_test`` name a test set; when left out, the arrays ``X_test`` and
    ``y_test`` are the test set if the file has them.
    """
    p = Path(path)
    shown = repr(str(p))
    with _open(p, shown) as npz:
        names = list(npz.files)
        test_keys = _test_keys(names, shown, x_test, y_test)
        for key in (x, y, *test_keys):
            if key not in names:
                raise DataError(f"data: {shown} has no array {key!r}; its arrays: {', '.join(names) or 'none'}; "
                                f"{_KEYS_HINT}")
        X, Y = _samples(_array(npz, x, shown), x, shown), _targets(_array(npz, y, shown), y, shown)
        _same_length(X, Y, (x, y), shown)
        Xt = Yt = None
        if test_keys:
            Xt = _samples(_array(npz, test_keys[0], shown), test_keys[0], shown)
            Yt = _targets(_array(npz, test_keys[1], shown), test_keys[1], shown)
            _same_length(Xt, Yt, test_keys, shown)
    with in_file(shown):
        return from_arrays(X, Y, task=task, X_test=Xt, y_test=Yt, name=p.stem)


@contextlib.contextmanager
def _open(p: Path, shown: str) -> Iterator[Any]:
    hint = f"save the arrays with np.savez({p.name!r}, X=X, y=y)"
    try:
        fh = p.open("rb")  # opened here, not by np.load, so that it is closed when np.load fails
    except OSError as e:
        raise DataError(f"data: cannot read {shown}: {e.strerror or e}; check the path (--npz)") from None
    with fh:
        try:
            npz = np.load(fh, allow_pickle=False)
        except OSError as e:
            raise DataError(f"data: cannot read {shown}: {e.strerror or e}; check the path (--npz)") from None
        except (ValueError, EOFError, zipfile.BadZipFile):
            raise DataError(f"data: {shown} is not an .npz file (or it is damaged); {hint}") from None
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise DataError(f"data: {shown} holds one array (an .npy file), not named arrays; {hint}")
        with npz:
            yield npz


def _test_keys(names: list[str], shown: str, x_test: str | None, y_test: str | None) -> tuple[str, ...]:
    """The test set's two array names, or none: asked for by name, or ``X_test``/``y_test`` when present."""
    if x_test is not None or y_test is not None:
        if x_test is None or y_test is None:
            raise DataError(f"data: {shown}: a test set needs both arrays, got only "
                            f"{x_test or y_test!r}; give npz_x_test and npz_y_test")
        return x_test, y_test
    present = [k for k in ("X_test", "y_test") if k in names]
    if len(present) == 1:
        missing = "y_test" if present[0] == "X_test" else "X_test"
        raise DataError(f"data: {shown} has {present[0]!r} but no {missing!r}; a test set needs both "
                        f"(its arrays: {', '.join(names)}); save both or neither")
    return ("X_test", "y_test") if present else ()


def _array(npz: Any, key: str, shown: str) -> np.ndarray:
    try:
        return np.asarray(npz[key])
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(f"data: array {key!r} of {shown} holds Python objects (dtype object), which are not "
                            "loaded (allow_pickle=False); save numbers, or labels as strings "
                            "(np.asarray(y, dtype=str))") from None
        raise DataError(f"data: cannot read array {key!r} of {shown}: {e}; save the file again") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"data: cannot read array {key!r} of {shown} (the file is damaged: {e}); "
                        "save the file again") from None


def _samples(a: np.ndarray, key: str, shown: str) -> np.ndarray:
    """Samples: numbers, one row per sample, every value finite."""
    if a.dtype.kind not in "biuf":
        raise DataError(f"data: array {key!r} of {shown} is not numeric (dtype {a.dtype}); "
                        "the samples must be numbers (encode text or categories as numbers)")
    if a.ndim == 0:
        raise DataError(f"data: array {key!r} of {shown} is a single value; the samples need one row each "
                        "(shape (n, features), (n, C, L) or (n, C, H, W))")
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise DataError(f"data: array {key!r} of {shown} has {int(bad.sum())} NaN or infinite values "
                            f"(the first in row {row}); drop or fill them before saving")
    return a


def _targets(a: np.ndarray, key: str, shown: str) -> np.ndarray:
    """Targets: numbers or labels (strings), one per sample; a float target has no NaN/inf."""
    if a.dtype.kind not in "biufUS":
        raise DataError(f"data: array {key!r} of {shown} has dtype {a.dtype}; the target must be numbers or "
                        "string labels")
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise DataError(f"data: array {key!r} of {shown} has shape {a.shape}; the target must be 1-D "
                        "(one value per sample)")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        row = int(np.argwhere(~np.isfinite(a))[0][0])
        raise DataError(f"data: array {key!r} of {shown} has NaN or infinite values (the first in row {row}); "
                        "drop those samples before saving")
    return a


def _same_length(X: np.ndarray, y: np.ndarray, keys: tuple[str, ...], shown: str) -> None:
    if len(X) != len(y):
        raise DataError(f"data: {shown}: array {keys[0]!r} has {len(X)} samples but {keys[1]!r} has {len(y)}; "
                        "they need one target per sample")
