"""``sweepdoctor agent``: take submitted sweeps that still need trials and work on them, on any host.

It needs no web extra: a training host has Optuna, torch and the database driver, and
nothing of FastAPI, uvicorn or Starlette is imported here.

The agent is a small supervisor. It asks the database for the oldest sweep that agents
still work on (:func:`~sweepdoctor.studies.next_sweep`), and runs it in a child process
with :func:`sweepdoctor.sweep.run`, the sweep's TOML and CSV read back from the
database. Several agents on several hosts share a sweep through Optuna's distributed
mode: the sweep's coordinator gives out exactly the budget, keeps trials alive with
heartbeats and retries a dead worker's trial. When the child's sweep returns (budget
spent), the agent marks it done and looks for the next; with nothing to do it idles and
polls.

While the child runs, the agent watches the sweep's state: a sweep stopped through the
API gets SIGTERM in its child, which stops after the epoch (the coordinator's own stop).
SIGTERM to the agent does the same and the agent exits once its child is gone.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType

from sqlalchemy import Engine

from sweepdoctor.errors import ConfigError, DataError, NotFoundError, StorageError, SweepNotFoundError
from sweepdoctor.studies import (
    StudyDB,
    SubmittedSweep,
    finish_sweep,
    get_sweep,
    is_transient,
    list_sweeps,
    make_engine,
    mask_url,
    next_sweep,
    sweep_csv,
)
from sweepdoctor.sweep.agent._submit import UPLOAD_NAME, config_from_text, upload_path_config

__all__ = ["AgentOptions", "run_agent"]

logger = logging.getLogger(__name__)
Say = Callable[[str], None]
MAX_RETRIES = 3  # database failures in a row before an agent gives a sweep up as failed


@dataclass(frozen=True)
class AgentOptions:
    """What an agent works on and how often it looks."""

    storage: str
    sweep: str | None = None  # only this sweep; exit once it is finished
    workers: int | None = None  # worker processes per sweep on this host (the sweep's study.workers)
    poll_s: float = 5.0
    max_idle_s: float | None = None  # exit after this long with nothing to do (None: never)

    def __post_init__(self) -> None:
        if not math.isfinite(self.poll_s) or self.poll_s <= 0:
            raise ConfigError(f"--poll must be a positive, finite number of seconds, got {self.poll_s}; e.g. --poll 5")
        if self.max_idle_s is not None and (not math.isfinite(self.max_idle_s) or self.max_idle_s < 0):
            raise ConfigError(f"--max-idle must be a finite number of seconds, 0 or more, got {self.max_idle_s}; "
                              "leave it out to never stop")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")


def _child(storage: str, name: str, workers: int | None, conn: Connection) -> None:
    """The child process: run the submitted sweep ``name``; send back ``(outcome, message)``."""
    import optuna

    from sweepdoctor.sweep import search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        engine = make_engine(storage)
        submitted = get_sweep(engine, name)
        with tempfile.TemporaryDirectory(prefix="sweepdoctor-agent-") as tmp:
            data = sweep_csv(engine, name)
            csv_path = None
            if data is not None:
                csv_path = str(Path(tmp) / UPLOAD_NAME)
                Path(csv_path).write_bytes(data)
            engine.dispose()
            cfg = upload_path_config(config_from_text(submitted.config), csv_path)
            cfg = cfg.with_overrides("study", name=name, storage=storage, workers=workers)
            result = search.run(cfg)
        conn.send(("interrupted" if result.interrupted else "done", None))
    except (ConfigError, DataError) as e:  # the sweep itself is wrong: no agent can run it
        conn.send(("failed", str(e)))
    except Exception as e:  # noqa: BLE001 - the agent records why the sweep could not run
        outage = (isinstance(e, StorageError) and not isinstance(e, NotFoundError)) or is_transient(e)
        if not outage:
            logger.exception("sweep %r failed", name)
        conn.send(("retry" if outage else "failed", f"{type(e).__name__}: {e}"))  # a missing study is no outage


class _Stop:
    """SIGTERM/SIGINT: stop the child after its epoch, then leave."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.child: mp.process.BaseProcess | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> _Stop:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.event.set()
        child = self.child
        if signum == signal.SIGTERM and child is not None and child.pid is not None and child.is_alive():
            os.kill(child.pid, signal.SIGTERM)  # Ctrl-C reaches the child through the terminal itself


