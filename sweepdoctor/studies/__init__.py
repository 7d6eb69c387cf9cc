"""Studies: the database (our tables beside Optuna's), its queries and export.

This package owns the ``sd_*`` schema and every query: it stores the curves a sweep
hands it, turns them back into the :class:`~sweepdoctor.diagnostics.History` objects
that diagnostics reads, answers the ``studies`` commands (list, show, trials, best,
compare, curves, export, delete), stores findings (``diagnose_study``), and keeps
several workers on one study apart (``StudyLock``, ``examine_study``).

Rooms, one way down (checked by import-linter, see ``.importlinter``); other packages
import only this package's names, never a room:

- ``query/`` and ``doctor/``, side by side: the questions asked of a study and the
  records, exports, charts and tables that answer them (:class:`StudyDB`); the health
  of a study's workers and the diagnosis of its curves (``examine_study``,
  ``diagnose_study``);
- ``db/``: engines and URLs, our tables and their :class:`Store`, Optuna's tables read
  by SQL, locks and retries for several workers, the one JSON sanitizer.

It may import SQLAlchemy, Optuna (whose own tables it reads directly and through its
API), rich (tables and charts that render themselves; it never prints), matplotlib
(lazily, for PNG charts), ``sweepdoctor.diagnostics`` (its public names only) and
``sweepdoctor.errors``; never ``sweepdoctor.sweep`` nor ``sweepdoctor.cli``.
"""

from __future__ import annotations

from sweepdoctor.studies.db import (
    DEFAULT_STORAGE,
    GUIDED_PLAN,
    SQLITE_BUSY_TIMEOUT_S,
    STORAGE_ENV,
    SWEEP_STATES,
    Store,
    StudyLock,
    SubmittedSweep,
    check_url,
    check_writable,
    default_storage,
    delete_sweep,
    describe_error,
    finish_sweep,
    get_sweep,
    is_transient,
    jsonable,
    list_sweeps,
    make_engine,
    mask_url,
    next_sweep,
    retry_concurrent_create,
    session_scope,
    sqlite_write_ahead,
    stop_sweep,
    submit_sweep,
    sweep_csv,
)
from sweepdoctor.studies.doctor import (
    PROCESS_ATTR,
    WORKER_ATTR,
    DoctorReport,
    RunningTrial,
    WorkerProcess,
    WorkerSeen,
    diagnose_study,
    examine_study,
    mark_run_abandoned,
    run_stored,
    running_trials,
)
from sweepdoctor.studies.query import (
    EXPORT_FORMAT,
    IMPORTANCE_TRIALS,
    STATES,
    Condition,
    CurveChart,
    CurvePoint,
    Curves,
    DeleteReport,
    FoldSpread,
    GroupBest,
    Importance,
    Op,
    SortKey,
    StudyDB,
    StudyDetail,
    StudySummary,
    TrialPage,
    TrialRecord,
    ValueBucket,
    ValueSeries,
    ValueStats,
    best_table,
    compare_table,
    detail_view,
    dumps_json,
    importance_bars,
    parse_sort,
    parse_where,
    probe_text,
    studies_table,
    study_document,
    trials_table,
    write_curves_csv,
    write_curves_png,
    write_trials_csv,
)

__all__ = [
    "DEFAULT_STORAGE",
    "SQLITE_BUSY_TIMEOUT_S",
    "STORAGE_ENV",
    "GUIDED_PLAN",
    "Store",
    "check_url",
    "default_storage",
    "make_engine",
    "mask_url",
    "session_scope",
    "sqlite_write_ahead",
    "check_writable",
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
    "ValueBucket",
    "ValueSeries",
    "ValueStats",
    "best_table",
    "compare_table",
    "detail_view",
    "dumps_json",
    "importance_bars",
    "jsonable",
    "parse_sort",
    "parse_where",
    "probe_text",
    "studies_table",
    "study_document",
    "trials_table",
    "write_curves_csv",
    "write_curves_png",
    "write_trials_csv",
    # several workers on one study
    "DoctorReport",
    "PROCESS_ATTR",
    "RunningTrial",
    "StudyLock",
    "WORKER_ATTR",
    "WorkerProcess",
    "WorkerSeen",
    "describe_error",
    "diagnose_study",
    "examine_study",
    "is_transient",
    "mark_run_abandoned",
    "retry_concurrent_create",
    "run_stored",
    "running_trials",
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
