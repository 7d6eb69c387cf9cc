"""The database itself: engines and URLs, our ``sd_*`` tables, Optuna's tables, locks.

``make_engine``/``session_scope`` open a database and scope every touch of it;
``_schema`` declares our tables (runs, folds, epochs, findings) and :class:`Store`
writes them; ``_optuna_tables`` reads Optuna's own tables (only Optuna writes them);
``StudyLock`` and the retry helpers keep several workers on one study apart;
``jsonable`` is the one JSON sanitizer, for our JSON columns and for exports.

May import: SQLAlchemy (Optuna's tables are read by SQL here, not through Optuna's
API), ``sweepdoctor.diagnostics`` (public names, for the histories and findings that
:class:`Store` writes and reads) and ``sweepdoctor.errors``. It is the lowest room of
``studies``: never ``query`` nor ``doctor``, which import it.
"""

from __future__ import annotations

from sweepdoctor.studies.db._concurrency import StudyLock, describe_error, is_transient, retry_concurrent_create
from sweepdoctor.studies.db._engine import (
    DEFAULT_STORAGE,
    SQLITE_BUSY_TIMEOUT_S,
    STORAGE_ENV,
    check_url,
    default_storage,
    make_engine,
    mask_url,
    session_scope,
    sqlite_write_ahead,
)
from sweepdoctor.studies.db._json import jsonable
from sweepdoctor.studies.db._live import LiveCursor, LiveEvent, LiveFeed
from sweepdoctor.studies.db._optuna_tables import (
    OPTUNA_STATES,
    o_studies,
    o_study_directions,
    o_study_user_attrs,
    o_trial_intermediate_values,
    o_trial_params,
    o_trial_user_attrs,
    o_trial_values,
    o_trials,
    trial_state,
)
from sweepdoctor.studies.db._schema import EpochRow, FindingRow, FoldRow, RunRow, StudyDocRow, training_study_id
from sweepdoctor.studies.db._store import GUIDED_PLAN, Store, check_writable
from sweepdoctor.studies.db._sweeps import (
    SWEEP_STATES,
    SubmittedSweep,
    delete_sweep,
    finish_sweep,
    get_sweep,
    list_sweeps,
    next_sweep,
    stop_sweep,
    submit_sweep,
    sweep_csv,
)

__all__ = [
    # engines and URLs
    "DEFAULT_STORAGE",
    "SQLITE_BUSY_TIMEOUT_S",
    "STORAGE_ENV",
    "check_url",
    "default_storage",
    "make_engine",
    "mask_url",
    "session_scope",
    "sqlite_write_ahead",
    "check_writable",
    # our tables
    "GUIDED_PLAN",
    "EpochRow",
    "FindingRow",
    "FoldRow",
    "RunRow",
    "Store",
    "StudyDocRow",
    "training_study_id",
    "jsonable",
    # what a study stored since a cursor (the service's live stream)
    "LiveCursor",
    "LiveEvent",
    "LiveFeed",
    # Optuna's tables, read only
    "OPTUNA_STATES",
    "o_studies",
    "o_study_directions",
    "o_study_user_attrs",
    "o_trial_intermediate_values",
    "o_trial_params",
    "o_trial_user_attrs",
    "o_trial_values",
    "o_trials",
    "trial_state",
    # several workers on one study
    "StudyLock",
    "describe_error",
    "is_transient",
    "retry_concurrent_create",
    # sweeps submitted to the service, for agents on any host
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
