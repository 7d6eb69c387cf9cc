"""Studies: the database (our tables beside Optuna's), its queries and export.

This package owns the ``sd_*`` schema and every query: it stores the curves a sweep
hands it, turns them back into the :class:`~sweepdoctor.diagnostics.History` objects
that diagnostics reads, answers the ``studies`` commands (list, show, trials, best,
compare, curves, export, delete), stores findings (``diagnose_study``), and keeps
several workers on one study apart (``StudyLock``, ``examine_study``).

It may import SQLAlchemy, Optuna (whose own tables it reads directly and through its
API), rich (tables and charts that render themselves; it never prints), matplotlib
(lazily, for PNG charts), ``sweepdoctor.diagnostics`` (its public names only) and
``sweepdoctor.errors``; never ``sweepdoctor.sweep`` nor ``sweepdoctor.cli``.
"""

from __future__ import annotations

from sweepdoctor.studies._catalog import DeleteReport
from sweepdoctor.studies._concurrency import StudyLock, describe_error, is_transient, retry_concurrent_create
from sweepdoctor.studies._detail import IMPORTANCE_TRIALS
from sweepdoctor.studies._diagnosis import diagnose_study
from sweepdoctor.studies._doctor import WORKER_ATTR, examine_study, mark_run_abandoned, run_stored, running_trials
from sweepdoctor.studies._doctor_report import DoctorReport, RunningTrial, WorkerSeen
from sweepdoctor.studies._engine import (
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
from sweepdoctor.studies._export import (
    EXPORT_FORMAT,
    dumps_json,
    jsonable,
    study_document,
    write_curves_csv,
    write_trials_csv,
)
from sweepdoctor.studies._plot import CurveChart, importance_bars, write_curves_png
from sweepdoctor.studies._query import StudyDB
from sweepdoctor.studies._records import (
    CurvePoint,
    Curves,
    FoldSpread,
    GroupBest,
    Importance,
    StudyDetail,
    StudySummary,
    TrialPage,
    TrialRecord,
    ValueStats,
)
from sweepdoctor.studies._render import (
    best_table,
    compare_table,
    detail_view,
    studies_table,
    trials_table,
)
from sweepdoctor.studies._store import Store
from sweepdoctor.studies._trials import STATES
from sweepdoctor.studies._where import Condition, Op, SortKey, parse_sort, parse_where

__all__ = [
    "DEFAULT_STORAGE",
    "SQLITE_BUSY_TIMEOUT_S",
    "STORAGE_ENV",
    "Store",
    "check_url",
    "default_storage",
    "make_engine",
    "mask_url",
    "session_scope",
    "sqlite_write_ahead",
    # queries
    "EXPORT_FORMAT",
    "IMPORTANCE_TRIALS",
    "STATES",
    "Condition",
    "CurveChart",
    "CurvePoint",
    "Curves",
    "DeleteReport",
    "FoldSpread",
    "GroupBest",
    "Importance",
    "Op",
    "SortKey",
    "StudyDB",
    "StudyDetail",
    "StudySummary",
    "TrialPage",
    "TrialRecord",
    "ValueStats",
    "best_table",
    "compare_table",
    "detail_view",
    "dumps_json",
    "importance_bars",
    "jsonable",
    "parse_sort",
    "parse_where",
    "studies_table",
    "study_document",
    "trials_table",
    "write_curves_csv",
    "write_curves_png",
    "write_trials_csv",
    # several workers on one study
    "DoctorReport",
    "RunningTrial",
    "StudyLock",
    "WORKER_ATTR",
    "WorkerSeen",
    "describe_error",
    "diagnose_study",
    "examine_study",
    "is_transient",
    "mark_run_abandoned",
    "retry_concurrent_create",
    "run_stored",
    "running_trials",
]
