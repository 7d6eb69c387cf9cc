"""Views of a diagnosis that a person reads: the study in a minute, one trial in depth.

``StudySummary(report)`` is the short study report (one table grouped by main
finding, where in the search space, the three most useful actions);
``TrialDetail(report, name)`` shows one run's findings with all their evidence, a
per-fold table and its curves beside the references; ``write_curves_png`` draws the
same curves to a PNG (matplotlib, loaded on use). Rich renderables: nothing prints.

May import: the standard library, rich, the parent's modules (``_report``,
``_findings``, ``_curves``, ``_grading``, ``_history``, ``_study``), ``sweepdoctor.errors``
and, inside ``write_curves_png``, matplotlib. Nothing in ``diagnostics`` imports this room.
"""

from __future__ import annotations

from sweepdoctor.diagnostics.view._actions import actions
from sweepdoctor.diagnostics.view._charts import curve_rows, write_curves_png
from sweepdoctor.diagnostics.view._detail import TrialDetail, fold_table
from sweepdoctor.diagnostics.view._fit import FittedTable, fit_widths, fitted_table, longest_word
from sweepdoctor.diagnostics.view._lines import evidence_line, run_label, score_of
from sweepdoctor.diagnostics.view._summary import StudySummary, severity_counts

__all__ = [
    "FittedTable",
    "StudySummary",
    "TrialDetail",
    "actions",
    "curve_rows",
    "evidence_line",
    "fit_widths",
    "fitted_table",
    "fold_table",
    "longest_word",
    "run_label",
    "score_of",
    "severity_counts",
    "write_curves_png",
]
