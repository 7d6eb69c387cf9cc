"""Read-only views of Optuna's own tables (we read them; only Optuna writes them).

Lightweight ``table()`` constructs: they declare the columns we read and create
nothing. Names follow ``optuna/storages/_rdb/models.py``. Columns carry types so that
every backend hands back the same Python values (SQLite would return dates as text).

Optuna stores enums by member name (``COMPLETE``, ``MINIMIZE``, ``FINITE``); on
PostgreSQL they are native enum types, so comparisons go through :data:`trial_state`,
a text cast that any driver can bind a string against.
"""

from __future__ import annotations

from sqlalchemy import DateTime, Float, Integer, String, Text, cast, column, table

__all__ = [
    "OPTUNA_STATES",
    "o_studies",
    "o_study_directions",
    "o_study_user_attrs",
    "o_trial_intermediate_values",
    "o_trial_params",
    "o_trial_user_attrs",
    "o_trial_values",
    "o_trials",
    "trial_state",
]

# Optuna's TrialState member names, in the order its enum declares them.
OPTUNA_STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")

o_studies = table("studies", column("study_id", Integer), column("study_name", String))
o_study_directions = table(
    "study_directions", column("study_id", Integer), column("direction", String), column("objective", Integer)
)
o_study_user_attrs = table(
    "study_user_attributes", column("study_id", Integer), column("key", String), column("value_json", Text)
)
o_trials = table(
    "trials",
    column("trial_id", Integer),
    column("number", Integer),
    column("study_id", Integer),
    column("state", String),
    column("datetime_start", DateTime),
    column("datetime_complete", DateTime),
)
o_trial_values = table(
    "trial_values",
    column("trial_id", Integer),
    column("objective", Integer),
    column("value", Float),
    column("value_type", String),
)
o_trial_params = table(
    "trial_params",
    column("trial_id", Integer),
    column("param_name", String),
    column("param_value", Float),
    column("distribution_json", Text),
)
o_trial_user_attrs = table(
    "trial_user_attributes", column("trial_id", Integer), column("key", String), column("value_json", Text)
)
o_trial_intermediate_values = table(
    "trial_intermediate_values",
    column("trial_id", Integer),
    column("step", Integer),
    column("intermediate_value", Float),
)

# The trial's state as text (PostgreSQL stores a native enum; psycopg 3 binds str as varchar).
trial_state = cast(o_trials.c.state, String(16))
