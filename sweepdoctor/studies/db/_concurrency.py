"""Several workers, one database: a per-study lock, and telling passing faults from real ones.

:class:`StudyLock` is held for milliseconds by a worker that decides and claims its
next trial (so a study never runs more trials than asked, however many workers race
for the last one), fails stale trials (so a dead worker's trial is retried exactly
once) or rewrites study-wide rows. It is released with its connection or process, so a
worker that dies while holding it blocks nobody:

- PostgreSQL: a session advisory lock, ``pg_try_advisory_lock(LOCK_CLASS, study_id)``
  (advisory locks are scoped to the database).
- MySQL/MariaDB: ``GET_LOCK('sweepdoctor:<database>:<study_id>', 0)`` (server-wide
  names, hence the database in the name).
- SQLite: ``flock`` on a file beside the database, ``<file>.sweepdoctor-lock``, one
  for all the studies in the file (SQLite serializes writers anyway). SQLite is one
  machine's file, so a lock local to that machine is the whole story.
- Anything else (or SQLite in memory, or no ``fcntl``): no lock between processes;
  :attr:`StudyLock.exclusive` is then False and one worker per study is the rule.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from sweepdoctor.errors import StorageError
from sweepdoctor.studies.db._engine import mask_url

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_CLASS", "LockTimeoutError", "StudyLock", "describe_error", "is_transient", "retry_concurrent_create"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

LOCK_CLASS = 0x5D0C  # first key of PostgreSQL's two-key advisory lock: "this is sweepdoctor's"
LOCK_TIMEOUT_S = 300.0  # the holder keeps it for milliseconds; this long means something is stuck


class LockTimeoutError(StorageError):
    """The study lock stayed taken for longer than the timeout."""


class StudyLock:
    """An exclusive lock on one study, shared by every worker on every host (not re-entrant)."""

    def __init__(self, engine: Engine, study_id: int, *, timeout_s: float = LOCK_TIMEOUT_S) -> None:
        self._engine = engine
        self._study_id = study_id
        self._timeout = timeout_s
        self._backend = engine.url.get_backend_name()
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None
        self._held = False
        db = engine.url.database or ""
        on_disk = self._backend == "sqlite" and db not in ("", ":memory:")
        self._path = Path(f"{db}.sweepdoctor-lock") if on_disk else None
        name = f"sweepdoctor:{db}:{study_id}"
        self._mysql_name = name if len(name) <= 64 else "sweepdoctor:" + hashlib.sha1(name.encode()).hexdigest()

    @property
    def exclusive(self) -> bool:
        """Whether the lock keeps out other processes (not only other code in this one)."""
        if self._backend in ("postgresql", "mysql", "mariadb"):
            return True
        return self._path is not None and fcntl is not None

    def __enter__(self) -> StudyLock:
        if not self.exclusive:
            return self
        deadline = time.monotonic() + self._timeout
        pause = 0.005
        while not self._try_acquire():
            if time.monotonic() >= deadline:
                self._release()  # close the file or connection we tried with
                raise LockTimeoutError(
                    f"storage: waited {self._timeout:.0f} s for the lock of study id {self._study_id}; "
                    "another worker holds it (is one stuck? `sweepdoctor studies doctor` shows the workers)"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        self._held = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()

    def _try_acquire(self) -> bool:
        if self._path is not None:
            return self._try_flock()
        if self._conn is None:
            # Not AUTOCOMMIT: the pool would reset the isolation level when the connection goes
            # back, a round trip outside SQLAlchemy's error handling that fails on a cut
            # connection. The locks are the session's, so committing keeps them.
            try:
                self._conn = self._engine.connect()
            except SQLAlchemyError as e:
                raise StorageError(f"storage: cannot take the study lock: {describe_error(e)}") from e
        try:
            got = self._conn.execute(*self._statement(acquire=True)).scalar()
            self._conn.commit()
        except SQLAlchemyError as e:
            self._drop_connection()
            raise StorageError(f"storage: cannot take the study lock: {describe_error(e)}") from e
        return bool(got)

    def _try_flock(self) -> bool:
        assert self._path is not None and fcntl is not None
        if self._file is None:
            try:
                self._file = self._path.open("ab")
            except OSError as e:
                raise StorageError(f"storage: cannot open the lock file {str(self._path)!r}: {e.strerror}") from None
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the flock
            self._file = None
        if self._conn is None:
            return
        try:
            if self._held:
                self._conn.execute(*self._statement(acquire=False))
                self._conn.commit()
        except SQLAlchemyError as e:
            # The session is gone, and the lock with it; make sure the pool never reuses it.
            logger.warning("could not release the study lock (%s); dropping its connection", describe_error(e))
            self._drop_connection()
            return
        self._conn.close()
        self._conn = None
        self._held = False

    def _statement(self, *, acquire: bool) -> tuple[TextClause, dict[str, Any]]:
        if self._backend == "postgresql":
            fn = "pg_try_advisory_lock" if acquire else "pg_advisory_unlock"
            return text(f"SELECT {fn}(:c, :s)"), {"c": LOCK_CLASS, "s": self._study_id}
        return text("SELECT GET_LOCK(:n, 0)" if acquire else "SELECT RELEASE_LOCK(:n)"), {"n": self._mysql_name}

    def _drop_connection(self) -> None:
        self._held = False
        if self._conn is not None:
            self._conn.invalidate()
            self._conn.close()
            self._conn = None


# What drivers say when the server is away, restarting or busy (PostgreSQL, MySQL/MariaDB, SQLite).
_TRANSIENT_TEXT = re.compile(
    r"connect|connection|gone away|server closed|shutdown|shutting down|starting up|recovery mode|terminating"
    r"|database is locked|table is locked|deadlock|lock wait timeout|timed out|timeout|ssl syscall|eof detected",
    re.IGNORECASE,
)


def is_transient(e: BaseException) -> bool:
    """Whether ``e`` is the database going away or being busy (worth retrying), not a real error.

    Looks through the chain (Optuna and our session scope wrap the driver's error). An
    operational error counts only when it reads like one of those (a missing table or
    a bad query is an operational error too, and retrying it would only delay the
    message).
    """
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, LockTimeoutError):
            return False
        if isinstance(cur, (InterfaceError, DisconnectionError, PoolTimeoutError)):
            return True
        if isinstance(cur, DBAPIError) and cur.connection_invalidated:
            return True
        if isinstance(cur, OperationalError) and _TRANSIENT_TEXT.search(str(cur.orig or cur)):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def retry_concurrent_create(create: Callable[[], T], *, attempts: int = 6) -> T:
    """Run ``create`` (which opens the database and creates tables if missing); retry when
    another process won that race, or when the connection dropped meanwhile.

    Workers that start together on an empty database all try to create the same tables
    (Optuna's and ours); the losers get "already exists" errors. Once the winner is done
    the tables exist and the next try only checks for them. A connection cut while a
    worker starts (a server restarting) is worth a few more tries too.
    """
    for attempt in range(attempts):
        try:
            return create()
        except Exception as e:
            lost_race = isinstance(e, SQLAlchemyError) and _lost_create_race(e)
            if attempt == attempts - 1 or not (lost_race or is_transient(e)):
                raise
            why = "tables were being created by another worker" if lost_race else "the connection dropped"
            logger.info("%s (%s); trying again", why, describe_error(e))
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _lost_create_race(e: SQLAlchemyError) -> bool:
    if isinstance(e, (IntegrityError, ProgrammingError)):
        return True  # PostgreSQL: duplicate pg_type row or "relation already exists"
    orig = getattr(e, "orig", None)
    code = orig.args[0] if orig is not None and getattr(orig, "args", None) else None
    return isinstance(e, OperationalError) and (code == 1050 or "already exists" in str(orig))  # MySQL 1050


def describe_error(e: BaseException) -> str:
    """One line saying what the database said (the driver's message when there is one, in the chain)."""
    cur: BaseException | None = e
    for _ in range(10):  # a chain is short; never follow a cycle
        if cur is None or isinstance(cur, SQLAlchemyError):
            break
        cur = cur.__cause__ or cur.__context__
    found = cur if isinstance(cur, SQLAlchemyError) else e
    msg = str(getattr(found, "orig", None) or found).strip()
    return mask_url(msg.splitlines()[0]) if msg else type(found).__name__
