"""What ``studies doctor`` finds: the health of a study that several workers share.

States are Optuna's in lower case, as in the other study records. Nothing here prints;
:class:`DoctorReport` renders itself for rich.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.text import Text

from sweepdoctor.diagnostics.view import FittedTable
from sweepdoctor.studies.doctor._process import WorkerProcess

__all__ = ["LIVE_GRACE_FACTOR", "DoctorReport", "RunningTrial", "WorkerSeen"]

# A silent trial whose process still runs on this machine is taken over after this many grace
# periods (90 s with the defaults, the former grace), not one.
LIVE_GRACE_FACTOR = 6


class RunningTrial(NamedTuple):
    """A trial in state RUNNING, with its worker, how long ago it last sent a heartbeat and,
    when its worker ran on this machine, whether that process still runs."""

    trial_id: int
    number: int
    worker: str | None  # host:pid, None for a trial not started by a sweepdoctor worker
    heartbeat_age_s: float | None  # None: no heartbeat ever recorded
    process: WorkerProcess | None = None  # recorded by the worker that claimed it
    process_running: bool | None = None  # True/False: seen on this machine; None: cannot tell from here

    @property
    def process_gone(self) -> bool:
        """Its worker ran on this machine and no longer runs."""
        return self.process_running is False

    def is_stale(self, grace_s: float, *, orphans: bool = False) -> bool:
        """Whether its worker is lost: its process ran on this machine and is gone (now, whatever
        the heartbeat), or no heartbeat for longer than ``grace_s`` (or the worker's own longer
        grace); with ``orphans``, also a trial that never sent one.

        A process seen running on this machine gets :data:`LIVE_GRACE_FACTOR` times that: a
        busy machine must not cost live trials, yet a long-lived process (a notebook) whose
        sweep ended without finishing a trial still gives it up.
        """
        if self.process_gone:
            return True
        if self.heartbeat_age_s is None:
            return orphans
        own = self.process.grace_s if self.process is not None and self.process.grace_s is not None else 0.0
        limit = max(grace_s, own) * (LIVE_GRACE_FACTOR if self.process_running else 1)
        return self.heartbeat_age_s > limit

    def to_dict(self) -> dict[str, Any]:
        doc = self._asdict()
        doc["process"] = None if self.process is None else self.process.to_json()
        doc["process_gone"] = self.process_gone
        return doc


class WorkerSeen(NamedTuple):
    """One worker (``host:pid``) and what its trials became."""

    worker: str
    states: Mapping[str, int]

    @property
    def n_trials(self) -> int:
        return sum(self.states.values())

    def to_dict(self) -> dict[str, Any]:
        return {"worker": self.worker, "n_trials": self.n_trials, "states": dict(self.states)}


@dataclass(frozen=True)
class DoctorReport:
    """Trials by state, running trials and their heartbeats, workers seen, curves that do not match."""

    study: str
    storage: str  # masked
    grace_s: float
    states: Mapping[str, int]
    retried: int  # failed trials that were queued again
    running: tuple[RunningTrial, ...]
    workers: tuple[WorkerSeen, ...]
    missing_curves: tuple[int, ...] | None = None  # complete/pruned trials without our curves; None: no tables
    stray_curves: tuple[int, ...] = ()  # trials with curves stored as finished while Optuna says otherwise
    failed_now: tuple[int, ...] = field(default=())  # trials this run of the doctor failed (--fail-stale)

    @property
    def stale(self) -> tuple[RunningTrial, ...]:
        """Running trials whose heartbeat is older than the grace period, or that never sent one."""
        return tuple(t for t in self.running if t.is_stale(self.grace_s, orphans=True))

    @property
    def budget_used(self) -> int:
        """Trials that count against ``--trials``: all except failed ones that were retried."""
        return sum(self.states.values()) - self.retried

    @property
    def healthy(self) -> bool:
        return not self.stale and not self.missing_curves and not self.stray_curves

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "storage": self.storage,
            "grace_s": self.grace_s,
            "states": dict(self.states),
            "budget_used": self.budget_used,
            "retried": self.retried,
            "running": [t.to_dict() for t in self.running],
            "stale": [t.number for t in self.stale],
            "process_gone": [t.number for t in self.running if t.process_gone],
            "workers": [w.to_dict() for w in self.workers],
            "missing_curves": None if self.missing_curves is None else list(self.missing_curves),
            "stray_curves": list(self.stray_curves),
            "failed_now": list(self.failed_now),
            "healthy": self.healthy,
        }

    def __rich__(self) -> RenderableType:
        parts: list[RenderableType] = [self._headline()]
        if self.running:
            parts.append(self._running_table())
        if self.workers:
            parts.append(self._workers_table())
        parts.extend(self._problems())
        return Group(*parts)

    def _headline(self) -> Text:
        counts = ", ".join(f"{n} {s}" for s, n in self.states.items() if n) or "no trials"
        text = Text.assemble((f"study {self.study}", "bold"), f" in {self.storage}: {counts}")
        text.append(f"; {self.budget_used} count against --trials")
        if self.retried:
            text.append(f" ({self.retried} failed trial(s) were retried)")
        return text

    def _running_table(self) -> FittedTable:
        rows: list[list[str | Text]] = []
        for t in self.running:
            age = "never" if t.heartbeat_age_s is None else f"{t.heartbeat_age_s:.0f} s ago"
            rows.append([str(t.number), escape(t.worker or "-"), age, self._flag(t)])
        return FittedTable(["trial", "worker", "last heartbeat", ""], rows, justify=["right", "left", "right", "left"],
                           title="running trials")

    def _flag(self, t: RunningTrial) -> Text:
        if t.process_gone:
            return Text("worker process gone", style="red")
        if t.is_stale(self.grace_s, orphans=True):
            return Text("stale", style="red")
        return Text("alive (process running)" if t.process_running else "alive", style="green")

    def _workers_table(self) -> FittedTable:
        states = ("complete", "pruned", "fail", "running")
        rows = [[escape(w.worker), str(w.n_trials), *(str(w.states.get(s, 0)) for s in states)] for w in self.workers]
        return FittedTable(["worker", "trials", *states], rows, justify=["left"] + ["right"] * 5, title="workers seen")

    def _problems(self) -> list[RenderableType]:
        out: list[RenderableType] = []
        if self.failed_now:
            out.append(Text(f"failed {len(self.failed_now)} stale trial(s) now: {_nums(self.failed_now)} "
                            "(retries queued; a running or resumed sweep picks them up)", style="yellow"))
        gone = [t for t in self.stale if t.process_gone]
        if gone:
            out.append(Text(f"worker process gone: trial(s) {_nums(t.number for t in gone)} ran in "
                            f"{', '.join(sorted({t.worker or '?' for t in gone}))}, which no longer run(s). Fail them "
                            "with --fail-stale (a running sweep does it by itself)", style="red"))
        silent = [t for t in self.stale if not t.process_gone]
        if silent:
            out.append(Text(f"stale: trial(s) {_nums(t.number for t in silent)} have had no heartbeat for more "
                            f"than {self.grace_s:.0f} s; their worker is gone. Fail them with --fail-stale "
                            "(a running sweep does it by itself)", style="red"))
        if self.missing_curves:
            out.append(Text(f"finished trial(s) without stored curves: {_nums(self.missing_curves)}", style="red"))
        if self.stray_curves:
            out.append(Text(f"curves stored as finished for trial(s) Optuna does not count as finished: "
                            f"{_nums(self.stray_curves)}", style="red"))
        if self.missing_curves is None:
            out.append(Text("no sweepdoctor tables in this database (a plain Optuna study): curves not checked"))
        if self.healthy and not self.failed_now:
            out.append(Text("healthy: no stale trials, curves match the trials", style="green"))
        return out


def _nums(numbers: Any) -> str:
    return ", ".join(str(n) for n in numbers)
