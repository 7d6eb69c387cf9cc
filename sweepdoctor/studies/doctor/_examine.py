"""Reading the health of a shared study, and the two writes to our tables that workers need.

Optuna's tables are read, never written here. A trial's worker is its ``worker`` user
attribute (``host:pid``, set by the sweep runner); its liveness is Optuna's
``trial_heartbeats`` row, refreshed by the worker while it trains. Ages are measured on
the database's clock, the one that wrote the heartbeats, so hosts' clocks never matter.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Engine, Integer, String, Text, column, func, inspect, select, table, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import TableClause

from sweepdoctor.diagnostics import RunState
from sweepdoctor.errors import StudyNotFoundError
from sweepdoctor.studies.db import RunRow, mask_url, o_studies, o_trial_user_attrs, o_trials, session_scope, trial_state
from sweepdoctor.studies.doctor._process import PROCESS_ATTR, WorkerProcess
from sweepdoctor.studies.doctor._report import DoctorReport, RunningTrial, WorkerSeen

__all__ = [
    "WORKER_ATTR",
    "examine_study",
    "mark_run_abandoned",
    "run_stored",
    "running_trials",
]

WORKER_ATTR = "worker"  # trial user attribute: the host:pid that ran the trial

o_trial_heartbeats = table("trial_heartbeats", column("trial_id", Integer), column("heartbeat", DateTime))
o_trial_system_attrs = table(
    "trial_system_attributes", column("trial_id", Integer), column("key", String), column("value_json", Text)
)
_FINISHED_OK = ("COMPLETE", "PRUNED")


def running_trials(engine: Engine, study_id: int) -> list[RunningTrial]:
    """The study's RUNNING trials with their worker and heartbeat age (database clock)."""
    with session_scope(engine) as s:
        return _running(s, study_id)


def run_stored(engine: Engine, trial_id: int) -> bool:
    """Whether our curves of this trial are stored (``sd_runs`` has its row)."""
    with session_scope(engine) as s:
        return s.execute(select(RunRow.id).where(RunRow.trial_id == trial_id)).first() is not None


def mark_run_abandoned(engine: Engine, trial_id: int, reason: str) -> None:
    """Our stored run of a trial that another worker failed meanwhile: say so, keep the curves."""
    with session_scope(engine) as s:
        s.execute(update(RunRow).where(RunRow.trial_id == trial_id).values(state=RunState.FAIL.value,
                                                                           fail_reason=reason))


def examine_study(engine: Engine, name: str, *, grace_s: float, failed_now: Sequence[int] = ()) -> DoctorReport:
    """States, running trials and heartbeats, workers seen, and whether our curves match the trials."""
    url = mask_url(engine.url.render_as_string(hide_password=True))
    ours = inspect(engine).has_table(RunRow.__tablename__)
    with session_scope(engine) as s:
        study_id = s.execute(select(o_studies.c.study_id).where(o_studies.c.study_name == name)).scalar()
        if study_id is None:
            raise StudyNotFoundError(
                f"storage: no study named {name!r} in {url!r}; `sweepdoctor studies list` shows them"
            )
        trials = s.execute(
            select(o_trials.c.trial_id, o_trials.c.number, trial_state.label("state")).where(
                o_trials.c.study_id == study_id
            )
        ).all()
        ids = [t.trial_id for t in trials]
        workers = _user_attr(s, ids, WORKER_ATTR)
        retried = _retried(s, ids)
        running = _running(s, study_id)
        missing: tuple[int, ...] | None = None
        stray: tuple[int, ...] = ()
        if ours:
            missing, stray = _curve_mismatches(s, study_id, trials)
    order = ("complete", "pruned", "fail", "running", "waiting")
    counts = Counter(t.state.lower() for t in trials)
    by_worker: dict[str, Counter[str]] = defaultdict(Counter)
    for t in trials:
        if t.trial_id in workers:
            by_worker[workers[t.trial_id]][t.state.lower()] += 1
    return DoctorReport(
        study=name,
        storage=url,
        grace_s=grace_s,
        states={k: counts.get(k, 0) for k in order},
        retried=retried,
        running=tuple(running),
        workers=tuple(WorkerSeen(w, dict(c)) for w, c in sorted(by_worker.items())),
        missing_curves=missing,
        stray_curves=stray,
        failed_now=tuple(failed_now),
    )


