"""The live feed sends an epoch committed after a higher id (several writers), once, on PostgreSQL and MariaDB.

Two connections stand for two agents: the first inserts an epoch and keeps its transaction
open, the second inserts one (a higher id) and commits; the feed sends the second, waits at
the gap, sends the first when it commits, and sends nothing twice. A gap that never fills (a
rolled-back insert) holds the feed only ``settle_s``; gaps deep in the table (a replay) are
not waited for at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import optuna
import pytest
from sqlalchemy import Engine, insert

from sweepdoctor.studies import LiveCursor, LiveFeed, Store, make_engine
from sweepdoctor.studies.db import EpochRow, RunRow


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres), "mysql"])
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.getfixturevalue("pg_url" if request.param == "postgres" else "mysql_url")


def _study(url: str) -> tuple[Engine, int]:
    """An engine on a study with one candidate run (trial 0) and our tables; returns the run's id."""
    study = optuna.create_study(study_name="s", storage=url)
    engine = make_engine(url)
    Store(engine).ensure_schema()
    with engine.begin() as c:
        run = c.execute(insert(RunRow.__table__).values(
            study_id=study._study_id, trial_number=0, name="trial-0", role="candidate", state="running",
            task="classification", loss="cross_entropy", hyperparameters={})).inserted_primary_key[0]
    return engine, int(run)


def _epoch(c: Any, run: int, epoch: int) -> int:
    return int(c.execute(insert(EpochRow.__table__).values(
        run_id=run, fold=0, epoch=epoch, train_loss=1.0 / (epoch + 1), val_loss=1.0, val_metric=0.5,
        lr=0.1)).inserted_primary_key[0])


def _epochs(events: list[Any]) -> list[int]:
    return [e.data["epoch"] for e in events if e.kind == "epoch"]


def test_an_epoch_committed_after_a_higher_one_is_sent_once(server_url: str) -> None:
    engine, run = _study(server_url)
    try:
        feed = LiveFeed(engine, "s", settle_s=60.0)
        cursor = feed.tail()
        with engine.connect() as slow:  # closed (rolled back) whatever happens: the database is dropped after
            slow_tx = slow.begin()
            low = _epoch(slow, run, 0)  # an agent's transaction, still open
            with engine.begin() as fast:
                high = _epoch(fast, run, 1)  # another agent's, committed first
            assert high > low
            events, cursor = feed.poll(cursor)
            assert _epochs(events) == [2]  # epochs count from 1 on the stream
            assert cursor.epoch_id == low - 1  # held below the gap
            assert _epochs(feed.poll(cursor)[0]) == []  # the one above it is not sent again
            slow_tx.commit()
        events, cursor = feed.poll(cursor)
        assert _epochs(events) == [1] and cursor.epoch_id == high
        assert feed.poll(cursor) == ([], cursor)
    finally:
        engine.dispose()


def test_a_gap_that_never_fills_holds_the_feed_only_settle_s(server_url: str) -> None:
    engine, run = _study(server_url)
    try:
        feed = LiveFeed(engine, "s", settle_s=0.5)
        cursor = feed.tail()
        with engine.connect() as c:
            tx = c.begin()
            gone = _epoch(c, run, 0)
            tx.rollback()  # the id stays used: a gap for good
        with engine.begin() as c:
            kept = _epoch(c, run, 1)
        assert kept > gone
        events, cursor = feed.poll(cursor)
        assert _epochs(events) == [2] and cursor.epoch_id < gone
        time.sleep(0.6)
        events, cursor = feed.poll(cursor)
        assert events == [] and cursor.epoch_id == kept  # past the gap; nothing sent twice
    finally:
        engine.dispose()


def test_a_replay_does_not_wait_at_old_gaps(server_url: str) -> None:
    """Pages of a replay that are full (more rows after them) pass their gaps at once."""
    engine, run = _study(server_url)
    try:
        with engine.connect() as c:
            for epoch in range(6):
                tx = c.begin()
                _epoch(c, run, epoch)
                (tx.rollback if epoch in (1, 3) else tx.commit)()
        feed = LiveFeed(engine, "s", batch=2, settle_s=60.0)
        got, cursor = [], LiveCursor()
        for _ in range(10):
            events, after = feed.poll(cursor)
            got += _epochs(events)
            if after == cursor:
                break
            cursor = after
        assert got == [1, 3, 5, 6]
    finally:
        engine.dispose()
