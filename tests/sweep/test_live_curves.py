"""The live curves' writer: at most one write an interval, never in training's way; a real sweep's epochs
stored once each, whatever became of the trial."""

from __future__ import annotations

import optuna
import pytest
import torch
from optuna.trial import TrialState
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from sweepdoctor import sweep
from sweepdoctor.diagnostics import EpochRecord, RunHistory, Task
from sweepdoctor.errors import StorageError
from sweepdoctor.studies import Store, session_scope
from sweepdoctor.studies.db import EpochRow, RunRow
from sweepdoctor.sweep.search import _live
from sweepdoctor.sweep.search._live import LiveCurves
from tests.sweep.helpers import small_config


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _epoch(e: int) -> EpochRecord:
    return EpochRecord(epoch=e, train_loss=1.0 / (e + 1), val_loss=1.2 / (e + 1), grad_norm=0.5, lr=0.01)


def _stored(store: Store, sid: int) -> list[tuple[int, int]]:
    """(fold, epoch) of the epochs stored under the study's training runs."""
    with session_scope(store.engine) as s:
        rows = s.execute(select(EpochRow.fold, EpochRow.epoch).join(RunRow, RunRow.id == EpochRow.run_id)
                         .where(RunRow.study_id == -sid))
        return sorted((fold, epoch) for fold, epoch in rows)


def test_epochs_are_written_at_most_once_an_interval(sqlite_url: str) -> None:
    optuna.create_study(study_name="s", storage=sqlite_url).ask()
    store = Store(sqlite_url)
    sid = store.study_id("s")
    clock = _Clock()
    live = LiveCurves(store, study_id=sid, trial_number=0, task=Task.REGRESSION, loss="mse", params={"lr": 0.01},
                      interval_s=1.0, clock=clock)
    curves: list[list[EpochRecord]] = [[], []]
    for e in range(10):  # an epoch every 0.3 s
        clock.now = 0.3 * (e + 1)
        for c in curves:
            c.append(_epoch(e))
        live(e, curves)
    # due at 1.0 s (the trial's start + 1 s): epochs 0-3 at 1.2 s; due again at 2.2 s: epochs 4-7 at 2.4 s
    assert live.writes == 2
    assert _stored(store, sid) == [(f, e) for f in (0, 1) for e in range(8)]
    store.engine.dispose()


class _Failing(Store):
    """A store whose live writes fail with ``error`` (the database's answer as SQLAlchemy raises it)."""

    def __init__(self, url: str, error: BaseException) -> None:
        super().__init__(url)
        self.error, self.tries = error, 0

    def add_live_epochs(self, *, study_id: int, run: RunHistory, task: Task, loss: str, trial_number: int) -> int:
        self.tries += 1
        raise StorageError("storage: database error") from self.error


@pytest.mark.parametrize(("message", "again"), [("database is locked", True), ("no such column: fold", False)])
def test_a_failed_write_never_stops_training(sqlite_url: str, message: str, again: bool) -> None:
    """The database away or busy: tried again at the next interval; any other error: no more live writes
    for the trial (its record stores the epochs when it ends)."""
    store = _Failing(sqlite_url, OperationalError("INSERT", {}, Exception(message)))
    clock = _Clock()
    live = LiveCurves(store, study_id=1, trial_number=0, task=Task.REGRESSION, loss="mse", params={},
                      interval_s=1.0, clock=clock)
    curves = [[_epoch(0)]]
    for t in (1.0, 1.5, 2.0, 3.0):
        clock.now = t
        assert live(0, curves) is None
    assert (store.tries, live.off, live.writes) == ((3, False, 0) if again else (1, True, 0))
    store.engine.dispose()


class _Linear(torch.nn.Module):
    """A linear model; the one of the trial ``fails`` raises after ``after`` forward passes (an error of
    the user's model mid-training: the trial fails, the sweep goes on)."""

    def __init__(self, n_in: int, n_out: int, fails: bool, after: int) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(n_in, n_out)
        self.fails, self.left = fails, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.left -= 1
        if self.fails and self.left < 0:
            raise RuntimeError("the model broke mid-training")
        return self.lin(x)  # type: ignore[no-any-return]


def test_a_sweeps_epochs_are_stored_while_trials_train_and_once(sqlite_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_live, "LIVE_INTERVAL_S", 0.0)  # a write after every epoch
    writes: list[tuple[int, int, str]] = []
    add = Store.add_live_epochs

    def spy(self: Store, **kw: object) -> int:
        n = add(self, **kw)  # type: ignore[arg-type]
        state = optuna.load_study(study_name="live", storage=sqlite_url).trials[kw["trial_number"]].state  # type: ignore[index]
        writes.append((kw["trial_number"], n, state.name))  # type: ignore[arg-type]
        return n

    monkeypatch.setattr(Store, "add_live_epochs", spy)
    made = [0]

    def model_fn(hp: object, n_in: int, n_out: int) -> torch.nn.Module:
        made[0] += 1
        return _Linear(n_in, n_out, fails=made[0] == 4, after=40)  # trial 1's first fold model (2 folds)

    cfg = small_config(sqlite_url, "live", trials=4, epochs=8, folds=2, sampler="random", pruner="median")
    sweep.run(cfg, data=sweep.load_builtin("iris", seed=0), model_fn=model_fn)
    study = optuna.load_study(study_name="live", storage=sqlite_url)
    states = {t.number: t.state for t in study.trials}
    assert states[1] == TrialState.FAIL and "hyperparameters" not in study.trials[1].user_attrs  # raised
    assert {n for n, _, _ in writes} == set(states) and all(s == "RUNNING" for _, _, s in writes)
    store = Store(sqlite_url)
    sid = store.study_id("live")
    history, _ = store.load_history("live")
    trained = {t.number: t.user_attrs["epochs_trained"] for t in study.trials if t.number != 1}
    assert {r.name: [len(f.epochs) for f in r.folds] for r in history.runs} == {
        f"trial-{n}": [e, e] for n, e in trained.items()}
    for n, e in trained.items():  # what was written while it trained, and no more: each epoch stored once
        assert sum(w for t, w, _ in writes if t == n) <= 2 * e
    with session_scope(store.engine) as s:
        counts = {study: n for study, n in s.execute(select(RunRow.study_id, func.count(EpochRow.id)).join(
            RunRow, RunRow.id == EpochRow.run_id).group_by(RunRow.study_id))}
    assert counts[sid] == 2 * sum(trained.values())  # every epoch row of a finished trial once
    assert counts[-sid] == sum(w for t, w, _ in writes if t == 1) > 0  # the failed one's, unseen by the study
    store.engine.dispose()
