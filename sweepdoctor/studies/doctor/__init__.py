"""The doctors of a stored study: the health of its workers, the diagnosis of its curves.

``examine_study`` reads how the workers that share a study are doing (``studies
doctor``) into a :class:`DoctorReport` that renders itself; :class:`WorkerProcess` is
the process a worker records with each trial it claims, so that a dead worker on the
same machine is seen at once; ``run_stored`` and ``mark_run_abandoned`` are the two
writes to our tables that workers need.
``diagnose_study`` runs :func:`sweepdoctor.diagnostics.diagnose` over a stored study
and stores its findings in place of the old ones, under the study's lock.

May import: SQLAlchemy, rich, the ``db`` room (through ``sweepdoctor.studies.db``),
``sweepdoctor.diagnostics`` (public names) and ``sweepdoctor.errors``. Never the
``query`` room; no other room imports this one.
"""

from __future__ import annotations

from sweepdoctor.studies.doctor._diagnosis import diagnose_study
from sweepdoctor.studies.doctor._examine import (
    WORKER_ATTR,
    examine_study,
    mark_run_abandoned,
    run_stored,
    running_trials,
)
from sweepdoctor.studies.doctor._process import PROCESS_ATTR, WorkerProcess
from sweepdoctor.studies.doctor._report import DoctorReport, RunningTrial, WorkerSeen

__all__ = [
    "PROCESS_ATTR",
    "WORKER_ATTR",
    "DoctorReport",
    "RunningTrial",
    "WorkerProcess",
    "WorkerSeen",
    "diagnose_study",
    "examine_study",
    "mark_run_abandoned",
    "run_stored",
    "running_trials",
]
