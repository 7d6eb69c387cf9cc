"""Early verdicts: whether a trial cut at some epoch will recover (the diagnosis pruner's rules).

Pure, like the rest of ``diagnostics``: curves or reported values in, a :class:`Stop`
(a finding code, the epoch, a confidence and a reason) or ``None`` out.
``judge_curves`` reads every fold's training loss, gradient norm and validation metric
(what a sweep records); ``judge_values`` reads one reported value per epoch and the
study's complete trials (what a plain Optuna study has). ``sweepdoctor.sweep``'s
``DoctorPruner`` is the Optuna side.

May import: the standard library and the parent's findings and history types
(``sweepdoctor.diagnostics._findings``, ``_history``), ``sweepdoctor.errors``.
"""

from __future__ import annotations

from sweepdoctor.diagnostics.early._curve_rules import judge_curves
from sweepdoctor.diagnostics.early._rules import Stop, StopRules
from sweepdoctor.diagnostics.early._value_rules import FinishedRun, judge_values

__all__ = ["FinishedRun", "Stop", "StopRules", "judge_curves", "judge_values"]
