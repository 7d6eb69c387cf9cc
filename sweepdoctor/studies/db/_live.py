"""What a study stored since a cursor: the feed behind the service's live curves.

Each :meth:`LiveFeed.poll` asks three keyset questions, each a range scan of a
primary key that reads only the rows stored since the last poll (at most ``batch``;
never the whole study): epochs of ``sd_epochs`` with ``id`` above the cursor, Optuna's
intermediate values (the fold-averaged value a pruned sweep reports each epoch, while
the trial trains) above theirs, each joined to its owner by primary key to keep the
study's, and the study's trial records of ``sd_runs`` above theirs (its ``study_id``
index), joined to Optuna's trial for its state and value. A record whose Optuna trial
still says RUNNING (stored, not yet told) waits for the next poll, so trials arrive in order.

A sweep stores a trial's epochs while it trains (about once a second) under the trial's
training run, which no query of the study sees (``_schema``); the feed reads them as
the study's. When the trial ends, its record takes the same rows over, ids unchanged:
each epoch is sent once, while its trial trains, and before the trial's event.

The cursor is the three last ids, written ``"E-V-R"``; it is the stream's event id,
which a client sends back as ``Last-Event-ID`` to resume.

On PostgreSQL and MariaDB an id is handed out when a row is inserted, not when it is
committed: with several writers (agents), id 100 can become visible after id 101. Near the
end of the table (a poll that read fewer than ``batch`` rows) a gap in the epochs' or the
values' ids is therefore waited for, up to ``settle_s``: the cursor stays below it while
the rows above it are sent once (the feed remembers them), and moves past it when it is
filled or when it has stayed open that long (a rolled-back insert leaves a gap for good).
Gaps deep in the table (a replay from an old cursor) are old: they are not waited for. A
client that reconnects with ``Last-Event-ID`` resumes after the last event it got, past any
gap still open then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, Float, Integer, and_, column, func, inspect, select, table

from sweepdoctor.errors import ConfigError, StudyNotFoundError
from sweepdoctor.studies.db._engine import mask_url, session_scope
from sweepdoctor.studies.db._optuna_tables import o_studies, o_trial_values, o_trials, trial_state
from sweepdoctor.studies.db._schema import EpochRow, RunRow, training_study_id

__all__ = ["LiveCursor", "LiveEvent", "LiveFeed"]

_values = table(
    "trial_intermediate_values",
    column("trial_intermediate_value_id", Integer),
    column("trial_id", Integer),
    column("step", Integer),
    column("intermediate_value", Float),
)
SETTLE_S = 5.0  # how long a gap near the end of a table is waited for: a writer's transaction still open
_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "fail", "RUNNING": "running", "WAITING": "waiting"}


@dataclass(frozen=True)
class LiveCursor:
    """The last epoch row, intermediate value and trial record sent."""

    epoch_id: int = 0
    value_id: int = 0
    run_id: int = 0

    def token(self) -> str:
        return f"{self.epoch_id}-{self.value_id}-{self.run_id}"

    @classmethod
    def parse(cls, text: str) -> LiveCursor:
        """A cursor from an event id (``Last-Event-ID``); :class:`ConfigError` when it is not one."""
        parts = text.strip().split("-")
        if len(parts) != 3 or not all(p.isdigit() and len(p) <= 18 for p in parts):
            raise ConfigError(f"Last-Event-ID: must be an event id of this stream, three numbers "
                              f"'E-V-R', got {text[:40]!r}; reconnect without it to start from now")
        return cls(*(int(p) for p in parts))


@dataclass(frozen=True)
class LiveEvent:
    """One event of the stream: ``kind`` is ``epoch``, ``progress`` or ``trial``; ``cursor`` follows it."""

    kind: str
    data: dict[str, Any]
    cursor: LiveCursor


@dataclass
class _Keyset:
    """One primary key's progress past the cursor: a gap near the end waited for (up to ``settle_s``),
    and the ids above it sent."""

    settle_s: float
    sent: set[int] = field(default_factory=set)
    gap: tuple[int, float] | None = None  # the first missing id, and when it was first seen missing

    def fresh(self, ids: list[int]) -> list[bool]:
        """Which of ``ids`` (read above the cursor) were not sent yet."""
        return [i not in self.sent for i in ids]

    def advance(self, cursor: int, ids: list[int], *, at_end: bool) -> int:
        """The cursor to read from next, ``ids`` (ascending, above ``cursor``) having been sent: past them all,
        unless ``at_end`` and an id missing among them may still be committed (missing for under ``settle_s``)."""
        now = time.monotonic()
        expected = cursor + 1
        for i in ids:
            if i != expected and at_end:  # ids expected..i-1 are not visible (yet)
                if self.gap is None or self.gap[0] != expected:
                    self.gap = (expected, now)
                if now - self.gap[1] < self.settle_s:
                    self.sent = {j for j in self.sent if j >= expected} | {j for j in ids if j >= expected}
                    return expected - 1
            expected = i + 1
        self.gap = None
        self.sent = {j for j in self.sent if j >= expected}
        return expected - 1


class LiveFeed:
    """The new rows of one study, polled by keyset (see the module docstring)."""

    def __init__(self, engine: Engine, study: str, *, batch: int = 500, settle_s: float = SETTLE_S) -> None:
        self.engine = engine
        self.batch = batch
        self._epoch_keys, self._value_keys = _Keyset(settle_s), _Keyset(settle_s)
        self.queries = 0  # how many SQL statements this feed ran (the stream's database load)
        with session_scope(engine) as s:
            found = s.execute(select(o_studies.c.study_id).where(o_studies.c.study_name == study)).scalar()
        if found is None:
            raise StudyNotFoundError(f"study: no study named {study!r} in {mask_url(str(engine.url))!r}; "
                                     f"see the names with GET /api/studies")
        self.study_id: int = found
        self._ours = False

    def tail(self) -> LiveCursor:
        """The cursor past everything stored now (a new client starts here)."""
        ours = self._has_ours()
        with session_scope(self.engine) as s:
            self.queries += 3 if ours else 1
            value_id = s.execute(select(func.max(_values.c.trial_intermediate_value_id))).scalar() or 0
            if not ours:
                return LiveCursor(0, value_id, 0)
            epoch_id = s.execute(select(func.max(EpochRow.id))).scalar() or 0
            run_id = s.execute(select(func.max(RunRow.id))).scalar() or 0
        return LiveCursor(epoch_id, value_id, run_id)

    def poll(self, cursor: LiveCursor) -> tuple[list[LiveEvent], LiveCursor]:
        """The events stored after ``cursor`` (progress, then epochs, then trials: the order they are
        written), and the cursor to poll from next (past the rows read, the study's or not)."""
        ours = self._has_ours()
        with session_scope(self.engine) as s:
            events, value_id = self._progress(s, cursor)
            epoch_id, run_id = cursor.epoch_id, cursor.run_id
            if ours:
                epochs, epoch_id, full = self._epochs(s, cursor)
                events += epochs
                if not full:  # a trial's event only once all its epochs are sent
                    trials = self._trials(s, cursor)
                    events += trials
                    run_id = trials[-1].cursor.run_id if trials else run_id
        events = _chain(cursor, events)
        return events, LiveCursor(epoch_id, value_id, run_id)

    def _has_ours(self) -> bool:
        if not self._ours:  # the tables appear once: a sweep creates them when it starts
            self.queries += 1
            self._ours = inspect(self.engine).has_table(EpochRow.__tablename__)
        return self._ours

    # The next ``batch`` rows by primary key (the window), then their study through the owner's
    # primary key: the plan every database picks for this shape reads the window and nothing more.

    def _epochs(self, s: Any, cursor: LiveCursor) -> tuple[list[LiveEvent], int, bool]:
        self.queries += 1
        e = EpochRow.__table__.c
        win = (select(e.id, e.run_id, e.fold, e.epoch, e.train_loss, e.val_loss, e.val_metric, e.lr)
               .where(e.id > cursor.epoch_id).order_by(e.id).limit(self.batch).subquery())
        rows = s.execute(
            select(win, RunRow.study_id, RunRow.trial_number).outerjoin(RunRow, RunRow.id == win.c.run_id)
            .order_by(win.c.id)
        ).all()
        ours = (self.study_id, training_study_id(self.study_id))  # a finished trial's run, or a training one's
        ids = [int(r.id) for r in rows]
        full = len(rows) == self.batch
        out = [LiveEvent("epoch", {"trial": r.trial_number, "fold": r.fold, "epoch": r.epoch + 1,
                                   "train_loss": r.train_loss, "val_loss": r.val_loss, "val_metric": r.val_metric,
                                   "lr": r.lr}, replace(cursor, epoch_id=r.id))
               for r, new in zip(rows, self._epoch_keys.fresh(ids))
               if new and r.study_id in ours and r.trial_number is not None]
        return out, self._epoch_keys.advance(cursor.epoch_id, ids, at_end=not full), full

    def _progress(self, s: Any, cursor: LiveCursor) -> tuple[list[LiveEvent], int]:
        self.queries += 1
        v = _values.c
        win = (select(v.trial_intermediate_value_id.label("id"), v.trial_id, v.step, v.intermediate_value)
               .where(v.trial_intermediate_value_id > cursor.value_id).order_by(v.trial_intermediate_value_id)
               .limit(self.batch).subquery())
        rows = s.execute(
            select(win, o_trials.c.study_id, o_trials.c.number)
            .outerjoin(o_trials, o_trials.c.trial_id == win.c.trial_id).order_by(win.c.id)
        ).all()
        ids = [int(r.id) for r in rows]
        out = [LiveEvent("progress", {"trial": r.number, "epoch": r.step + 1, "value": r.intermediate_value},
                         replace(cursor, value_id=r.id))
               for r, new in zip(rows, self._value_keys.fresh(ids)) if new and r.study_id == self.study_id]
        return out, self._value_keys.advance(cursor.value_id, ids, at_end=len(rows) < self.batch)

    def _trials(self, s: Any, cursor: LiveCursor) -> list[LiveEvent]:
        self.queries += 1
        values = o_trial_values.alias("v")
        rows = s.execute(
            select(RunRow.id, o_trials.c.number, trial_state, values.c.value)
            .join(o_trials, o_trials.c.trial_id == RunRow.trial_id)
            .outerjoin(values, and_(values.c.trial_id == RunRow.trial_id, values.c.objective == 0))
            .where(RunRow.id > cursor.run_id, RunRow.study_id == self.study_id, RunRow.trial_id.is_not(None))
            .order_by(RunRow.id).limit(self.batch)
        ).all()
        out: list[LiveEvent] = []
        for run_id, number, state, value in rows:
            if state in ("RUNNING", "WAITING"):  # stored, not yet told: wait, keeping the order
                break
            cursor = replace(cursor, run_id=run_id)
            out.append(LiveEvent("trial", {"trial": number, "state": _STATES.get(state, str(state).lower()),
                                           "value": value}, cursor))
        return out


def _chain(cursor: LiveCursor, events: list[LiveEvent]) -> list[LiveEvent]:
    """Each event's cursor covers every event before it (the three keysets were read separately)."""
    out = []
    for ev in events:
        c = ev.cursor
        cursor = LiveCursor(max(cursor.epoch_id, c.epoch_id), max(cursor.value_id, c.value_id),
                            max(cursor.run_id, c.run_id))
        out.append(replace(ev, cursor=cursor))
    return out
