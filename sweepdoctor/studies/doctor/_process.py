"""Which process trains a trial, and whether it still runs: a dead worker on this machine is seen at once.

A worker records :class:`WorkerProcess` with each trial it claims (a trial system
attribute, :data:`PROCESS_ATTR`): host, pid, the process's start time and the machine
it runs on. Any process on the same machine can then tell for sure whether that worker
still runs (:meth:`WorkerProcess.running`): the pid exists, is no zombie, and started
when the worker did, so a pid the system gave to another process since does not count
as the worker. On another machine nothing can be told (None), and the heartbeat decides.

Linux only, through ``/proc``: ``/proc/<pid>/stat`` field 22 is the process's start time
in clock ticks since boot; the machine is the boot id with the pid namespace (two
containers with one hostname and the same kernel have separate pids). Elsewhere no
machine is recorded, and the heartbeat decides everywhere.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PROCESS_ATTR", "WorkerProcess"]

PROCESS_ATTR = "sweepdoctor:worker_process"  # trial system attribute: the process that claimed the trial
_PROC = Path("/proc")


@dataclass(frozen=True)
class WorkerProcess:
    """A worker process, as recorded with a trial it claimed."""

    host: str
    pid: int
    started: int | None  # start time in clock ticks since boot (None: not known on this system)
    machine: str | None  # boot id and pid namespace: processes that may compare pids (None: not known)
    grace_s: float | None = None  # the worker's own heartbeat grace: it is not stale before this

    @classmethod
    def this(cls, *, grace_s: float | None = None, proc: Path = _PROC) -> WorkerProcess:
        """The calling process."""
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _start_ticks(proc, pid), _machine(proc), grace_s)

    @classmethod
    def from_json(cls, doc: Any) -> WorkerProcess | None:
        """The record stored with a trial; None when there is none or it is not one of ours."""
        if not isinstance(doc, dict) or not isinstance(doc.get("pid"), int) or not isinstance(doc.get("host"), str):
            return None
        started, machine, grace = doc.get("started"), doc.get("machine"), doc.get("grace_s")
        return cls(
            host=doc["host"],
            pid=doc["pid"],
            started=started if isinstance(started, int) else None,
            machine=machine if isinstance(machine, str) else None,
            grace_s=float(grace) if isinstance(grace, (int, float)) and not isinstance(grace, bool) else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "started": self.started, "machine": self.machine,
                "grace_s": self.grace_s}

    def running(self, *, proc: Path = _PROC) -> bool | None:
        """True: this process still runs; False: it is gone for sure; None: cannot tell from here."""
        if self.machine is None or self.started is None or self.host != socket.gethostname():
            return None
        if _machine(proc) != self.machine:
            return None  # another machine or container with the same name: its pids are not ours
        return _start_ticks(proc, self.pid) == self.started  # gone, a zombie or another process: not it


def _start_ticks(proc: Path, pid: int) -> int | None:
    """``/proc/<pid>/stat`` field 22 (start time); None when there is no such (live) process."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ... ": comm may hold spaces and parentheses, so split after the last ')'.
    rest = stat[stat.rfind(")") + 2:].split()
    if len(rest) < 20 or rest[0] in ("Z", "X"):  # a zombie has exited: only its exit status is left
        return None
    try:
        return int(rest[19])  # field 22; rest[0] is field 3
    except ValueError:
        return None


def _machine(proc: Path) -> str | None:
    """The boot id and pid namespace of this process; None without ``/proc``."""
    try:
        boot = (proc / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
        pidns = os.readlink(proc / "self" / "ns" / "pid")
    except OSError:
        return None
    return f"{boot}/{pidns}"
