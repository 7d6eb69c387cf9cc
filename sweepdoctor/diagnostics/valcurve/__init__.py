"""The validation curve alone: the findings a run without a training curve supports.

A plain Optuna study (only ``trial.report`` values) and a run recorded without a
training loss are diagnosed here: divergence, oscillation, a loss that never moved, a
loss still falling at the end; each finding names the evidence it lacks
(``evidence["missing"]``) and how to add it. Pure, like the rest of ``diagnostics``.
"""

from __future__ import annotations

from sweepdoctor.diagnostics.valcurve._rules import HOW_TO_ADD, ValEvidence, has_train_curve, val_findings

__all__ = ["HOW_TO_ADD", "ValEvidence", "has_train_curve", "val_findings"]
