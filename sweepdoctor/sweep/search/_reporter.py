"""The measuring helper's way to the study: it writes each epoch's value itself."""

from __future__ import annotations

import logging
import math
from typing import Any

from sweepdoctor.sweep.search._storage import optuna_storage

__all__ = ["StudyReporter"]

logger = logging.getLogger(__name__)


class StudyReporter:
    """Writes epochs' values to the study from the measuring helper (the engine's ``Reporter``).

    The helper builds it from a pickled ``functools.partial(StudyReporter, url)``.

    Any failure (the database away, the trial failed by another worker meanwhile) leaves
    the value unwritten, and the sweep reports it itself, with its retries and checks.
    """

    def __init__(self, url: str) -> None:
        self._storage: Any = None
        try:
            self._storage = optuna_storage(url)
        except Exception as e:  # noqa: BLE001 - the sweep's process reports instead
            logger.debug("measuring process: cannot open the study's storage: %s", e)

    def report(self, trial_id: int, epoch: int, value: float) -> bool:
        if self._storage is None or not math.isfinite(value):
            return False
        try:
            self._storage.set_trial_intermediate_value(trial_id, epoch, value)
        except Exception as e:  # noqa: BLE001 - the sweep's process reports it instead
            logger.debug("measuring process: epoch %d of trial id %d not reported: %s", epoch, trial_id, e)
            return False
        return True
