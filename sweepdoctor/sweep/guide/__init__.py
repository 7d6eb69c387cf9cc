"""Guided search: the diagnosis of the trials so far re-plans the search space between rounds.

Pure functions: trial outcomes (parameters, scores and finding codes) and the current
:class:`~sweepdoctor.sweep.config.SearchSpace` in, a proposed space and the reason for
every edit out (:func:`plan_round`). Tested without training. May import:
:mod:`sweepdoctor.diagnostics` (finding codes), :mod:`sweepdoctor.errors` and the
``config`` room; never torch, Optuna, the database or the ``search``/``engine`` rooms.
"""

from __future__ import annotations

from sweepdoctor.sweep.guide._plan import Edit, GuideLimits, Plan, TrialOutcome, plan_round
from sweepdoctor.sweep.guide._probes import Probe, optuna_params, repair_probes
from sweepdoctor.sweep.guide._rounds import latest_space, round_entry
from sweepdoctor.sweep.guide._suggest import Suggestion, suggest_next
from sweepdoctor.sweep.guide._toml import space_toml

__all__ = [
    "Edit",
    "GuideLimits",
    "Plan",
    "Probe",
    "Suggestion",
    "TrialOutcome",
    "latest_space",
    "optuna_params",
    "plan_round",
    "repair_probes",
    "round_entry",
    "space_toml",
    "suggest_next",
]
