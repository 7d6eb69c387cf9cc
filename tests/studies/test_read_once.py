"""A long-lived reader (the service's ``StudyDB``) reads what does not change once, and no more.

A filtered page names parameters; their distributions (which tell a categorical choice's stored
index) are read from the database the first time and kept (``Distributions``); the study is found
with its directions in one statement, and its summary does not read them again. A study deleted
through the reader and made again under the same name (on SQLite it gets the same id back) is read
afresh: a kept distribution of the old study would turn ``optimizer=adam`` into another choice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from sqlalchemy import event

from sweepdoctor.errors import ConfigError
from sweepdoctor.studies import StudyDB


def _study(url: str, name: str, choices: tuple[str, ...], picks: list[str]) -> int:
    """A study whose trials pick ``picks`` among ``choices`` (in that order); returns its id."""
    study = optuna.create_study(study_name=name, storage=url)
    dists = {"optimizer": CategoricalDistribution(choices), "lr": FloatDistribution(1e-4, 1.0, log=True)}
    for i, pick in enumerate(picks):
        study.add_trial(optuna.trial.create_trial(params={"optimizer": pick, "lr": 10 ** -(1 + i % 3)},
                                                  distributions=dists, value=float(i)))
    return int(study._study_id)


@contextmanager
def _statements(db: StudyDB) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


WHERE = ("optimizer=adam", "lr>=1e-2")


def test_a_long_lived_reader_reads_each_parameters_distribution_once(sqlite_url: str) -> None:
    _study(sqlite_url, "s", ("sgd", "adam"), ["adam", "sgd", "adam", "adam", "sgd", "adam"])
    with StudyDB(sqlite_url) as fresh:
        expected = [t.number for t in fresh.trials("s", where=WHERE, sort="value").trials]
    assert expected == [0, 3]  # adam at lr 0.1 and 0.01 (trial 2 has lr 1e-3, 5 has 1e-3)
    with StudyDB(sqlite_url, keep_summaries=True) as db:
        with _statements(db) as first:
            page = db.trials("s", where=WHERE, sort="value")
        with _statements(db) as second:
            again = db.trials("s", where=WHERE, sort="value")
            summary = db.summary("s")
    assert [t.number for t in page.trials] == [t.number for t in again.trials] == expected
    assert summary.directions == ("minimize",) and summary.states == {"complete": 6}

    def distribution_reads(seen: list[str]) -> int:
        return sum("trial_params.distribution_json FROM trial_params JOIN trials" in st for st in seen)

    assert distribution_reads(first) == 2  # optimizer and lr, each once (not once per use)
    assert distribution_reads(second) == 0
    # found with its directions in one statement each time; the summary reads neither again
    assert sum("FROM studies" in st for st in second) == 2
    assert not any(st.startswith("SELECT study_directions") for st in second)


def test_a_study_made_again_under_its_name_is_read_afresh(sqlite_url: str) -> None:
    old = _study(sqlite_url, "s", ("sgd", "adam"), ["adam", "sgd", "sgd"])
    with StudyDB(sqlite_url, keep_summaries=True) as db:
        assert [t.number for t in db.trials("s", where=["optimizer=adam"]).trials] == [0]
        db.delete("s")
        new = _study(sqlite_url, "s", ("adam", "sgd"), ["sgd", "adam", "adam"])
        assert new == old  # SQLite hands the newest id out again: only forgetting tells them apart
        assert [t.number for t in db.trials("s", where=["optimizer=adam"]).trials] == [1, 2]
        assert [t.number for t in db.trials("s", where=["optimizer=sgd"]).trials] == [0]


def test_a_parameter_that_appears_later_is_found(sqlite_url: str) -> None:
    """Only found distributions are kept: a parameter no trial had yet is looked for again."""
    _study(sqlite_url, "s", ("sgd", "adam"), ["adam"])
    with StudyDB(sqlite_url, keep_summaries=True) as db:
        with pytest.raises(ConfigError, match="not a parameter"):
            db.trials("s", where=["momentum>=0.5"])
        study = optuna.load_study(study_name="s", storage=sqlite_url)
        study.add_trial(optuna.trial.create_trial(params={"momentum": 0.9},
                                                  distributions={"momentum": FloatDistribution(0.0, 0.99)}, value=1.0))
        assert [t.number for t in db.trials("s", where=["momentum>=0.5"]).trials] == [1]
