"""Studies: the database (our tables beside Optuna's), its queries and export."""

from __future__ import annotations

from sweepdoctor.studies._catalog import DeleteReport
from sweepdoctor.studies._concurrency import StudyLock
from sweepdoctor.studies._detail import IMPORTANCE_TRIALS
from sweepdoctor.studies._doctor import examine_study
from sweepdoctor.studies._doctor_report import DoctorReport, RunningTrial, WorkerSeen
from sweepdoctor.studies._engine import (
    DEFAULT_STORAGE,
    STORAGE_ENV,
    check_url,
    default_storage,
    make_engine,
    mask_url,
    session_scope,
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
    "STORAGE_ENV",
    "Store",
    "check_url",
    "default_storage",
    "make_engine",
    "mask_url",
    "session_scope",
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
    "WorkerSeen",
    "examine_study",
]
