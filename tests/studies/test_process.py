"""A worker's process, recorded with its trials: on the same machine a dead one is known at once;
a pid given to another process since, a zombie, another machine are told apart."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sweepdoctor.studies import RunningTrial, WorkerProcess

linux = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")


def _child() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


@linux
def test_this_process_runs_and_round_trips_through_json() -> None:
    me = WorkerProcess.this(grace_s=15.0)
    assert me.started is not None and me.machine is not None and me.running() is True
    assert WorkerProcess.from_json(me.to_json()) == me


@linux
def test_a_dead_a_zombie_and_a_reused_pid_are_gone() -> None:
    me = WorkerProcess.this()
    child = _child()
    try:
        alive = replace(me, pid=child.pid, started=_start_of(child.pid))
        assert alive.running() is True
        child.send_signal(signal.SIGKILL)
        _wait_zombie(child.pid)
        assert alive.running() is False  # killed, not reaped yet: a zombie is gone too
    finally:
        child.kill()
        child.wait()
    assert alive.running() is False  # reaped: no such pid
    assert replace(me, started=me.started + 1).running() is False  # type: ignore[operator]  # pid reused


def test_another_machine_or_no_record_cannot_be_told() -> None:
    me = WorkerProcess.this()
    assert replace(me, host="elsewhere").running() is None
    assert replace(me, machine="another-boot/pid:[1]").running() is None  # same name, other kernel or container
    assert replace(me, started=None).running() is None
    assert WorkerProcess.from_json({"host": "h"}) is None and WorkerProcess.from_json("h:1") is None
    assert WorkerProcess.from_json({"host": "h", "pid": 1}) == WorkerProcess("h", 1, None, None, None)


def test_staleness_process_first_then_heartbeat() -> None:
    def trial(age: float | None, running: bool | None, own_grace: float | None = None) -> RunningTrial:
        process = WorkerProcess("h", 1, 1, "m", own_grace)
        return RunningTrial(1, 0, "h:1", age, process, running)

    assert trial(0.5, False).is_stale(15) and trial(0.5, False).process_gone  # gone: now, whatever the heartbeat
    assert not trial(20.0, True).is_stale(15) and trial(91.0, True).is_stale(15)  # running here: six graces
    assert trial(20.0, None).is_stale(15) and not trial(10.0, None).is_stale(15)  # elsewhere: the heartbeat
    assert not trial(20.0, None, own_grace=60).is_stale(15)  # nor before the worker's own longer grace
    assert trial(None, None).is_stale(15, orphans=True) and not trial(None, None).is_stale(15)
    assert trial(0.5, False).to_dict()["process"]["pid"] == 1


def _start_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2:].split()[19])


def _wait_zombie(pid: int) -> None:
    for _ in range(200):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rfind(")") + 2:].split()[0] == "Z":
            return
        time.sleep(0.05)
    raise AssertionError("the child did not exit")