def _db_now(s: Session) -> datetime:
    now = s.execute(select(func.now())).scalar()
    if isinstance(now, str):  # SQLite without a declared type
        now = datetime.fromisoformat(now)
    assert isinstance(now, datetime)
    # PostgreSQL answers with a time zone and stores heartbeats without one, in the
    # session's zone: drop it, as Optuna does (optuna/storages/_rdb/storage.py).
    return now.replace(tzinfo=None)


def _running(s: Session, study_id: int) -> list[RunningTrial]:
    now = _db_now(s)
    rows = s.execute(
        select(o_trials.c.trial_id, o_trials.c.number, o_trial_heartbeats.c.heartbeat)
        .select_from(o_trials.outerjoin(o_trial_heartbeats, o_trial_heartbeats.c.trial_id == o_trials.c.trial_id))
        .where(o_trials.c.study_id == study_id, trial_state == "RUNNING")
        .order_by(o_trials.c.number)
    ).all()
    ids = [r.trial_id for r in rows]
    workers = _user_attr(s, ids, WORKER_ATTR)
    processes = {tid: WorkerProcess.from_json(doc) for tid, doc in _attr(s, o_trial_system_attrs, ids,
                                                                         PROCESS_ATTR).items()}
    out = []
    for r in rows:
        process = processes.get(r.trial_id)
        out.append(RunningTrial(
            trial_id=r.trial_id,
            number=r.number,
            worker=workers.get(r.trial_id),
            heartbeat_age_s=None if r.heartbeat is None else max(0.0, (now - r.heartbeat).total_seconds()),
            process=process,
            process_running=None if process is None else process.running(),
        ))
    return out


def _user_attr(s: Session, trial_ids: Sequence[int], key: str) -> dict[int, Any]:
    return _attr(s, o_trial_user_attrs, trial_ids, key)


def _attr(s: Session, attrs: TableClause, trial_ids: Sequence[int], key: str) -> dict[int, Any]:
    """One user or system attribute of these trials, by trial id (trials without it left out)."""
    if not trial_ids:
        return {}
    rows = s.execute(
        select(attrs.c.trial_id, attrs.c.value_json).where(attrs.c.trial_id.in_(list(trial_ids)), attrs.c.key == key)
    ).all()
    return {r.trial_id: json.loads(r.value_json) for r in rows}


def _retried(s: Session, trial_ids: Sequence[int]) -> int:
    """Failed trials that were queued again (in some retry's ``retry_history``, Optuna's format)."""
    if not trial_ids:
        return 0
    rows = s.execute(
        select(o_trial_system_attrs.c.value_json).where(
            o_trial_system_attrs.c.trial_id.in_(list(trial_ids)), o_trial_system_attrs.c.key == "retry_history"
        )
    ).scalars()
    return len({n for v in rows for n in json.loads(v)})


def _curve_mismatches(s: Session, study_id: int, trials: Sequence[Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    stored = dict(
        s.execute(
            select(RunRow.trial_id, RunRow.state).where(RunRow.study_id == study_id, RunRow.trial_id.is_not(None))
        ).all()
    )
    missing = tuple(sorted(t.number for t in trials if t.state in _FINISHED_OK and t.trial_id not in stored))
    stray = tuple(
        sorted(
            t.number
            for t in trials
            if stored.get(t.trial_id) in ("complete", "pruned") and t.state not in _FINISHED_OK
        )
    )
    return missing, stray
