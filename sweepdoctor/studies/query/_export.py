"""Writing what the queries return: CSV of trials or curves, and plain JSON.

Columns follow Optuna's ``trials_dataframe`` naming (``params_lr``,
``user_attrs_mean_score``) so a spreadsheet built on one reads the other. JSON never
holds NaN or Infinity (they become ``null``, as in ``sweepdoctor.history/1``).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TextIO

from sweepdoctor.studies.db import jsonable
from sweepdoctor.studies.query._records import Curves, StudySummary, TrialPage

__all__ = ["EXPORT_FORMAT", "dumps_json", "study_document", "write_curves_csv", "write_trials_csv"]

EXPORT_FORMAT = "sweepdoctor.study/1"
_TRIAL_COLUMNS = ("number", "state", "value", "datetime_start", "datetime_complete", "duration_s")


def dumps_json(obj: Any) -> str:
    return json.dumps(jsonable(obj), indent=1, allow_nan=False)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(jsonable(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def write_trials_csv(page: TrialPage, fh: TextIO) -> int:
    """One row per trial: attributes, ``params_*``, ``user_attrs_*``, ``findings``; returns the row count."""
    params = sorted({k for t in page.trials for k in t.params})
    attrs = sorted({k for t in page.trials for k in t.user_attrs})
    writer = csv.writer(fh, lineterminator="\n")
    header = [*_TRIAL_COLUMNS, *(f"params_{p}" for p in params), *(f"user_attrs_{a}" for a in attrs), "findings"]
    writer.writerow(header)
    for t in page.trials:
        head = [t.number, t.state, t.value, t.datetime_start, t.datetime_complete, t.duration_s]
        writer.writerow(
            [
                *(_cell(x) for x in head),
                *(_cell(t.params.get(p)) for p in params),
                *(_cell(t.user_attrs.get(a)) for a in attrs),
                ";".join(t.findings),
            ]
        )
    return len(page.trials)


def write_curves_csv(curves: Curves, fh: TextIO) -> int:
    """One row per epoch: fold count, then mean/min/max of train and validation loss."""
    writer = csv.writer(fh, lineterminator="\n")
    fields = ["epoch", "n_folds", "train_mean", "train_min", "train_max", "val_mean", "val_min", "val_max"]
    writer.writerow(fields)
    for p in curves.points:
        writer.writerow([_cell(getattr(p, f)) for f in fields])
    return len(curves.points)


def study_document(summary: StudySummary, user_attrs: Mapping[str, Any], page: TrialPage) -> dict[str, Any]:
    """The ``--format json`` export: the study's summary, its user attributes and every trial."""
    return jsonable(
        {
            "format": EXPORT_FORMAT,
            "study": summary.to_dict(),
            "user_attrs": dict(user_attrs),
            "trials": [t.to_dict() for t in page.trials],
        }
    )
