"""Which Python driver opens a database URL, and the one line that says how to install a missing one.

A URL without a driver (``postgresql://``, ``mysql://``, ``mariadb://``) means SQLAlchemy's
default driver: psycopg 3 for PostgreSQL (SQLAlchemy 2.1), mysqlclient for MySQL and
MariaDB. Our extras install psycopg 3 and psycopg2 (``[postgres]``) and PyMySQL
(``[mysql]``; mysqlclient needs a C compiler and the client headers). So a bare URL is
opened with SQLAlchemy's default driver when it is installed, else with the one our
extra installs; both :func:`~sweepdoctor.studies.db.make_engine` and Optuna's storage
get the URL from :func:`~sweepdoctor.studies.db.check_url`, so they always agree.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from sweepdoctor.errors import StorageError

__all__ = ["EXTRAS", "resolve_driver"]

# The extra that installs a driver for each kind of database.
EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
# For a URL without a driver: the drivers our extra installs, tried after SQLAlchemy's default.
_OURS = {"postgresql": ("psycopg", "psycopg2"), "mysql": ("pymysql",), "mariadb": ("pymysql",)}


def resolve_driver(url: URL, *, shown: str) -> URL:
    """``url``, with a driver that is installed; :class:`StorageError` naming the extra when none is.

    ``shown`` is the URL as the user wrote it, password masked (for the message).
    """
    backend = url.get_backend_name()
    if "+" in url.drivername or backend not in _OURS:
        missing = _missing(url)
        if missing is None:
            return url
        raise StorageError(_message(url, shown, missing))
    default = url.get_dialect().driver
    first_error: str | None = None
    for driver in (default, *(d for d in _OURS[backend] if d != default)):
        candidate = url if driver == default else url.set(drivername=f"{backend}+{driver}")
        missing = _missing(candidate)
        if missing is None:
            return candidate
        first_error = first_error or missing
    raise StorageError(_message(url, shown, first_error or "no driver"))


def _missing(url: URL) -> str | None:
    """None when the URL's driver imports; else why not (the ImportError's text)."""
    try:
        url.get_dialect().import_dbapi()
    except ImportError as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


def _message(url: URL, shown: str, why: str) -> str:
    backend, driver = url.get_backend_name(), url.get_driver_name()
    extra = EXTRAS.get(backend)
    bare = "+" not in url.drivername
    what = f"a {backend} driver and none is installed" if bare else f"the {driver} driver, which is not installed"
    if extra is not None and (bare or driver in _OURS[backend]):
        fix = f"pip install 'sweepdoctor[{extra}]'"
    elif extra is not None:
        fix = f"pip install {_PIP.get(driver, driver)}, or drop '+{driver}' and pip install 'sweepdoctor[{extra}]'"
    else:
        fix = f"pip install {_PIP.get(driver, driver)}"
    return f"storage: {shown!r} needs {what} ({why}); {fix}"


# Where a driver's pip name is not its SQLAlchemy name.
_PIP = {"mysqldb": "mysqlclient", "psycopg": "'psycopg[binary]'", "psycopg2": "psycopg2-binary"}
