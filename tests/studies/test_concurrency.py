"""The study lock, and telling a database that went away from a real error."""

from __future__ import annotations

import optuna
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from sweepdoctor.errors import StorageError
from sweepdoctor.studies import make_engine
from sweepdoctor.studies.db._concurrency import LockTimeoutError, StudyLock, is_transient, retry_concurrent_create


def test_the_lock_keeps_out_other_connections(any_url: str) -> None:
    a, b = make_engine(any_url), make_engine(any_url)
    try:
        with StudyLock(a, 7) as held:
            assert held.exclusive
            with pytest.raises(LockTimeoutError, match="waited 0 s for the lock of study id 7"):
                with StudyLock(b, 7, timeout_s=0.2):
                    pass
            if not any_url.startswith("sqlite"):  # SQLite: one lock for the file (writes are serial anyway)
                with StudyLock(b, 8, timeout_s=0.2):  # another study: not blocked
                    pass
        with StudyLock(b, 7, timeout_s=0.2):  # released
            pass
    finally:
        a.dispose()
        b.dispose()


def test_in_memory_sqlite_has_no_lock_between_processes() -> None:
    engine = make_engine("sqlite://")
    with StudyLock(engine, 1) as lock:
        assert not lock.exclusive
    engine.dispose()


@pytest.mark.parametrize("message, transient", [
    ("server closed the connection unexpectedly", True),
    ("terminating connection due to administrator command", True),
    ("(2013, 'Lost connection to MySQL server during query')", True),
    ("(2006, 'MySQL server has gone away')", True),
    ("database is locked", True),
    ("FATAL:  the database system is starting up", True),
    ("no such table: trials", False),
    ("(1054, \"Unknown column 'x' in 'field list'\")", False),
])
def test_transient_errors(message: str, transient: bool) -> None:
    err = OperationalError("SELECT 1", {}, Exception(message))
    assert is_transient(err) is transient
    try:
        raise StorageError("storage: database error") from err
    except StorageError as wrapped:
        assert is_transient(wrapped) is transient  # found through the chain
    assert not is_transient(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_transient(LockTimeoutError("storage: waited"))


def test_creating_tables_retries_a_lost_race_or_a_dropped_connection() -> None:
    calls = {"n": 0}

    def racing() -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ProgrammingError("CREATE TABLE", {}, Exception('relation "trials" already exists'))
        return "created"

    assert retry_concurrent_create(racing) == "created" and calls["n"] == 2

    cut = {"n": 0}

    def cut_once() -> str:  # Optuna wraps the driver's error when the connection drops under it
        cut["n"] += 1
        if cut["n"] == 1:
            dropped = OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from dropped
        return "created"

    assert retry_concurrent_create(cut_once) == "created" and cut["n"] == 2

    refusals = {"n": 0}

    def refused() -> None:
        refusals["n"] += 1
        raise OperationalError("connect", {}, Exception("Connection refused"))

    with pytest.raises(OperationalError):  # given up after the last try
        retry_concurrent_create(refused, attempts=2)
    assert refusals["n"] == 2

    def bad_url() -> None:
        raise ValueError("no such dialect")

    with pytest.raises(ValueError):  # a real error: no retry
        retry_concurrent_create(bad_url)


@pytest.mark.postgres
def test_a_lock_whose_connection_was_cut_is_released_quietly(pg_url: str) -> None:
    """The server ends the lock's session while it is held (a restart, an admin): leaving the lock
    raises nothing, the lock is gone with the session, and the next one is taken on a fresh connection."""
    engine = make_engine(pg_url)
    admin = make_engine(pg_url)
    try:
        with StudyLock(engine, 7) as lock:
            assert lock._conn is not None
            pid = lock._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            lock._conn.commit()
            with admin.connect() as c:
                assert c.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar()
        with StudyLock(engine, 7, timeout_s=5):
            with pytest.raises(LockTimeoutError):
                with StudyLock(admin, 7, timeout_s=0.2):
                    pass
    finally:
        engine.dispose()
        admin.dispose()

