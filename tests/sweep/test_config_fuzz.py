"""Property: whatever document a sweep file (or a submitted sweep's JSON) holds, loading it
answers a checked configuration or a ConfigError, never another exception.

Documents have the sections and keys of a real configuration with random values of random
types (text where numbers go, booleans as strings, NaN/inf, huge integers, dates, lists,
nested tables, ``{low, high, log, include_zero}`` ranges with any bounds), plus random
extra keys and sections. They go through :func:`sweepdoctor.sweep.load_config` (what the CLI
and ``sweep.run`` use) as TOML files, and through :func:`sweepdoctor.sweep.agent.check_submission`
as the JSON tables of ``POST /api/sweeps``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweepdoctor.errors import ConfigError, DataError
from sweepdoctor.sweep import GuideConfig, SearchSpace, StudyConfig, SweepConfig, TrainConfig, load_config
from sweepdoctor.sweep.agent import check_submission, tables_to_toml
from sweepdoctor.sweep.config import BUILTIN_DATASETS, OPTIMIZERS, DataConfig

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

words = st.sampled_from(["", "no", "yes", "true", "false", "1e-3", "0.5", "nan", "inf", "-1", "adam", "relu",
                         "iris", "classification", "cpu", "tpe", "median", "28x28", "x", "é"])
scalars = (
    words
    | st.booleans()
    | st.integers(min_value=-3, max_value=300)
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)  # beyond a float
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1e-4, 0.3, 1.0, 16.0, 1e308])
    | words
    | st.text(max_size=6)
)
toml_scalars = scalars | st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 1, 1)) | st.dates()
json_scalars = scalars | st.none()


def _nested(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(leaf, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


def _range(value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A ``{low, high, ...}`` table: mostly numbers for the bounds and booleans for the flags, else anything."""
    number = st.floats(-1.0, 2.0) | st.integers(-2, 64)
    return st.fixed_dictionaries(
        {"low": number | value, "high": number | value},
        optional={"log": st.booleans() | value, "include_zero": st.booleans() | value, "step": value},
    )


def _good_range(low: float, high: float, *, log: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    bounds = st.tuples(st.floats(low, high), st.floats(low, high)).map(sorted)
    return st.builds(lambda b, lg: {"low": b[0], "high": b[1], "log": lg}, bounds, st.just(log) | st.booleans())


_WINDOWS = st.dictionaries(st.sampled_from(OPTIMIZERS), _good_range(1e-4, 0.3, log=True), max_size=3)
# Values a real configuration holds: most documents are sound but for the corruptions below.
GOOD: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "data": {"dataset": st.sampled_from(BUILTIN_DATASETS), "n_samples": st.integers(10, 500),
             "n_features": st.integers(2, 30), "task": st.sampled_from(["classification", "regression"])},
    "train": {"folds": st.integers(2, 5), "epochs": st.integers(1, 30), "repeats": st.integers(1, 3),
              "device": st.sampled_from(["auto", "cpu"]), "vectorize": st.booleans(), "threads": st.integers(1, 4)},
    "study": {"trials": st.integers(1, 100), "timeout": st.floats(1, 1e4),
              "sampler": st.sampled_from(["tpe", "random"]), "seed": st.integers(0, 2**32 - 1),
              "name": st.sampled_from(["a", "my sweep"]), "guided": st.booleans()},
    "guide": {"min_lr": st.floats(1e-8, 1e-4), "max_lr": st.floats(0.1, 1.0), "max_depth": st.integers(1, 8)},
    "space": {"lr": _good_range(1e-5, 0.3, log=True), "optimizer": st.lists(st.sampled_from(OPTIMIZERS), min_size=1),
              "batch_size": st.lists(st.sampled_from([16, 32, 64]), min_size=1), "dropout": _good_range(0.0, 0.6),
              "depth": st.builds(lambda a, b: {"low": a, "high": a + b}, st.integers(1, 3), st.integers(0, 3)),
              "weight_decay": _good_range(1e-6, 1e-2).map(lambda r: {**r, "include_zero": True}),
              "activation": st.sampled_from(["relu", "tanh"]), "optimizer_lr": _WINDOWS},
    "thresholds": {"overfit_val_rise": st.floats(0.01, 1.0)},
}
_KEYS = {"data": DataConfig, "train": TrainConfig, "study": StudyConfig, "guide": GuideConfig, "space": SearchSpace}
_SUBKEYS = ["low", "high", "log", "include_zero", "step", *OPTIMIZERS, "lion"]


