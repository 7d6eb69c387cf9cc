"""Studies: the database (our tables beside Optuna's), its queries and export."""

from __future__ import annotations

from sweepdoctor.studies._engine import (
    DEFAULT_STORAGE,
    STORAGE_ENV,
    check_url,
    default_storage,
    make_engine,
    mask_url,
    session_scope,
)
from sweepdoctor.studies._store import Store

__all__ = [
    "DEFAULT_STORAGE",
    "STORAGE_ENV",
    "Store",
    "check_url",
    "default_storage",
    "make_engine",
    "mask_url",
    "session_scope",
]
