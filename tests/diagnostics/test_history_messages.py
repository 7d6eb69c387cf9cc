"""What a user sees of ``sweepdoctor.history/1``: each load error is one line that names the file or the
field, the constraint, the value received and the fix; ``dumps`` writes a JSON layout a person can read
and that reads back to the same history; a run's state reads as the word a report shows."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

import sweepdoctor
from sweepdoctor.diagnostics import EpochRecord, FoldHistory, History, Role, RunHistory, RunState, Task
from sweepdoctor.errors import HistoryFormatError


def _load_error(path: Path) -> str:
    with pytest.raises(HistoryFormatError) as e:
        History.load(path)
    return str(e.value)


def _parse_error(doc: Any) -> str:
    with pytest.raises(HistoryFormatError) as e:
        History.from_dict(doc)
    return str(e.value)


def _run(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "folds": [{"epochs": [{"train_loss": 1.0}]}], **extra}


def _doc(*runs: dict[str, Any], task: Any = "regression") -> dict[str, Any]:
    return {"format": "sweepdoctor.history/1", "task": task, "runs": list(runs)}


# ---- the file --------------------------------------------------------------------------------


def test_a_missing_file_is_named_with_the_systems_reason(tmp_path: Path) -> None:
    path = tmp_path / "no-such-history.json"
    assert _load_error(path) == f"history: cannot read {str(path)!r}: {os.strerror(errno.ENOENT)}"


def test_a_folder_is_named_with_the_systems_reason(tmp_path: Path) -> None:
    assert _load_error(tmp_path) == f"history: cannot read {str(tmp_path)!r}: {os.strerror(errno.EISDIR)}"


def test_a_file_that_is_not_utf8_names_the_byte_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    content = '{"loss": "café"}'.encode("latin-1")
    path.write_bytes(content)
    byte = content.index(b"\xe9")
    assert byte == 13
    assert _load_error(path) == f"history: {str(path)!r} is not UTF-8 text (byte 13); save it as UTF-8 JSON"


def test_a_file_that_is_not_json_names_the_line_and_the_parsers_reason(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n "format": "sweepdoctor.history/1",\n "task": ,\n}\n', encoding="utf-8")
    assert _load_error(path) == f"history: {str(path)!r} is not valid JSON (line 3: Expecting value)"


def test_an_empty_file_is_not_json_at_line_one(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(b"")
    assert _load_error(path) == f"history: {str(path)!r} is not valid JSON (line 1: Expecting value)"


@pytest.mark.parametrize(("content", "kind"), [
    ("[" + "9" * 5000 + "]", "ValueError"),  # beyond Python's 4300-digit limit for int()
    ("[" * 100_000 + "]" * 100_000, "RecursionError"),  # nested deeper than the parser's stack
])
def test_json_python_cannot_hold_names_the_file_and_the_reason(tmp_path: Path, content: str, kind: str) -> None:
    path = tmp_path / "odd.json"
    path.write_text(content, encoding="utf-8")
    assert _load_error(path) == f"history: {str(path)!r} is not readable JSON ({kind})"


def test_a_path_given_as_text_is_named_as_given(tmp_path: Path) -> None:
    text = str(tmp_path / "missing.json")
    with pytest.raises(HistoryFormatError) as e:
        History.load(text)
    assert str(e.value).startswith(f"history: cannot read {text!r}: ")


def test_a_utf8_file_reads_the_same_under_an_ascii_locale(tmp_path: Path) -> None:
    """A file is read as UTF-8 whatever the reader's locale (a C locale here; cp1252 on many Windows machines);
    ``dumps`` itself writes ASCII (``\\u00e9``), so the file here is written as other tools write JSON."""
    h = History(Task.REGRESSION, "mse", (RunHistory("caf\u00e9-\u00a71", Role.CANDIDATE,
                                                   (FoldHistory((EpochRecord(0, 1.0, 1.0, 1.0, 0.1),)),)),))
    path = tmp_path / "h.json"
    content = json.dumps(h.to_dict(), ensure_ascii=False).encode("utf-8")  # as another tool may write it
    assert b"caf\xc3\xa9-\xc2\xa71" in content
    path.write_bytes(content)
    assert History.load(path) == h
    script = ("import sys; from sweepdoctor.diagnostics import History; "
              "print(ascii(History.load(sys.argv[1]).runs[0].name))")
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
           "PYTHONPATH": str(Path(sweepdoctor.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert (out.returncode, out.stdout.strip()) == (0, "'caf\\xe9-\\xa71'"), out.stderr[-2000:]


# ---- the document ----------------------------------------------------------------------------


def test_a_repeated_run_name_names_both_places_and_the_fix() -> None:
    doc = _doc(_run("trial-1"), _run("trial-2"), _run("trial-1"))
    assert _parse_error(doc) == (
        "history: runs[2].name 'trial-1' repeats runs[0].name; give each run its own name")


def test_a_repeated_name_is_found_wherever_it_first_was() -> None:
    doc = _doc(_run("a"), _run("b"), _run("c"), _run("b"))
    assert _parse_error(doc) == "history: runs[3].name 'b' repeats runs[1].name; give each run its own name"


def test_runs_without_a_name_are_named_by_their_place() -> None:
    runs = [{"folds": [{"epochs": [{}]}]} for _ in range(3)]
    assert [r.name for r in History.from_dict(_doc(*runs)).runs] == ["run-0", "run-1", "run-2"]
    clash = _doc({"folds": [{"epochs": [{}]}]}, _run("run-0"))
    assert _parse_error(clash) == "history: runs[1].name 'run-0' repeats runs[0].name; give each run its own name"


def test_an_unknown_task_lists_the_words_it_may_be() -> None:
    assert _parse_error(_doc(_run("a"), task="ranking")) == (
        "history: 'task' must be one of 'classification', 'regression', got 'ranking'")
    assert _parse_error(_doc(_run("a"), task=None)) == (
        "history: 'task' must be one of 'classification', 'regression', got None")


def test_an_unknown_role_names_the_run_and_lists_the_words_it_may_be() -> None:
    doc = _doc(_run("a"), _run("b", role="boss"))
    assert _parse_error(doc) == "history: 'runs[1].role' must be one of 'candidate', 'baseline', got 'boss'"


def test_a_document_that_is_not_an_object_says_so() -> None:
    assert _parse_error([]) == "history: the document must be a JSON object"


def test_a_run_without_folds_names_the_run() -> None:
    assert _parse_error(_doc(_run("a"), {"name": "b", "folds": []})) == (
        "history: runs[1].folds must be a non-empty list")
    assert _parse_error(_doc({"name": "a"})) == "history: runs[0].folds must be a non-empty list"


@pytest.mark.parametrize(("fold", "message"), [
    ({"epochs": {}}, "history: runs[0].folds[1].epochs must be a list"),
    ({}, "history: runs[0].folds[1].epochs must be a list"),
    ({"epochs": []}, "history: runs[0].folds[1].epochs is empty; a fold needs at least one epoch record "
                     "(drop the fold or the run)"),
    ({"epochs": [{}, 7]}, "history: runs[0].folds[1].epochs[1] must be an object"),
    ({"epochs": [{}, {"epoch": -2}]}, "history: runs[0].folds[1].epochs[1].epoch must not be negative, got -2"),
    ({"epochs": [{"epoch": 0}, {"epoch": 1}, {"epoch": 5}, {"epoch": 3}]},
     "history: runs[0].folds[1].epochs[3].epoch is 3 after 5; epochs must increase within a fold"),
])
def test_a_bad_fold_is_named_by_its_path(fold: dict[str, Any], message: str) -> None:
    doc = _doc({"name": "a", "folds": [{"epochs": [{}]}, fold]})
    assert _parse_error(doc) == message


def test_a_runs_own_numbers_are_named_by_the_run() -> None:
    assert _parse_error(_doc(_run("a"), _run("b", n_params=1.5))) == (
        "history: runs[1].n_params must be an integer, got 1.5")
    assert _parse_error(_doc(_run("a", score="good"))) == (
        "history: runs[0].score must be a number or null, got 'good'")


# ---- a value shown in a message: cut at 60 characters -----------------------------------------


def _bad_train_loss(value: Any) -> str:
    return _parse_error(_doc({"name": "a", "folds": [{"epochs": [{"train_loss": value}]}]}))


_PREFIX = "history: runs[0].folds[0].epochs[0].train_loss must be a number or null, got "


def test_a_value_of_60_characters_is_shown_whole() -> None:
    value = "x" * 58
    assert len(repr(value)) == 60
    assert _bad_train_loss(value) == _PREFIX + repr(value)


def test_a_value_of_61_characters_is_cut_to_60_with_an_ellipsis() -> None:
    value = "x" * 59
    message = _bad_train_loss(value)
    shown = message.removeprefix(_PREFIX)
    assert shown == "'" + "x" * 56 + "..."
    assert len(shown) == 60


def test_a_long_list_is_cut_to_its_first_57_characters() -> None:
    value = list(range(100))
    shown = _bad_train_loss(value).removeprefix(_PREFIX)
    assert shown == repr(value)[:57] + "..."
    assert shown.startswith("[0, 1, 2, 3,") and len(shown) == 60


def test_a_wrong_integer_is_cut_too() -> None:
    doc = _doc(_run("a", depth="deep" * 30))
    message = _parse_error(doc)
    assert message == "history: runs[0].depth must be an integer, got " + repr("deep" * 30)[:57] + "..."


# ---- what dumps writes -------------------------------------------------------------------------


def _history() -> History:
    fold = FoldHistory((EpochRecord(0, 2.5, 2.75, 1.5, 0.01), EpochRecord(1, 1.5, None, 0.5, 0.005)),
                       test_loss=1.25, score=0.75)
    return History(Task.CLASSIFICATION, "cross_entropy",
                   (RunHistory("trial-3", Role.CANDIDATE, (fold,), depth=2, hyperparameters={"lr": 0.01}),))


def test_dumps_indents_one_space_per_level() -> None:
    lines = _history().dumps().splitlines()
    assert lines[:5] == ['{', ' "format": "sweepdoctor.history/1",', ' "task": "classification",',
                         ' "loss": "cross_entropy",', ' "runs": [']
    assert lines[5:8] == ['  {', '   "name": "trial-3",', '   "role": "candidate",']
    assert '       "epoch": 0,' in lines  # a record: runs / run / folds / fold / epochs / record, one space each
    assert '       "val_loss": null,' in lines
    assert lines[-1] == "}"


def test_dumps_reads_back_to_the_same_history(tmp_path: Path) -> None:
    h = _history()
    path = tmp_path / "h.json"
    path.write_text(h.dumps(), encoding="utf-8")
    assert History.load(path) == h
    assert json.loads(h.dumps()) == h.to_dict()


def test_dumps_refuses_a_non_finite_loss_rather_than_write_what_is_not_json() -> None:
    fold = FoldHistory((EpochRecord(0, float("inf"), 1.0, 1.0, 0.1),))
    h = History(Task.REGRESSION, "mse", (RunHistory("r", Role.CANDIDATE, (fold,)),))
    with pytest.raises(ValueError, match="not JSON compliant"):
        h.dumps()


def test_an_unknown_score_is_left_out_of_the_file_and_a_known_one_written() -> None:
    doc = json.loads(_history().dumps())
    assert "score" not in doc["runs"][0]  # the run's own score is not known
    assert doc["runs"][0]["folds"][0]["score"] == 0.75
    fold = FoldHistory((EpochRecord(0, 1.0, 1.0, 1.0, 0.1),))
    plain = History(Task.REGRESSION, "mse", (RunHistory("r", Role.CANDIDATE, (fold,), score=0.5),))
    run = json.loads(plain.dumps())["runs"][0]
    assert run["score"] == 0.5 and "score" not in run["folds"][0]


# ---- a run's state ---------------------------------------------------------------------------


def test_a_state_that_is_not_text_is_read_as_unknown() -> None:
    runs = History.from_dict(_doc(_run("a", state=3), _run("b", state="failed"), _run("c"))).runs
    assert [r.state for r in runs] == [None, "fail", None]


def test_an_enum_state_reads_as_its_word() -> None:
    from optuna.trial import TrialState

    class Stored(str, Enum):  # a str enum, as a store might keep its words: read by its value
        DONE = "complete"
        BROKEN = "failed"

    assert RunState.of(TrialState.FAIL) is RunState.FAIL  # Optuna's state (not a str): read by its name
    assert RunState.of(TrialState.COMPLETE) is RunState.COMPLETE
    assert RunState.of(Stored.DONE) is RunState.COMPLETE and RunState.of(Stored.BROKEN) is RunState.FAIL
    assert RunState.of(RunState.PRUNED) is RunState.PRUNED
