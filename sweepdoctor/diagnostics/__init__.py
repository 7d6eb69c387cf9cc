"""Diagnostics: training histories in, findings out (pure; no Optuna, no database)."""

from __future__ import annotations

from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._history import (
    FORMAT,
    EpochRecord,
    FoldHistory,
    History,
    Role,
    RunHistory,
    Task,
)

__all__ = [
    "FORMAT",
    "EpochRecord",
    "Finding",
    "FindingCode",
    "FoldHistory",
    "History",
    "Role",
    "RunHistory",
    "Severity",
    "Task",
]
