"""Queries and what they return: the questions the ``studies`` commands ask, answered by SQL.

:class:`StudyDB` is the one front door (list, show, trials, value series,
best, compare, curves, delete); ``_catalog`` finds and deletes studies, ``_trials``/``_where`` page and filter
trials, ``_detail``/``_curves`` summarise one study. The answers are frozen records
(``_records``) that are written out as CSV or JSON (``_export``), drawn as charts
(``_plot``, matplotlib loaded lazily for PNG) or rendered as rich tables (``_render``;
nothing here prints).

May import: SQLAlchemy, Optuna, rich, matplotlib (lazily), the ``db`` room (through
``sweepdoctor.studies.db``), ``sweepdoctor.diagnostics`` (public names) and
``sweepdoctor.errors``. Never the ``doctor`` room; no other room imports this one.
"""

from __future__ import annotations

from sweepdoctor.studies.query._catalog import DeleteReport
from sweepdoctor.studies.query._detail import IMPORTANCE_TRIALS
from sweepdoctor.studies.query._export import (
    EXPORT_FORMAT,
    dumps_json,
    study_document,
    write_curves_csv,
    write_trials_csv,
)
from sweepdoctor.studies.query._plot import CurveChart, importance_bars, write_curves_png
from sweepdoctor.studies.query._records import (
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
from sweepdoctor.studies.query._render import (
    best_table,
    compare_table,
    detail_view,
    probe_text,
    studies_table,
    trials_table,
)
from sweepdoctor.studies.query._series import ValueBucket, ValueSeries
from sweepdoctor.studies.query._study_db import StudyDB
from sweepdoctor.studies.query._trials import STATES
from sweepdoctor.studies.query._where import Condition, Op, SortKey, parse_sort, parse_where

__all__ = [
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
    "parse_sort",
    "parse_where",
    "probe_text",
    "studies_table",
    "study_document",
    "trials_table",
    "write_curves_csv",
    "write_curves_png",
    "write_trials_csv",
]
