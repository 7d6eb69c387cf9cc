"""Shared fixtures: database servers for the tests that need them.

PostgreSQL (127.0.0.1:5432, user postgres) and MariaDB/MySQL (127.0.0.1:3306, root)
are used when they answer. Tests that need one are skipped when it does not, unless
``SWEEPDOCTOR_REQUIRE_SERVERS=1`` (set by ``.ci/run``), which turns the skip into a
failure. Each test gets a fresh, uniquely named database, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get("SWEEPDOCTOR_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN_URL = os.environ.get("SWEEPDOCTOR_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")
REQUIRE_SERVERS = os.environ.get("SWEEPDOCTOR_REQUIRE_SERVERS") == "1"
# Sweeps in tests measure their epochs in place: a measuring process per sweep costs ~2 s
# of start-up, and the tests already keep both cores busy (pytest -n 2). The tests of the
# measuring process (tests/sweep/test_measurer.py) ask for it explicitly.
os.environ.setdefault("SWEEPDOCTOR_OVERLAP_EVAL", "0")


def _unavailable(what: str, err: Exception) -> None:
    msg = f"{what} is not reachable: {str(err).splitlines()[0]}"
    if REQUIRE_SERVERS:
        pytest.fail(msg + " (SWEEPDOCTOR_REQUIRE_SERVERS=1)")
    pytest.skip(msg)


def _fresh_database(admin_url: str, what: str, quote: str) -> Iterator[str]:
    name = f"sd_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        with admin.connect() as c:
            c.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    except Exception as e:  # noqa: BLE001 - any driver error means "server not usable"
        _unavailable(what, e)
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as c:
            if what == "PostgreSQL":
                c.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                )
            c.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}"))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database URL."""
    yield from _fresh_database(PG_ADMIN_URL, "PostgreSQL", '"')


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh MariaDB/MySQL database URL."""
    yield from _fresh_database(MYSQL_ADMIN_URL, "MariaDB/MySQL", "`")


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    """A fresh SQLite file URL."""
    return f"sqlite:///{tmp_path}/study.db"  # type: ignore[str-format]


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def any_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """The same test over SQLite, PostgreSQL and MariaDB (Optuna's storage-suite idea)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/study.db"
    elif request.param == "postgres":
        yield from _fresh_database(PG_ADMIN_URL, "PostgreSQL", '"')
    else:
        yield from _fresh_database(MYSQL_ADMIN_URL, "MariaDB/MySQL", "`")
