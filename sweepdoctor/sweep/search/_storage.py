"""Optuna's storage for a study URL: the same URL rules as our own engine, a lock timeout for SQLite."""

from __future__ import annotations

from typing import Any

import optuna
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from sweepdoctor.errors import StorageError
from sweepdoctor.studies import (
    SQLITE_BUSY_TIMEOUT_S,
    check_url,
    mask_url,
    retry_concurrent_create,
    sqlite_write_ahead,
)

__all__ = ["optuna_storage"]


def optuna_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage for ``url``, with a lock timeout for SQLite.

    It opens the URL :func:`~sweepdoctor.studies.check_url` returns (a bare ``postgresql://``
    or ``mysql://`` gets the installed driver), as our own engine does.
    """
    resolved = check_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if make_url(resolved).get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    try:
        # Workers starting together on an empty database race to create Optuna's tables.
        storage = retry_concurrent_create(lambda: optuna.storages.RDBStorage(resolved, engine_kwargs=kwargs))
        sqlite_write_ahead(storage.engine)  # a commit per report/attribute: make them cheap
        return storage
    except (SQLAlchemyError, optuna.exceptions.StorageInternalError, ImportError, ValueError, RuntimeError) as e:
        first = str(getattr(e, "orig", None) or e).strip().splitlines()
        raise StorageError(
            f"storage: cannot open {mask_url(url)!r}: {mask_url(first[0]) if first else type(e).__name__}"
        ) from e
