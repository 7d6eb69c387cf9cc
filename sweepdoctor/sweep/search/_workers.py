"""``--workers N`` on one machine: N worker processes on one study, each running the same sweep.

Processes, not threads: training holds the GIL. Each worker is a fresh interpreter
(multiprocessing's spawn context: no forked torch or database state) running
:func:`~sweepdoctor.sweep.search._trials.work_alone` on the sweep the parent opened. Workers meet only in the
database, exactly as workers on several hosts do, so the budget, heartbeats and retries
are those of :mod:`sweepdoctor.sweep.search._coordinator`. Torch threads per worker are
``cores // N`` (at least 1) unless ``--threads`` says otherwise, so N workers do not
oversubscribe the machine.

The parent has prepared the study (schema, fingerprint: one writer, no race) before it
starts them, and trains the reference baselines while they train. It relays the
workers' trial events to ``on_trial``, forwards SIGINT/SIGTERM (workers run in their
own process group, so a terminal's Ctrl-C reaches each of them once, through the
parent: a clean stop; a second one stops at once), adds up their counts, and
diagnoses the study once at the end (workers do not).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import optuna

from sweepdoctor.errors import ConfigError, SweepdoctorError
from sweepdoctor.studies import StudyLock, mask_url
from sweepdoctor.sweep.config import SweepConfig
from sweepdoctor.sweep.data import Dataset, Split
from sweepdoctor.sweep.engine import available_cores, measure_in_background
from sweepdoctor.sweep.search._coordinator import trials_counted
from sweepdoctor.sweep.search._result import Tally
from sweepdoctor.sweep.search._setup import Plugins, Sweep
from sweepdoctor.sweep.search._signals import StopSignals
from sweepdoctor.sweep.search._trials import OnTrial, work_alone

__all__ = ["run_workers", "worker_threads"]

logger = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worker_threads(workers: int, cores: int) -> int:
    """Torch threads per worker so that ``workers`` of them share ``cores`` without oversubscribing."""
    return max(1, cores // workers)


@dataclass
class _Relay:
    done: int = 0  # trials finished by any worker, for the progress display
    results: dict[int, Tally] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    interrupted: set[int] = field(default_factory=set)


def run_workers(
    sw: Sweep, *, plugins: Plugins, on_trial: OnTrial | None, meanwhile: Callable[[], object] | None = None
) -> Tally:
    """Run ``study.workers`` worker processes on the open sweep ``sw`` to the end; their tally.

    ``meanwhile()`` runs here once they have started (the parent's own work: the baselines).
    """
    cfg, n = sw.cfg, sw.cfg.study.workers
    _check_shareable(sw, plugins)
    threads = cfg.train.threads or worker_threads(n, available_cores())
    overlap = measure_in_background(cfg.train.overlap_eval, device=sw.data.X.device.type, workers=n, threads=threads)
    child = replace(cfg, study=replace(cfg.study, workers=1, diagnose=False),
                    train=replace(cfg.train, threads=threads, overlap_eval=overlap, baselines=False))
    ctx = multiprocessing.get_context("spawn")
    events: Any = ctx.Queue()
    levels = (logging.getLogger("sweepdoctor").getEffectiveLevel(), optuna.logging.get_verbosity())
    procs = [
        ctx.Process(target=_worker_main, args=(child, sw.ds, plugins, events, i),
                    kwargs={"levels": levels, "parent": os.getpid(), "splits": sw.splits},
                    name=f"sweepdoctor-worker-{i}")
        for i in range(n)
    ]
    relay = _Relay()
    forward = _ForwardSignals(procs)
    try:
        for p in procs:
            p.start()
        if meanwhile is not None:
            meanwhile()
        while any(p.is_alive() for p in procs):
            _relay(events, relay, on_trial, cfg.study.trials, timeout=0.2)
        while _relay(events, relay, on_trial, cfg.study.trials, timeout=0.05):
            pass
    finally:
        forward.restore()
        for p in procs:
            if p.pid is None:
                continue  # never started
            if p.is_alive():
                p.terminate()
            p.join()
    return _sum_up(relay, procs, sw, interrupted=forward.count > 0)


def _check_shareable(sw: Sweep, plugins: Plugins) -> None:
    n = sw.cfg.study.workers
    if not StudyLock(sw.store.engine, sw.study_id).exclusive:
        raise ConfigError(
            f"study.workers={n} needs a database its worker processes share and can lock: a SQLite file, "
            f"PostgreSQL or MySQL/MariaDB, not {mask_url(sw.url)!r}"
        )
    try:
        pickle.dumps(plugins)
    except (pickle.PicklingError, AttributeError, TypeError) as e:
        raise ConfigError(
            f"study.workers={n} runs model_fn (and the sampler and pruner) in other processes, so they must be "
            f"picklable (a function defined at the top level of a module): {e}"
        ) from None


def _relay(events: Any, tally: _Relay, on_trial: OnTrial | None, total: int, *, timeout: float) -> bool:
    """Handle one message from a worker; False when none came within ``timeout``."""
    try:
        kind, index, payload = events.get(timeout=timeout)
    except queue.Empty:
        return False
    if kind == "trial":
        tally.done += 1
        if on_trial is not None:
            on_trial(replace(payload, done=tally.done, total=total))
    elif kind == "done":
        tally.results[index] = payload
    elif kind == "interrupted":
        tally.interrupted.add(index)
    else:
        tally.errors[index] = payload
    return True


def _sum_up(relay: _Relay, procs: Sequence[BaseProcess], sw: Sweep, *, interrupted: bool) -> Tally:
    total = Tally(interrupted=interrupted or bool(relay.interrupted))
    for r in relay.results.values():
        total.add(r)
    if relay.errors:
        first = min(relay.errors)
        more = f" (and {len(relay.errors) - 1} other worker(s) failed)" if len(relay.errors) > 1 else ""
        raise SweepdoctorError(f"worker {first}: {relay.errors[first]}{more}")
    lost = [
        f"worker {i} {_exit_text(p.exitcode)}"
        for i, p in enumerate(procs)
        if i not in relay.results and i not in relay.interrupted
    ]
    if lost:
        logger.warning("%s", "; ".join(lost))
        counted = trials_counted(sw.study.get_trials(deepcopy=False))
        if counted < sw.cfg.study.trials and not total.interrupted:
            raise SweepdoctorError(
                f"{'; '.join(lost)} and the study has {counted} of {sw.cfg.study.trials} trials; "
                "the same command resumes it (a dead worker's trial is retried)"
            )
    return total


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code} (its error is printed above)"


class _ForwardSignals:
    """Forward SIGINT/SIGTERM to the workers as SIGTERM; the third signal interrupts the parent too."""

    def __init__(self, procs: Sequence[BaseProcess]) -> None:
        self._procs = procs
        self.count = 0
        self._signals = StopSignals(self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.count += 1
        for p in self._procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)
        if self.count >= 3:
            raise KeyboardInterrupt

    def restore(self) -> None:
        self._signals.restore()


def _stop_with_parent(parent: int) -> None:
    """Linux: a SIGTERM (a clean stop) when the parent dies, so no worker outlives ``kill -9`` of it."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_main(
    cfg: SweepConfig, ds: Dataset, plugins: Plugins, events: Any, index: int, *, levels: tuple[int, int], parent: int,
    splits: list[Split] | None = None,
) -> None:
    """One worker process: the same sweep (on the parent's ``splits``), its events and outcome sent to the parent."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # signals come through the parent, once
    _stop_with_parent(parent)
    logging.getLogger("sweepdoctor").setLevel(levels[0])
    optuna.logging.set_verbosity(levels[1])
    try:
        tally = work_alone(cfg, ds, plugins=plugins, on_trial=lambda e: events.put(("trial", index, e)),
                           splits=splits)
    except SweepdoctorError as e:
        events.put(("error", index, str(e)))
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        events.put(("interrupted", index, None))
        raise SystemExit(130) from None
    events.put(("done", index, tally))
    _exit_now(events)


def _exit_now(events: Any) -> None:
    """Exit once the parent has our last message, skipping the interpreter's teardown (torch's
    modules: ~0.6 s a worker, at the end of every sweep). Connections are closed, logs flushed."""
    events.close()
    events.join_thread()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
