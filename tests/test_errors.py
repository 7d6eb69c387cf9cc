"""The kinds of error the faces decide on are raised where the condition is found (issue 24).

Each is a subclass of the root a face already catches (``StorageError``, ``ConfigError``),
so a caller that only knows the root still gets them.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sweepdoctor import errors
from sweepdoctor.errors import (
    ConfigError,
    CurvesNotFoundError,
    DataError,
    DuplicatedSweepError,
    NotFoundError,
    StorageError,
    StudyNotFoundError,
    SweepNotFoundError,
    TooLargeError,
    TrialNotFoundError,
)
from sweepdoctor.studies import StudyDB, diagnose_study, get_sweep, make_engine, stop_sweep, submit_sweep
from tests.studies._build import build_all, build_plain


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('kinds') / 'study.db'}"
    build_all(url)
    return url


def test_the_kinds_sit_under_the_roots_the_faces_catch() -> None:
    for kind in (StudyNotFoundError, TrialNotFoundError, CurvesNotFoundError, SweepNotFoundError):
        assert issubclass(kind, NotFoundError) and issubclass(kind, StorageError)
    assert issubclass(DuplicatedSweepError, ConfigError) and issubclass(TooLargeError, DataError)
    assert set(errors.__all__) == {n for n in dir(errors) if n.endswith("Error")}
    e = pickle.loads(pickle.dumps(TrialNotFoundError("storage: no trial 3", available="2 trials")))
    assert (str(e), e.available) == ("storage: no trial 3", "2 trials")  # crosses a process boundary intact


def test_a_missing_study(built: str) -> None:
    with StudyDB(built) as db, pytest.raises(StudyNotFoundError, match="no study named 'nope'"):
        db.summary("nope")
    with pytest.raises(StudyNotFoundError):
        diagnose_study(built, "nope")


def test_a_missing_trial_says_which_there_are(built: str) -> None:
    with StudyDB(built) as db, pytest.raises(TrialNotFoundError) as got:
        db.curves("digits-mlp", trial=99)
    assert got.value.available and got.value.available in str(got.value)
    with StudyDB(built) as db, pytest.raises(TrialNotFoundError):
        db.curves("digits-mlp", trial=10**23)  # past 64 bits: not found, not an OverflowError
    with pytest.raises(TrialNotFoundError, match="has no stored trial 99"):
        diagnose_study(built, "digits-mlp", trial=99)


def test_curves_that_are_not_stored(built: str, tmp_path: Path) -> None:
    with StudyDB(built) as db, pytest.raises(CurvesNotFoundError, match="no stored curves for run 'nosuch'"):
        db.curves("digits-mlp", run="nosuch")
    plain = f"sqlite:///{tmp_path / 'plain.db'}"
    build_plain(plain)  # Optuna's tables only
    with StudyDB(plain) as db, pytest.raises(CurvesNotFoundError, match="only Optuna's tables"):
        db.curves("plain")


def test_a_missing_sweep_and_a_duplicated_one(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    try:
        with pytest.raises(SweepNotFoundError, match="no submitted sweep named 'x'"):
            get_sweep(engine, "x")
        submit_sweep(engine, name="x", config="[study]\n", trials=2)
        with pytest.raises(DuplicatedSweepError, match="already submitted"):
            submit_sweep(engine, name="x", config="[study]\n", trials=2)
        with pytest.raises(SweepNotFoundError):
            stop_sweep(engine, "y")
    finally:
        engine.dispose()


def test_a_database_that_does_not_answer_is_no_not_found() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = make_engine(f"postgresql://nobody@127.0.0.1:{port}/x")
    try:
        with pytest.raises(StorageError, match="cannot reach") as got:
            get_sweep(engine, "x")
        assert not isinstance(got.value, NotFoundError)  # an outage: an agent keeps going, HTTP says 503
    finally:
        engine.dispose()
