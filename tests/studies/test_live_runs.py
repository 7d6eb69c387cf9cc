"""A trial's epochs stored while it trains (the live curves): taken over once by its record, unseen until then."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import select

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, Role, RunHistory, Task
from sweepdoctor.errors import CurvesNotFoundError, TrialNotFoundError
from sweepdoctor.studies import LiveCursor, LiveEvent, LiveFeed, Store, StudyDB, run_stored, session_scope
from sweepdoctor.studies.db import EpochRow, RunRow

FOLDS, EPOCHS = 3, 5


def _run(number: int, epochs: int = EPOCHS, *, state: str = "complete") -> RunHistory:
    """A trial's run after ``epochs`` epochs (values made to tell every fold and epoch apart)."""
    folds = tuple(
        FoldHistory(epochs=tuple(
            EpochRecord(epoch=e, train_loss=1.0 / (e + 1) + f, val_loss=1.5 / (e + 1) + f, grad_norm=0.1 * e,
                        lr=1e-3 * (f + 1), val_metric=0.5 + 0.01 * e, wall_time=0.25 * e)
            for e in range(epochs)))
        for f in range(FOLDS)
    )
    return RunHistory(name=f"trial-{number}", role=Role.CANDIDATE, folds=folds, depth=2, n_params=100,
                      hyperparameters={"lr": 1e-3}, state=state)


def _live(store: Store, sid: int, number: int, epochs: int) -> int:
    return store.add_live_epochs(study_id=sid, run=_run(number, epochs, state="running"), task=Task.CLASSIFICATION,
                                 loss="cross_entropy", trial_number=number)


def _store(store: Store, sid: int, trial: optuna.trial.FrozenTrial | optuna.Trial, run: RunHistory) -> int:
    return store.add_run(study_id=sid, run=run, task=Task.CLASSIFICATION, loss="cross_entropy",
                         trial_id=trial._trial_id, trial_number=trial.number, fold_scores=[0.5] * FOLDS)


def _epochs(store: Store, sid: int) -> list[tuple[int, int, int, int, tuple[object, ...]]]:
    """(row id, trial, fold, epoch, values) of every epoch row of the study's trials, training runs included."""
    e = EpochRow
    with session_scope(store.engine) as s:
        rows = s.execute(
            select(e.id, RunRow.trial_number, e.fold, e.epoch, e.train_loss, e.val_loss, e.val_metric, e.grad_norm,
                   e.lr, e.wall_time).join(RunRow, RunRow.id == e.run_id)
            .where(RunRow.study_id.in_([sid, -sid])).order_by(e.id)).all()
    return [(r[0], r[1], r[2], r[3], tuple(r[4:])) for r in rows]


def _drain(feed: LiveFeed, cursor: LiveCursor) -> tuple[list[LiveEvent], LiveCursor]:
    events: list[LiveEvent] = []
    while True:
        got, after = feed.poll(cursor)
        if after == cursor:
            return events, cursor
        events, cursor = events + got, after


