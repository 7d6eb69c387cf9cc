"""A large study in seconds: Optuna makes the study, its trials and values are bulk-inserted.

Only what the value plot and the summaries read: trials (states, numbers, times) and their
first objective's values; no parameters or curves. ``big_study`` returns the study's best.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import optuna
from sqlalchemy import MetaData, create_engine, insert, text


def big_study(url: str, name: str, n_trials: int, *, direction: str = "minimize", seed: int = 0) -> float:
    """``n_trials`` trials (about 80% complete, the rest pruned or failed, the last one running)."""
    storage = optuna.storages.RDBStorage(url)
    sid = storage.create_new_study([optuna.study.StudyDirection[direction.upper()]], name)
    storage.set_study_user_attr(sid, "metric", "accuracy")
    storage.remove_session()
    storage.engine.dispose()
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=["trials", "trial_values"])
    trials, values = meta.tables["trials"], meta.tables["trial_values"]
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1)
    with engine.begin() as c:
        first = c.execute(trials.select().with_only_columns(trials.c.trial_id).order_by(trials.c.trial_id.desc())
                          .limit(1)).scalar_one_or_none() or 0
        trial_rows, value_rows = [], []
        for number in range(n_trials):
            r = rng.random()
            state = "RUNNING" if number == n_trials - 1 else "COMPLETE" if r < 0.8 else "PRUNED" if r < 0.95 else "FAIL"
            tid = first + number + 1
            start = t0 + timedelta(seconds=number)
            trial_rows.append({"trial_id": tid, "number": number, "study_id": sid, "state": state,
                               "datetime_start": start, "datetime_complete": None if state == "RUNNING" else start})
            if state == "COMPLETE":  # a slow drift and noise: improvements all along the study
                value_rows.append({"trial_id": tid, "objective": 0, "value_type": "FINITE",
                                   "value": 1.0 / (1 + number / 500) + rng.gauss(0, 0.2)})
        c.execute(insert(trials), trial_rows)
        c.execute(insert(values), value_rows)
        if engine.dialect.name == "postgresql":  # ids given by hand: the sequence must move past them
            c.execute(text("SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), max(trial_id)) FROM trials"))
    engine.dispose()
    done = [v["value"] for v in value_rows]
    return max(done) if direction == "maximize" else min(done)
