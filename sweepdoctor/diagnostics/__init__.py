"""Diagnostics: training histories in, findings out (pure; no Optuna, no database).

``diagnose(history)`` applies the rules of ``rules.md`` (shipped in this package;
``rule_doc(code)`` reads one) to every run and to the study and returns a
:class:`Report` that renders itself with rich (nothing here prints);
``hessian_analysis(model, loss_fn, X, y)`` looks at the loss surface of a live model.
A :class:`History` reads and writes the ``sweepdoctor.history/1`` JSON format.

What it may import: the standard library, numpy, rich (for rendering reports),
``sweepdoctor.errors`` (the one exception root), and scipy and torch only for the
Hessian (the ``hessian/`` room), loaded on first use of
``hessian_analysis``/``top_eigenvalue``. Never Optuna,
SQLAlchemy or sweepdoctor's other packages (``sweep``, ``studies``, ``cli``): they
import this one.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from sweepdoctor.diagnostics._diagnose import diagnose
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._history import (
    FORMAT,
    EpochRecord,
    FoldHistory,
    History,
    Role,
    RunHistory,
    RunState,
    Task,
    finite_or_none,
)
from sweepdoctor.diagnostics._report import Report, RunReport
from sweepdoctor.diagnostics._rulebook import RuleDoc, rule_doc, rule_docs, rules_text
from sweepdoctor.diagnostics._study import Pattern
from sweepdoctor.diagnostics._thresholds import Thresholds
from sweepdoctor.diagnostics.hessian import HessianReport, PointKind, hessian_findings
from sweepdoctor.diagnostics.view import StudySummary, TrialDetail, write_curves_png

if _typing.TYPE_CHECKING:
    from sweepdoctor.diagnostics.hessian import hessian_analysis, top_eigenvalue

# The Hessian analysis needs torch, which takes seconds to import: load it on first
# use so that reading histories and stored studies stays fast (PEP 562).
_LAZY = {"hessian_analysis": "sweepdoctor.diagnostics.hessian", "top_eigenvalue": "sweepdoctor.diagnostics.hessian"}


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        return getattr(_importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

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
    "RuleDoc",
    "RunHistory",
    "RunState",
    "RunReport",
    "Severity",
    "StudySummary",
    "Task",
    "Thresholds",
    "TrialDetail",
    "diagnose",
    "hessian_analysis",
    "hessian_findings",
    "rule_doc",
    "rule_docs",
    "rules_text",
    "top_eigenvalue",
    "write_curves_png",
    "finite_or_none",
]