def test_a_record_takes_over_the_epochs_stored_while_its_trial_trained(any_url: str) -> None:
    study = optuna.create_study(study_name="live", storage=any_url)
    reference = optuna.create_study(study_name="reference", storage=any_url)  # the same run, stored at the end only
    store = Store(any_url)
    try:
        sid, ref_sid = store.study_id("live"), store.study_id("reference")
        trial = study.ask()
        feed = LiveFeed(store.engine, "live", batch=4)  # small pages: the keyset carries on where it stopped
        assert _live(store, sid, trial.number, 2) == 2 * FOLDS
        assert _live(store, sid, trial.number, 2) == 0  # the same epochs again (a retry): nothing twice
        early, cursor = _drain(feed, LiveCursor())
        assert sorted((ev.data["fold"], ev.data["epoch"]) for ev in early) == [(f, e) for f in range(FOLDS)
                                                                               for e in (1, 2)]
        assert _live(store, sid, trial.number, 4) == 2 * FOLDS  # only the epochs since
        live_ids = [r[0] for r in _epochs(store, sid)]
        run = _run(trial.number, state="pruned")
        run_id = _store(store, sid, trial, run)
        study.tell(trial, state=TrialState.PRUNED)
        rows = _epochs(store, sid)
        assert [r[0] for r in rows][:len(live_ids)] == live_ids  # the same rows: the stream sent them already
        _store(store, ref_sid, reference.ask(), run)
        expected = [r[1:] for r in sorted(_epochs(store, ref_sid), key=lambda r: r[2:4])]
        assert [r[1:] for r in sorted(rows, key=lambda r: r[2:4])] == expected  # exactly the finished run's
        assert len(rows) == FOLDS * EPOCHS
        with session_scope(store.engine) as s:
            owners = set(s.execute(select(EpochRow.run_id).where(EpochRow.id.in_([r[0] for r in rows]))).scalars())
            assert owners == {run_id}
            assert s.execute(select(RunRow.id).where(RunRow.study_id == -sid)).first() is None
        history, _ = store.load_history("live")
        assert [f.epochs for r in history.runs for f in r.folds] == [f.epochs for f in run.folds]
        later, _ = _drain(feed, cursor)
        epochs = [(ev.data["fold"], ev.data["epoch"]) for ev in early + later if ev.kind == "epoch"]
        assert sorted(epochs) == [(f, e + 1) for f in range(FOLDS) for e in range(EPOCHS)]  # each once
        assert [ev.kind for ev in later][-1] == "trial" and later[-1].data["state"] == "pruned"
    finally:
        store.engine.dispose()


def test_a_killed_trials_live_epochs_are_no_finished_run(any_url: str) -> None:
    study = optuna.create_study(study_name="killed", storage=any_url)
    store = Store(any_url)
    db = StudyDB(any_url)
    try:
        sid = store.study_id("killed")
        lost = study.ask()  # its worker dies after storing three epochs live
        _live(store, sid, lost.number, 3)
        study.tell(lost, state=TrialState.FAIL)  # what the heartbeat's check does to a lost worker's trial
        with pytest.raises(CurvesNotFoundError):
            store.load_history("killed")  # diagnose and the guide read this
        assert not store.has_runs(sid) and not run_stored(store.engine, lost._trial_id)
        assert db.summary("killed").n_runs == 0
        with pytest.raises(TrialNotFoundError):
            db.curves("killed", trial=lost.number)  # the trial's page and `studies curves`
        retry = study.ask()  # the retry trains and finishes
        _live(store, sid, retry.number, 2)
        _store(store, sid, retry, _run(retry.number))
        study.tell(retry, 0.5)
        history, _ = store.load_history("killed")
        assert [r.name for r in history.runs] == [f"trial-{retry.number}"]
        assert db.summary("killed").n_runs == 1
        assert [t.number for t in db.trials("killed", where=["n_params >= 0"]).trials] == [retry.number]
        assert len(db.curves("killed", trial=retry.number).points) == EPOCHS
        events, _ = _drain(LiveFeed(store.engine, "killed"), LiveCursor())
        shown = [(ev.data["trial"], ev.kind) for ev in events]  # the stream showed what the lost worker trained
        assert shown.count((lost.number, "epoch")) == 3 * FOLDS and (lost.number, "trial") not in shown
        assert shown.count((retry.number, "epoch")) == EPOCHS * FOLDS and shown[-1] == (retry.number, "trial")
        report = db.delete("killed")  # the lost worker's epochs go with the study
        assert report.n_runs == 1 and _epochs(store, sid) == []
        with session_scope(store.engine) as s:
            assert s.execute(select(RunRow.id).where(RunRow.study_id.in_([sid, -sid]))).all() == []
    finally:
        db.close()
        store.engine.dispose()
