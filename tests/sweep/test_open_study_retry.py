"""Opening the study is retried while the database is briefly away (a connection cut lands there too)."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from sqlalchemy.exc import DisconnectionError

from sweepdoctor.sweep import StudyConfig
from sweepdoctor.sweep.search import _study
from sweepdoctor.sweep.search._study import open_study


class _Flaky(optuna.storages.InMemoryStorage):
    """Drops the connection on the first ``fails`` lookups of a study by name, as a cut server does."""

    def __init__(self, fails: int, error: BaseException) -> None:
        super().__init__()
        self.fails, self.error, self.calls = fails, error, 0

    def get_study_id_from_name(self, study_name: str) -> int:
        self.calls += 1
        if self.calls <= self.fails:
            raise optuna.exceptions.StorageInternalError("commit failed") from self.error
        return super().get_study_id_from_name(study_name)


def _open(storage: Any) -> optuna.Study:
    return open_study(StudyConfig(), name="s", url="postgresql://h/db", direction="maximize", epochs=4,
                      storage=storage)


def test_a_connection_cut_while_opening_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_study.time, "sleep", lambda _s: None)
    storage = _Flaky(2, DisconnectionError("server closed the connection unexpectedly"))
    study = _open(storage)
    assert study.study_name == "s" and storage.calls >= 3


def test_a_real_error_while_opening_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_study.time, "sleep", lambda _s: None)
    storage = _Flaky(1, ValueError("not a database going away"))
    with pytest.raises(optuna.exceptions.StorageInternalError):
        _open(storage)
    assert storage.calls == 1


def test_a_database_away_past_the_patience_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(_study.time, "sleep", lambda _s: None)
    monkeypatch.setattr(_study.time, "monotonic", lambda: float(next(clock)))
    storage = _Flaky(10**6, DisconnectionError("server closed the connection unexpectedly"))
    with pytest.raises(optuna.exceptions.StorageInternalError):
        _open(storage)
    assert 2 <= storage.calls <= 5  # 30 s of patience at 10 s a try
