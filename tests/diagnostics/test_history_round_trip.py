"""A history with every field set survives ``sweepdoctor.history/1`` as JSON, a file and a dict, field
by field; a wrong value is refused with the path of the field that holds it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, History, Role, RunHistory, Task
from sweepdoctor.errors import HistoryFormatError


def _full() -> History:
    folds = (FoldHistory((EpochRecord(0, 2.5, 2.75, 1.5, 0.01, 0.625, 1.25),
                          EpochRecord(2, 1.5, 1.75, 0.5, 0.005, 0.75, 2.5)), test_loss=1.875, score=0.8125),
             FoldHistory((EpochRecord(0, 2.25, None, None, 0.01, None, None),), test_loss=None, score=None))
    runs = (RunHistory("trial-7", Role.CANDIDATE, folds, depth=3, n_params=1234,
                       hyperparameters={"lr": 0.01, "optimizer": "adam"}, state="pruned", score=0.8125),
            RunHistory("linear", Role.BASELINE, folds[:1]))
    return History(Task.REGRESSION, "huber", runs)


def test_every_field_survives_a_dict_a_string_and_a_file(tmp_path: Path) -> None:
    h = _full()
    assert History.from_dict(h.to_dict()) == h
    path = tmp_path / "h.json"
    path.write_text(h.dumps())
    assert History.load(path) == h
    assert History.from_dict(json.loads(h.dumps())) == h


def test_the_dict_names_each_field_as_the_format_does() -> None:
    d = _full().to_dict()
    assert (d["format"], d["task"], d["loss"]) == ("sweepdoctor.history/1", "regression", "huber")
    run = d["runs"][0]
    assert {k: v for k, v in run.items() if k != "folds"} == {
        "name": "trial-7", "role": "candidate", "depth": 3, "n_params": 1234,
        "hyperparameters": {"lr": 0.01, "optimizer": "adam"}, "state": "pruned", "score": 0.8125}
    fold = run["folds"][0]
    assert (fold["test_loss"], fold["score"]) == (1.875, 0.8125)
    assert fold["epochs"][1] == {"epoch": 2, "train_loss": 1.5, "val_loss": 1.75, "grad_norm": 0.5, "lr": 0.005,
                                 "val_metric": 0.75, "wall_time": 2.5}


def _doc(**epoch: Any) -> dict[str, Any]:
    record = {"epoch": 0, "train_loss": 1.0, "val_loss": 1.0, "grad_norm": 1.0, "lr": 0.1, **epoch}
    return {"format": "sweepdoctor.history/1", "task": "classification",
            "runs": [{"name": "r", "folds": [{"epochs": [record]}]}]}


@pytest.mark.parametrize("key", ["train_loss", "val_loss", "grad_norm", "lr", "val_metric", "wall_time"])
def test_a_wrong_number_is_refused_at_its_path(key: str) -> None:
    with pytest.raises(HistoryFormatError) as e:
        History.from_dict(_doc(**{key: "high"}))
    assert str(e.value) == f"history: runs[0].folds[0].epochs[0].{key} must be a number or null, got 'high'"


@pytest.mark.parametrize("key", ["test_loss", "score"])
def test_a_folds_wrong_number_is_refused_at_its_path(key: str) -> None:
    doc = _doc()
    doc["runs"][0]["folds"][0][key] = "x"
    with pytest.raises(HistoryFormatError, match=rf"^history: runs\[0\]\.folds\[0\]\.{key} must be a number"):
        History.from_dict(doc)


def test_epochs_must_increase_and_a_missing_epoch_is_its_position() -> None:
    doc = _doc()
    epochs = doc["runs"][0]["folds"][0]["epochs"]
    epochs += [{**epochs[0], "epoch": 3}, {**epochs[0], "epoch": 3}]
    with pytest.raises(HistoryFormatError) as e:
        History.from_dict(doc)
    assert str(e.value) == ("history: runs[0].folds[0].epochs[2].epoch is 3 after 3; epochs must increase "
                            "within a fold")
    for record in epochs:
        del record["epoch"]
    h = History.from_dict(doc)
    assert [r.epoch for r in h.runs[0].folds[0].epochs] == [0, 1, 2]
    with pytest.raises(HistoryFormatError, match=r"epochs\[0\]\.epoch must be an integer, got 'one'"):
        History.from_dict(_doc(epoch="one"))


def test_a_missing_rate_is_nan_and_a_null_number_is_none() -> None:
    doc = _doc(val_loss=None)
    del doc["runs"][0]["folds"][0]["epochs"][0]["lr"]
    record = History.from_dict(doc).runs[0].folds[0].epochs[0]
    assert math.isnan(record.lr) and record.val_loss is None and record.train_loss == 1.0


def test_a_document_without_a_loss_gets_the_tasks_usual_one() -> None:
    doc = _doc()
    assert History.from_dict(doc).loss == "cross_entropy"
    assert History.from_dict({**doc, "task": "regression"}).loss == "mse"