def _still_wanted(engine: Engine, name: str) -> bool:
    try:
        return get_sweep(engine, name).state != "stopped"
    except SweepNotFoundError:  # deleted: stop
        return False
    except StorageError:  # the database away: go on
        return True


def _work_on(sweep: SubmittedSweep, opts: AgentOptions, stop: _Stop, engine: Engine, say: Say) -> str:
    """Run ``sweep`` in a child process until it returns; its outcome: done, interrupted, failed or retry."""
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(opts.storage, sweep.name, opts.workers, send), daemon=False)
    child.start()
    stop.child = child
    say(f"working on sweep {sweep.name!r} ({sweep.trials} trials) in process {child.pid}")
    signalled = False
    while child.is_alive():
        child.join(opts.poll_s)
        if child.is_alive() and child.pid is not None and not signalled and not _still_wanted(engine, sweep.name):
            say(f"sweep {sweep.name!r} was stopped; finishing the running epoch")
            os.kill(child.pid, signal.SIGTERM)
            signalled = True
    stop.child = None
    outcome, message = recv.recv() if recv.poll() else ("failed", f"the sweep's process exited with {child.exitcode}")
    if outcome == "done":
        finish_sweep(engine, sweep.name)
        say(f"sweep {sweep.name!r}: budget spent")
    elif outcome == "failed" and not stop.event.is_set():
        finish_sweep(engine, sweep.name, failed=message)
        say(f"sweep {sweep.name!r} failed: {message}")
    elif outcome == "retry":
        say(f"sweep {sweep.name!r}: the database failed ({message}); trying again")
    else:
        say(f"sweep {sweep.name!r}: interrupted")
    return str(outcome)


def run_agent(opts: AgentOptions, *, say: Say = lambda _m: None) -> int:
    """Work on submitted sweeps until SIGTERM (or, with ``opts.sweep``, until that sweep is finished).

    Returns the number of sweeps worked on. A database that is not there (a SQLite path that
    does not exist, a server that does not answer) is a :class:`StorageError` at once, and
    nothing is created.
    """
    StudyDB(opts.storage).close()  # a SQLite path that does not exist is an error, not a new database
    engine = make_engine(opts.storage)
    worked: set[str] = set()
    idle = 0.0
    retries: dict[str, int] = {}
    try:
        with _Stop() as stop:
            list_sweeps(engine)  # the first contact: an unreachable database is an error at once
            say(f"agent {os.getpid()} on {mask_url(opts.storage)}" + (f", sweep {opts.sweep!r}" if opts.sweep else ""))
            while not stop.event.is_set():
                try:
                    sweep = next_sweep(engine, name=opts.sweep)
                except StorageError as e:  # later, an outage: wait for the database to come back
                    say(f"the database failed ({e}); looking again in {opts.poll_s:g} s")
                    stop.event.wait(opts.poll_s)
                    continue
                if sweep is None:
                    if opts.sweep is not None:
                        say(f"sweep {opts.sweep!r} is {get_sweep(engine, opts.sweep).state}; nothing left to do")
                        break
                    if opts.max_idle_s is not None and idle >= opts.max_idle_s:
                        break
                    stop.event.wait(opts.poll_s)
                    idle += opts.poll_s
                    continue
                idle = 0.0
                worked.add(sweep.name)
                if _work_on(sweep, opts, stop, engine, say) == "retry":
                    retries[sweep.name] = retries.get(sweep.name, 0) + 1
                    if retries[sweep.name] >= MAX_RETRIES:
                        finish_sweep(engine, sweep.name, failed=f"the database failed {MAX_RETRIES} times in a row")
                    stop.event.wait(opts.poll_s)
    finally:
        engine.dispose()
    return len(worked)
