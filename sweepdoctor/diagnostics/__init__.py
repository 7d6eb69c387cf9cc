"""Diagnostics: training histories in, findings out (pure; no Optuna, no database).

``diagnose(history)`` applies the rules of RULES.md to every run and to the study;
``hessian_analysis(model, loss_fn, X, y)`` looks at the loss surface of a live model.
"""

from __future__ import annotations

from sweepdoctor.diagnostics._diagnose import Report, RunReport, diagnose
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._hessian import hessian_analysis, top_eigenvalue
from sweepdoctor.diagnostics._hessian_report import HessianReport, PointKind, hessian_findings
from sweepdoctor.diagnostics._history import (
    FORMAT,
    EpochRecord,
    FoldHistory,
    History,
    Role,
    RunHistory,
    Task,
)
from sweepdoctor.diagnostics._study import Pattern
from sweepdoctor.diagnostics._thresholds import Thresholds

__all__ = [
    "FORMAT",
    "EpochRecord",
    "Finding",
    "FindingCode",
    "FoldHistory",
    "HessianReport",
    "History",
    "Pattern",
    "PointKind",
    "Report",
    "Role",
    "RunHistory",
    "RunReport",
    "Severity",
    "Task",
    "Thresholds",
    "diagnose",
    "hessian_analysis",
    "hessian_findings",
    "top_eigenvalue",
]
