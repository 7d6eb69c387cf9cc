"""``--workers N`` on one machine: N worker processes on one study, each running the same sweep.

Processes, not threads: training holds the GIL. Each worker is a fresh interpreter
(multiprocessing's spawn context: no forked torch or database state) running
:func:`~sweepdoctor.sweep.run_sweep` with ``workers=1``. Workers meet only in the
database, exactly as workers on several hosts do, so the budget, heartbeats and retries
are those of :mod:`sweepdoctor.sweep._coordinator`. Torch threads per worker are
``cores // N`` (at least 1) unless ``--threads`` says otherwise, so N workers do not
oversubscribe the machine.

The parent has prepared the study (schema, fingerprint, baselines: one writer, no race)
before it starts them. It relays the workers' trial events to ``on_trial``, forwards
SIGINT/SIGTERM (workers run in their own process group, so a terminal's Ctrl-C reaches
each of them once, through the parent: a clean stop; a second one stops at once), adds
up their counts, and diagnoses the study once at the end (workers do not).
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
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING, Any

import optuna

from sweepdoctor.errors import ConfigError, SweepdoctorError
from sweepdoctor.studies import Store
from sweepdoctor.studies._concurrency import StudyLock
from sweepdoctor.sweep._config import SweepConfig
from sweepdoctor.sweep._coordinator import trials_counted
from sweepdoctor.sweep._data import Dataset
from sweepdoctor.sweep._fit import ModelFn
from sweepdoctor.sweep._pipeline import available_cores, measure_in_background
from sweepdoctor.sweep._tensors import pick_device

if TYPE_CHECKING:
    from sweepdoctor.sweep._runner import SweepResult, TrialEvent

__all__ = ["available_cores", "run_workers", "worker_threads"]

logger = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worker_threads(workers: int, cores: int) -> int:
    """Torch threads per worker so that ``workers`` of them share ``cores`` without oversubscribing."""
    return max(1, cores // workers)


@dataclass
class _Tally:
    done: int = 0  # trials finished by any worker, for the progress display
    results: dict[int, SweepResult] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    interrupted: set[int] = field(default_factory=set)


def run_workers(
    cfg: SweepConfig,
    ds: Dataset,
    study: optuna.Study,
    store: Store,
    *,
    model_fn: ModelFn | None,
    result: SweepResult,
    on_trial: Callable[[TrialEvent], None] | None,
) -> None:
    """Run ``cfg.study.workers`` worker processes to the end; add their counts to ``result``."""
    n = cfg.study.workers
    if not StudyLock(store.engine, study._study_id).exclusive:
        raise ConfigError(
            f"study.workers={n} needs a database its worker processes share and can lock: a SQLite file, "
            f"PostgreSQL or MySQL/MariaDB, not {result.storage!r}"
        )
    try:
        pickle.dumps(model_fn)
    except (pickle.PicklingError, AttributeError, TypeError) as e:
        raise ConfigError(
            f"study.workers={n} runs model_fn in other processes, so it must be picklable "
            f"(a function defined at the top level of a module): {e}"
        ) from None
    threads = cfg.train.threads or worker_threads(n, available_cores())
    device = pick_device(cfg.train.device).type
    overlap = measure_in_background(cfg.train.overlap_eval, device=device, workers=n, threads=threads)
    child = replace(cfg, study=replace(cfg.study, workers=1, diagnose=False),
                    train=replace(cfg.train, threads=threads, overlap_eval=overlap))
    ctx = multiprocessing.get_context("spawn")
    events: Any = ctx.Queue()
    levels = (logging.getLogger("sweepdoctor").getEffectiveLevel(), optuna.logging.get_verbosity())
    procs = [
        ctx.Process(
            target=_worker_main,
            args=(child, ds, model_fn, events, i, levels, os.getpid()),
            name=f"sweepdoctor-worker-{i}",
        )
        for i in range(n)
    ]
    tally = _Tally()
    forward = _ForwardSignals(procs)
    try:
        for p in procs:
            p.start()
        while any(p.is_alive() for p in procs):
            _relay(events, tally, on_trial, cfg.study.trials, timeout=0.2)
        while _relay(events, tally, on_trial, cfg.study.trials, timeout=0.05):
            pass
    finally:
        forward.restore()
        for p in procs:
            if p.pid is None:
                continue  # never started
            if p.is_alive():
                p.terminate()
            p.join()
    _sum_up(tally, procs, result, study, cfg.study.trials, interrupted=forward.count > 0)


def _relay(
    events: Any, tally: _Tally, on_trial: Callable[[TrialEvent], None] | None, total: int, *, timeout: float
) -> bool:
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


def _sum_up(
    tally: _Tally, procs: Sequence[BaseProcess], result: SweepResult, study: optuna.Study, total: int,
    *, interrupted: bool
) -> None:
    for r in tally.results.values():
        result.n_complete += r.n_complete
        result.n_pruned += r.n_pruned
        result.n_failed += r.n_failed
        result.train_seconds += r.train_seconds
        result.training_path = result.training_path or r.training_path
        result.interrupted = result.interrupted or r.interrupted
    result.interrupted = result.interrupted or interrupted or bool(tally.interrupted)
    if tally.errors:
        first = min(tally.errors)
        more = f" (and {len(tally.errors) - 1} other worker(s) failed)" if len(tally.errors) > 1 else ""
        raise SweepdoctorError(f"worker {first}: {tally.errors[first]}{more}")
    lost = [
        f"worker {i} {_exit_text(p.exitcode)}"
        for i, p in enumerate(procs)
        if i not in tally.results and i not in tally.interrupted
    ]
    if lost:
        logger.warning("%s", "; ".join(lost))
        counted = trials_counted(study.get_trials(deepcopy=False))
        if counted < total and not result.interrupted:
            raise SweepdoctorError(
                f"{'; '.join(lost)} and the study has {counted} of {total} trials; "
                "the same command resumes it (a dead worker's trial is retried)"
            )


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code} (its error is printed above)"


class _ForwardSignals:
    """Forward SIGINT/SIGTERM to the workers as SIGTERM; the third signal interrupts the parent too."""

    def __init__(self, procs: Sequence[BaseProcess]) -> None:
        self._procs = procs
        self.count = 0
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.count += 1
        for p in self._procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)
        if self.count >= 3:
            raise KeyboardInterrupt

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous = {}


def _stop_with_parent(parent: int) -> None:
    """Linux: a SIGTERM (a clean stop) when the parent dies, so no worker outlives ``kill -9`` of it."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_main(
    cfg: SweepConfig,
    ds: Dataset,
    model_fn: ModelFn | None,
    events: Any,
    index: int,
    levels: tuple[int, int],
    parent: int,
) -> None:
    """One worker process: the same sweep, its events and outcome sent to the parent."""
    from sweepdoctor.sweep._runner import run_sweep

    if hasattr(os, "setpgrp"):
        os.setpgrp()  # signals come through the parent, once
    _stop_with_parent(parent)
    logging.getLogger("sweepdoctor").setLevel(levels[0])
    optuna.logging.set_verbosity(levels[1])
    try:
        res = run_sweep(cfg, ds, model_fn=model_fn, on_trial=lambda e: events.put(("trial", index, e)))
    except SweepdoctorError as e:
        events.put(("error", index, str(e)))
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        events.put(("interrupted", index, None))
        raise SystemExit(130) from None
    events.put(("done", index, res))
