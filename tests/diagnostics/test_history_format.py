import json
import math
from pathlib import Path

import pytest

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, History, Role, RunHistory, Task
from sweepdoctor.errors import HistoryFormatError


def _history() -> History:
    rec = EpochRecord(epoch=0, train_loss=0.5, val_loss=None, grad_norm=1.0, lr=float("nan"), val_metric=0.8)
    run = RunHistory(name="baseline-linear", role=Role.BASELINE, folds=(FoldHistory(epochs=(rec,)),), depth=0)
    return History(task=Task.CLASSIFICATION, loss="cross_entropy", runs=(run,))


def test_round_trip_writes_non_finite_as_null(tmp_path: Path) -> None:
    text = _history().dumps()
    doc = json.loads(text)
    assert doc["runs"][0]["folds"][0]["epochs"][0]["lr"] is None
    p = tmp_path / "h.json"
    p.write_text(text)
    back = History.load(p)
    assert back.runs[0].folds[0].epochs[0].train_loss == 0.5
    assert math.isnan(back.runs[0].folds[0].epochs[0].lr)


@pytest.mark.parametrize(
    "doc,match",
    [
        ({"format": "other"}, "'format' must be"),
        ({"format": "sweepdoctor.history/1", "task": "ranking", "runs": []}, "'task' must be one of"),
        ({"format": "sweepdoctor.history/1", "task": "regression", "runs": []}, "'runs' must be a non-empty list"),
        (
            {"format": "sweepdoctor.history/1", "task": "regression",
             "runs": [{"folds": [{"epochs": [{"train_loss": "x"}]}]}]},
            r"runs\[0\].folds\[0\].epochs\[0\].train_loss must be a number",
        ),
        ({"format": "sweepdoctor.history/1", "task": "regression", "runs": [{"role": "boss", "folds": []}]},
         r"runs\[0\].role"),
    ],
)
def test_malformed_documents_name_the_field(doc: dict, match: str) -> None:
    with pytest.raises(HistoryFormatError, match=match):
        History.from_dict(doc)
