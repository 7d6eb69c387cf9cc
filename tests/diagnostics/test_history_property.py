"""Property: whatever JSON it is given, the history loader answers a History or a HistoryFormatError.

Three sources of documents: any JSON value; documents shaped like ``sweepdoctor.history/1``
with any JSON in each field; and the bytes of a file (any text, any bytes) through
``History.load``. Nothing else may escape: no KeyError, TypeError, OverflowError, ...
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweepdoctor.diagnostics import FORMAT, History
from sweepdoctor.errors import HistoryFormatError

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
                    database=None)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)  # beyond a float
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _or_anything(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | any_json


epoch = st.fixed_dictionaries(
    {},
    optional={
        "epoch": _or_anything(st.integers(min_value=-2, max_value=50)),
        "train_loss": _or_anything(st.floats()),
        "val_loss": _or_anything(st.floats()),
        "grad_norm": _or_anything(st.floats()),
        "lr": _or_anything(st.floats()),
        "val_metric": _or_anything(st.floats()),
        "wall_time": _or_anything(st.floats()),
    },
)
fold = st.fixed_dictionaries(
    {"epochs": _or_anything(st.lists(_or_anything(epoch), max_size=4))},
    optional={"test_loss": _or_anything(st.floats())},
)
run = st.fixed_dictionaries(
    {"folds": _or_anything(st.lists(_or_anything(fold), max_size=3))},
    optional={
        "name": _or_anything(st.sampled_from(["a", "b", "trial-1"])),
        "role": _or_anything(st.sampled_from(["candidate", "baseline"])),
        "depth": _or_anything(st.integers(min_value=-1, max_value=4)),
        "n_params": _or_anything(st.integers(min_value=-1)),
        "hyperparameters": any_json,
        "state": any_json,
    },
)
history_like = st.fixed_dictionaries(
    {
        "format": _or_anything(st.just(FORMAT)),
        "task": _or_anything(st.sampled_from(["classification", "regression"])),
        "runs": _or_anything(st.lists(_or_anything(run), max_size=3)),
    },
    optional={"loss": _or_anything(st.sampled_from(["cross_entropy", "mse"]))},
)


def _loads_or_format_error(doc: Any) -> None:
    try:
        history = History.from_dict(doc)
    except HistoryFormatError as e:
        assert "\n" not in str(e) and str(e).startswith("history: ")
        return
    assert history.runs and all(f.epochs for r in history.runs for f in r.folds)
    for r in history.runs:
        for f in r.folds:
            numbers = [e.epoch for e in f.epochs]
            assert numbers == sorted(set(numbers)) and numbers[0] >= 0
    History.from_dict(json.loads(history.dumps()))  # what it accepts, it writes back readably


@SETTINGS
@given(any_json)
def test_any_json_value(doc: Any) -> None:
    _loads_or_format_error(doc)


@SETTINGS
@given(history_like)
def test_documents_shaped_like_a_history(doc: Any) -> None:
    _loads_or_format_error(doc)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode) | history_like.map(
    lambda d: json.dumps(d).encode()))
def test_any_file(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.json"
        path.write_bytes(content)
        try:
            History.load(path)
        except HistoryFormatError as e:
            assert "\n" not in str(e)


def test_a_shaped_document_can_be_valid() -> None:
    """The strategies reach valid documents too (the property is not only about refusals)."""
    doc = {"format": FORMAT, "task": "regression",
           "runs": [{"folds": [{"epochs": [{"epoch": 0, "train_loss": 1.0}, {"epoch": 3, "lr": 10**400}]}]}]}
    history = History.from_dict(doc)
    assert [e.epoch for e in history.runs[0].folds[0].epochs] == [0, 3]
