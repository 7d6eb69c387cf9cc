"""Sweeps submitted to the service (``sd_sweeps``): stored so that agents on any host can run them.

A submitted sweep is its TOML text, its trial budget and, optionally, the CSV file its
data comes from (the bytes, so an agent needs nothing but the database). Its state:

- ``queued``: submitted, no agent has taken it yet;
- ``running``: an agent took it (several agents share one sweep: Optuna's distributed
  mode, with the exact budget the sweep's coordinator guarantees);
- ``done``: an agent saw its budget spent; ``stopped``: stopped by a user (agents stop
  its trials after the epoch and take no more); ``failed``: an agent could not run it
  (``message`` says why).

Every value reaches the database as a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, delete, func, inspect, select, update
from sqlalchemy.exc import SQLAlchemyError

from sweepdoctor.errors import DuplicatedSweepError, StorageError, SweepNotFoundError
from sweepdoctor.studies.db._concurrency import retry_concurrent_create
from sweepdoctor.studies.db._engine import mask_url, session_scope
from sweepdoctor.studies.db._schema import Base, SweepRow

__all__ = [
    "SWEEP_STATES",
    "SubmittedSweep",
    "delete_sweep",
    "finish_sweep",
    "get_sweep",
    "list_sweeps",
    "next_sweep",
    "stop_sweep",
    "submit_sweep",
    "sweep_csv",
]

SWEEP_STATES = ("queued", "running", "done", "stopped", "failed")
_ACTIVE = ("queued", "running")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class SubmittedSweep:
    """One row of ``sd_sweeps`` without its CSV bytes (read them with :func:`sweep_csv`)."""

    name: str
    state: str
    trials: int
    config: str
    csv_name: str | None
    csv_bytes: int | None
    message: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        """Agents still work on it (queued or running)."""
        return self.state in _ACTIVE

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "trials": self.trials,
            "config": self.config,
            "csv_name": self.csv_name,
            "csv_bytes": self.csv_bytes,
            "message": self.message,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


_COLUMNS = (
    SweepRow.name,
    SweepRow.state,
    SweepRow.trials,
    SweepRow.config,
    SweepRow.csv_name,
    SweepRow.message,
    SweepRow.created_at,
    SweepRow.updated_at,
)


def _select() -> Any:
    # the CSV's length, not its bytes: a listing must not read megabytes
    return select(*_COLUMNS, func.length(SweepRow.csv).label("csv_bytes"))


def _record(r: Any) -> SubmittedSweep:
    return SubmittedSweep(
        name=r.name, state=r.state, trials=int(r.trials), config=r.config, csv_name=r.csv_name,
        csv_bytes=None if r.csv_bytes is None else int(r.csv_bytes), message=r.message,
        created_at=r.created_at, updated_at=r.updated_at,
    )


def _ensure_table(engine: Engine) -> None:
    try:
        retry_concurrent_create(lambda: Base.metadata.create_all(engine, tables=[SweepRow.__table__]))  # type: ignore[list-item]
    except Exception as e:  # noqa: BLE001 - any driver error: say which database
        raise StorageError(f"storage: cannot create table sd_sweeps in {mask_url(str(engine.url))!r}: {e}") from e


def _has_table(engine: Engine) -> bool:
    """Reading never creates the table: a read-only server on a database without it sees no sweeps."""
    try:
        with engine.connect() as c:
            return bool(inspect(c).has_table(SweepRow.__tablename__))
    except SQLAlchemyError as e:  # the first contact: the server down, a wrong password
        reason = (str(getattr(e, "orig", None) or e).strip().splitlines() or [type(e).__name__])[0]
        raise StorageError(f"storage: cannot reach {mask_url(str(engine.url))!r}: {mask_url(reason)}") from e


def submit_sweep(
    engine: Engine, *, name: str, config: str, trials: int, csv: bytes | None = None, csv_name: str | None = None
) -> SubmittedSweep:
    """Store a new submitted sweep (state ``queued``). A name already submitted is a :class:`DuplicatedSweepError`."""
    _ensure_table(engine)
    with session_scope(engine) as s:
        taken = s.execute(select(SweepRow.id).where(SweepRow.name == name)).first()
        if taken is not None:
            raise DuplicatedSweepError(
                f"sweep: a sweep named {name!r} was already submitted; choose another study.name"
            )
        s.add(SweepRow(name=name, state="queued", trials=trials, config=config, csv=csv,
                       csv_name=csv_name if csv is not None else None))
    return get_sweep(engine, name)


def get_sweep(engine: Engine, name: str) -> SubmittedSweep:
    """The submitted sweep ``name``; a :class:`SweepNotFoundError` when there is none."""
    row = None
    if _has_table(engine):
        with session_scope(engine) as s:
            row = s.execute(_select().where(SweepRow.name == name)).first()
    if row is None:
        raise SweepNotFoundError(f"storage: no submitted sweep named {name!r} (submit it with POST /api/sweeps)")
    return _record(row)


def list_sweeps(engine: Engine, *, states: tuple[str, ...] = ()) -> list[SubmittedSweep]:
    """Submitted sweeps, oldest first (only those in ``states`` when given)."""
    if not _has_table(engine):
        return []
    q = _select()
    if states:
        q = q.where(SweepRow.state.in_(list(states)))
    with session_scope(engine) as s:
        return [_record(r) for r in s.execute(q.order_by(SweepRow.created_at, SweepRow.id))]


def sweep_csv(engine: Engine, name: str) -> bytes | None:
    """The CSV bytes submitted with sweep ``name`` (``None`` when it came without a file)."""
    if not _has_table(engine):
        return None
    with session_scope(engine) as s:
        return s.execute(select(SweepRow.csv).where(SweepRow.name == name)).scalar_one_or_none()


def next_sweep(engine: Engine, *, name: str | None = None) -> SubmittedSweep | None:
    """The oldest sweep that agents still work on (or ``name`` if it is one), marked ``running``.

    Not exclusive: several agents take the same sweep and share its trials.
    """
    for sweep in list_sweeps(engine, states=_ACTIVE):
        if name is not None and sweep.name != name:
            continue
        if sweep.state == "queued":
            with session_scope(engine) as s:
                s.execute(
                    update(SweepRow)
                    .where(SweepRow.name == sweep.name, SweepRow.state == "queued")
                    .values(state="running", updated_at=_now())
                )
            return get_sweep(engine, sweep.name)
        return sweep
    return None


def _set_state(engine: Engine, name: str, state: str, *, only_from: tuple[str, ...], message: str | None) -> bool:
    if not _has_table(engine):
        return False
    with session_scope(engine) as s:
        done = s.execute(
            update(SweepRow)
            .where(SweepRow.name == name, SweepRow.state.in_(list(only_from)))
            .values(state=state, message=message, updated_at=_now())
        )
        return bool(getattr(done, "rowcount", 0))


def stop_sweep(engine: Engine, name: str) -> SubmittedSweep:
    """Mark sweep ``name`` stopped: agents stop its trials after the epoch and take no more."""
    get_sweep(engine, name)  # a missing sweep is an error
    _set_state(engine, name, "stopped", only_from=_ACTIVE, message="stopped by a user")
    return get_sweep(engine, name)


def finish_sweep(engine: Engine, name: str, *, failed: str | None = None) -> bool:
    """An agent's last word on a sweep: ``done`` (budget spent) or ``failed`` with the reason.

    A stopped or already finished sweep keeps its state; returns whether it changed.
    """
    state = "done" if failed is None else "failed"
    return _set_state(engine, name, state, only_from=_ACTIVE, message=failed)


def delete_sweep(engine: Engine, name: str) -> bool:
    """Forget the submitted sweep ``name`` (its study is deleted separately); returns whether there was one."""
    if not _has_table(engine):
        return False
    with session_scope(engine) as s:
        return bool(getattr(s.execute(delete(SweepRow).where(SweepRow.name == name)), "rowcount", 0))