@st.composite
def _documents(draw: st.DrawFn, leaf: st.SearchStrategy[Any]) -> dict[str, Any]:
    """A sound document, then up to four corruptions: a value of any type at any depth, or an extra key."""
    doc: dict[str, Any] = {}
    for section, keys in GOOD.items():
        if draw(st.booleans()):
            doc[section] = draw(st.fixed_dictionaries({}, optional=keys))
    anything = leaf | _nested(leaf) | _range(leaf) | st.dictionaries(st.sampled_from(OPTIMIZERS), _range(leaf))
    for _ in range(draw(st.integers(1, 4))):
        table = doc
        path = [draw(st.sampled_from([*GOOD, "space", "space", "spcae"]))]
        names = [f.name for f in fields(_KEYS[path[0]])] if path[0] in _KEYS else ["x"]
        present = list(doc.get(path[0], {})) if isinstance(doc.get(path[0]), dict) else []
        path.append(draw(st.sampled_from([*present, *present, *present, *names, "bogus"])))
        while isinstance(_get(doc, path), dict) and draw(st.integers(0, 3)) > 0:  # mostly deeper
            inner = _get(doc, path)
            path.append(draw(st.sampled_from([*inner, *_SUBKEYS]) if inner else st.sampled_from(_SUBKEYS)))
        for key in path[:-1]:
            if not isinstance(table.get(key), dict):
                table[key] = {}
            table = table[key]
        table[path[-1]] = draw(leaf if len(path) > 2 else anything)  # in a range or a window: one value
    return doc


def _get(doc: Any, path: list[str]) -> Any:
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes, but astral characters as they are: TOML has no surrogates)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(v: Any) -> str:
    """``v`` as TOML (tables inline), so that any nesting is one line."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{_string(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def _to_toml(doc: dict[str, Any]) -> str:
    return "".join(f"{_string(k)} = {_toml_value(v)}\n" for k, v in doc.items())


def _load(text: str) -> SweepConfig | None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "sweep.toml"
        path.write_text(text, encoding="utf-8")
        try:
            cfg = load_config(path)
        except ConfigError:
            return None
    assert cfg.validate() is cfg  # what loads is a checked configuration
    return cfg


@SETTINGS
@given(_documents(toml_scalars))
def test_any_toml_document_loads_or_is_a_config_error(doc: dict[str, Any]) -> None:
    _load(_to_toml(doc))


@settings(SETTINGS, max_examples=150)
@given(st.text(max_size=80) | st.sampled_from(["[space]\nlr = {", "[space]\noptimizer_lr = {adam = 3}\n", "[[x]]"]))
def test_any_text_loads_or_is_a_config_error(text: str) -> None:
    _load(text)


@SETTINGS
@given(_documents(json_scalars))
def test_any_submitted_json_document_is_accepted_or_a_config_or_data_error(doc: dict[str, Any]) -> None:
    try:
        check_submission(tables_to_toml(doc))
    except (ConfigError, DataError):
        pass


def test_the_documents_reach_the_checks_past_the_parser() -> None:
    """The strategy makes loadable documents too (else the property says little)."""
    good = {"data": {"dataset": "iris"}, "space": {"optimizer_lr": {"adam": {"low": 1e-4, "high": 1e-2,
                                                                             "log": True}}}}
    assert _load(_to_toml(good)) is not None
    assert check_submission(tables_to_toml(good)).trials == 30
