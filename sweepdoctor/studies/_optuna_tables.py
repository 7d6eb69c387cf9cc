"""Read-only views of Optuna's own tables (we read them; only Optuna writes them).

Lightweight ``table()`` constructs: they declare the columns we read and create
nothing. Names follow ``optuna/storages/_rdb/models.py``.
"""

from __future__ import annotations

from sqlalchemy import column, table

__all__ = [
    "o_studies",
    "o_study_directions",
    "o_study_user_attrs",
    "o_trial_params",
    "o_trial_user_attrs",
    "o_trial_values",
    "o_trials",
]

o_studies = table("studies", column("study_id"), column("study_name"))
o_study_directions = table("study_directions", column("study_id"), column("direction"), column("objective"))
o_study_user_attrs = table(
    "study_user_attributes", column("study_id"), column("key"), column("value_json")
)
o_trials = table(
    "trials",
    column("trial_id"),
    column("number"),
    column("study_id"),
    column("state"),
    column("datetime_start"),
    column("datetime_complete"),
)
o_trial_values = table("trial_values", column("trial_id"), column("objective"), column("value"), column("value_type"))
o_trial_params = table(
    "trial_params",
    column("trial_id"),
    column("param_name"),
    column("param_value"),
    column("distribution_json"),
)
o_trial_user_attrs = table("trial_user_attributes", column("trial_id"), column("key"), column("value_json"))
