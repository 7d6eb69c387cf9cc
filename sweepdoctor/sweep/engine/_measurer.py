"""A helper process that measures the built-in model's epochs (MLP or CNN) on a second core.

Why a process: the measurement is a few large kernels, the training step many small
ones, and in one process the two threads fight over the GIL at every kernel (measured:
training 24% slower, the measurement 47% slower, for 10% less wall time in all). A
process of its own has its own GIL.

How: the fold data goes to the helper once, in shared memory. Each trial gets a slot of
shared weight tensors; after an epoch the trainer copies its weights into the slot and
sends one message, and the helper answers with the ``(len(STAT_ROWS), k)`` statistics
that :func:`~sweepdoctor.sweep.engine._evaluate.measure_mlp` computes from them (the same code,
one torch thread, denormals flushed, as in the trainer: the numbers are the same bit for
bit). The helper starts in the background (a fresh interpreter importing torch, ~2 s);
until it is ready, or if it ever fails, :class:`Measurer` says so and the caller
measures in its own process.

A first job: the helper is idle while the first trial starts, so a caller may give it
one piece of work on the same data to do before it measures (the sweep's reference
baselines: training them here takes them off the sweep's critical path). Its result,
or why there is none, comes back before the helper says it is ready; meanwhile the
trainer measures in place.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, Protocol

import numpy as np
import torch

from sweepdoctor.sweep.data import FoldData
from sweepdoctor.sweep.engine._backprop import MLPSnapshot, MLPWeights
from sweepdoctor.sweep.engine._cnn import CNNSnapshot, StackedCNN
from sweepdoctor.sweep.engine._evaluate import EvalRows, diverged_folds, epoch_value, measure_mlp, measure_stack

__all__ = ["SHARE_LIMIT", "FirstJob", "Measurer", "MeasuringSlot", "Reporter", "ReporterFactory", "start_measurer"]

logger = logging.getLogger(__name__)

_READY = "ready"
_JOB = "job"

FirstJob = Callable[[FoldData], Any]
"""Work the helper does on the fold data before it measures; picklable (a module-level
function, or a ``functools.partial`` of one), its result too."""


class MeasuringSlot:
    """One trial's shared weights: the trainer writes them, the helper measures them.

    ``report_to``: the study trial id to which the helper also writes each epoch's value
    (the fold-mean validation metric, when finite), as the pruner's report.
    """

    def __init__(self, owner: Measurer, model: MLPWeights | StackedCNN, report_to: int | None = None) -> None:
        self._owner = owner
        self.report_to = report_to
        self.weights: MLPSnapshot | CNNSnapshot
        if isinstance(model, StackedCNN):
            self.weights = CNNSnapshot(model, shared=True)
        else:
            self.weights = MLPSnapshot(
                [torch.empty_like(w, requires_grad=False).share_memory_() for w in model.weights],
                [torch.empty_like(b, requires_grad=False).share_memory_() for b in model.biases],
                model.activation,
            )
        self.sent = False  # whether the helper knows this slot

    def fill(self, model: MLPWeights | StackedCNN) -> None:
        self.weights.copy_from(model)  # type: ignore[arg-type]

    def message(self) -> tuple[Any, ...]:
        """What tells the helper of this slot: the shared tensors and how to measure them."""
        w = self.weights
        if isinstance(w, CNNSnapshot):
            return ("cnn", w.spec, w.tensors, self.report_to)
        return ("trial", w.weights, w.biases, w.activation, self.report_to)

    def start(self, epoch: int) -> bool:
        """Ask the helper to measure the slot's weights as ``epoch``; False when it cannot (measure here)."""
        return self._owner._start(self, epoch)

    def result(self) -> tuple[np.ndarray, bool] | None:
        """The helper's statistics for the last :meth:`start` and whether it wrote the epoch's
        value to the study, or None when it failed (measure here)."""
        return self._owner._result()

    def answered(self) -> bool:
        """Whether :meth:`result` would return at once: the helper's answer (or its failure) has come."""
        return self._owner._answered()


def start_measurer(
    data: FoldData, *, loss: str, metric: str, reporter: ReporterFactory | None = None,
    first_job: FirstJob | None = None,
) -> Measurer | None:
    """The sweep's measuring process, or None (with the reason logged) where it cannot run.

    It measures CPU training only (on a GPU the steps are launched asynchronously already).
    It cannot start from a daemonic process (a ``multiprocessing.Pool`` worker may not have
    children), nor where the shared memory the data would take is not there: a full
    ``/dev/shm`` (64 MB in a default Docker container) kills a process with SIGBUS
    instead of raising an error.
    """
    if data.X.device.type != "cpu":
        logger.info("measuring epochs in place: the measuring process is for training on the CPU")
        return None
    if data.streamed:
        logger.info("measuring epochs in place: the samples are read on demand (the decoding workers take the cores)")
        return None
    if multiprocessing.current_process().daemon:
        logger.info("measuring epochs in place: a daemonic process cannot start the measuring process")
        return None
    need = sum(t.numel() * t.element_size() for t in _tensors(data))
    if need > SHARE_LIMIT:  # sharing would copy the samples into shared memory: twice the data in RAM
        logger.info("measuring epochs in place: the data (%d MB) are too large to share with a measuring process",
                    need >> 20)
        return None
    free = _shared_memory_free()
    if free is not None and free < 2 * need + _SHM_MARGIN:
        logger.info("measuring epochs in place: %d MB of shared memory free, the data needs %d MB",
                    free >> 20, need >> 20)
        return None
    try:
        return Measurer(data, loss=loss, metric=metric, reporter=reporter, first_job=first_job)
    except Exception as e:  # noqa: BLE001 - measuring in place is always possible
        logger.info("measuring epochs in place: the measuring process did not start (%s)", e)
        return None


_SHM_MARGIN = 16 << 20  # bytes of shared memory left to others (and to the trials' weights)
SHARE_LIMIT = 256 << 20  # bytes of fold data at most that a measuring process gets a shared copy of


def _tensors(data: FoldData) -> list[torch.Tensor]:
    return [t for t in vars(data).values() if isinstance(t, torch.Tensor)]


def _shared_memory_free() -> int | None:
    """Bytes free in ``/dev/shm``, where Linux keeps shared tensors (None elsewhere)."""
    try:
        st = os.statvfs("/dev/shm")
    except (AttributeError, OSError):
        return None
    return st.f_bavail * st.f_frsize


class Measurer:
    """The helper process of one sweep (see the module docstring; :func:`start_measurer` starts one)."""

    def __init__(
        self, data: FoldData, *, loss: str, metric: str, reporter: ReporterFactory | None = None,
        first_job: FirstJob | None = None,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._ready = False
        self._broken = False
        self._job: tuple[bool, Any] | None = None if first_job is not None else (False, "no job was given")
        self._proc = ctx.Process(
            target=_serve, args=(child, data, loss, metric, reporter, first_job), name="sweepdoctor-measure",
            daemon=True,
        )
        with _main_module_hidden(), _sigint_ignored():
            self._proc.start()
        child.close()
        self._current: MeasuringSlot | None = None
        self.measured = 0  # epochs the helper has measured

    def slot(self, model: MLPWeights | StackedCNN, report_to: int | None = None) -> MeasuringSlot:
        return MeasuringSlot(self, model, report_to)

    @property
    def available(self) -> bool:
        """Whether the helper is up (it is not while it starts, nor after it failed)."""
        self._read_starting()
        return self._ready and not self._broken

    def _read_starting(self) -> None:
        """Read what the helper has said while starting: its first job's result, then ready."""
        try:
            while not self._ready and not self._broken and self._conn.poll():
                self._starting_message(self._conn.recv())
        except (EOFError, OSError):
            self._fail("it stopped while starting")

    def _starting_message(self, msg: Any) -> None:
        if msg == _READY:
            self._ready = True
        elif isinstance(msg, tuple) and msg[0] == _JOB:
            self._job = (msg[1], msg[2])
        else:
            self._fail(f"it answered {msg!r} while starting")

    def first_job_result(self) -> tuple[bool, Any]:
        """``(True, result)`` of the first job, waiting for it, else ``(False, why)``: it raised,
        or the helper failed (do it in place)."""
        while self._job is None and not self._broken and not self._ready:
            self._conn.poll(0.1)
            self._read_starting()
        return self._job if self._job is not None else (False, "the measuring process failed")

    def wait_until_available(self, timeout_s: float) -> bool:
        """Block until the helper is up (True) or ``timeout_s`` has passed or it failed (False)."""
        deadline = time.monotonic() + timeout_s
        while not self.available and not self._broken and time.monotonic() < deadline:
            self._conn.poll(min(0.1, max(0.0, deadline - time.monotonic())))
        return self.available

    def _start(self, slot: MeasuringSlot, epoch: int) -> bool:
        if not self.available:
            return False
        try:
            if self._current is not slot or not slot.sent:
                self._conn.send(slot.message())
                self._current, slot.sent = slot, True
            self._conn.send(("measure", epoch))
        except (OSError, ValueError) as e:
            self._fail(f"it could not be reached ({e})")
            return False
        return True

    def _answered(self) -> bool:
        try:
            return self._conn.poll()
        except (OSError, ValueError):  # the pipe is broken: result() says so at once
            return True

    def _result(self) -> tuple[np.ndarray, bool] | None:
        try:
            kind, *answer = self._conn.recv()
        except (EOFError, OSError) as e:
            self._fail(f"it stopped ({type(e).__name__})")
            return None
        if kind != "ok":
            self._fail(answer[0])
            return None
        stats, stored = answer
        self.measured += 1
        return np.asarray(stats), bool(stored)

    def _fail(self, why: str) -> None:
        if not self._broken:
            logger.warning("the measuring process failed: %s; measuring in this process from now on", why)
        self._broken = True

    def close(self) -> None:
        if not self._ready:  # maybe still importing torch: no need to wait for it to read "stop"
            self._proc.terminate()
        self._broken = True  # nothing more goes to it
        try:
            self._conn.send(("stop",))
        except (OSError, ValueError):
            pass
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=5)
        self._conn.close()

    def __enter__(self) -> Measurer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Reporter(Protocol):
    """Writes one epoch's value to the study from the helper, so that the sweep's process need not.

    The caller passes a picklable factory of one (the helper builds it after it starts):
    the engine knows nothing of Optuna or databases. ``report`` returns False when the
    value was not written; the sweep then reports it itself, with its retries and checks.
    """

    def report(self, trial_id: int, epoch: int, value: float) -> bool: ...


ReporterFactory = Callable[[], Reporter]


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start a process that ignores Ctrl-C from its first instruction (it inherits SIG_IGN).

    Ctrl-C goes to the whole process group; the helper would otherwise die with a
    traceback while it still imports torch (the sweep stops it itself). Python keeps an
    inherited SIG_IGN. A Ctrl-C in the few milliseconds of the start is lost (blocking
    it instead does not carry over to the spawned interpreter: measured).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; the helper ignores SIGINT once it runs
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a spawned process without it running the caller's ``__main__`` again.

    ``spawn`` re-imports the parent's main script in the child so that functions defined
    there can be unpickled; a user script that calls ``sweep.run`` without an
    ``if __name__ == "__main__":`` guard would then run its whole sweep again in our
    helper. The helper needs nothing from ``__main__``: while the process starts, the
    main module shows neither its file nor its spec, which is what ``spawn`` reads.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    hidden: dict[str, Any] = {k: main.__dict__.pop(k) for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__spec__ = None  # type: ignore[assignment]  # spawn reads it with getattr
    try:
        yield
    finally:
        del main.__spec__
        main.__dict__.update(hidden)


def _serve(
    conn: Connection, data: FoldData, loss: str, metric: str, make_reporter: ReporterFactory | None,
    first_job: FirstJob | None,
) -> None:
    """The helper's loop: its first job, then one trial's weights at a time, one answer per ``measure``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle; it stops us
    torch.set_num_threads(1)
    try:
        if first_job is not None:
            conn.send(_run_first_job(first_job, data))
        torch.set_flush_denormal(True)  # as the trainer has it while training
        rows = _Rows(data)
        model: MLPSnapshot | StackedCNN | None = None
        report_to: int | None = None
        reporter = make_reporter() if make_reporter is not None else None
        conn.send(_READY)
        while True:
            msg: Any = conn.recv()
            if msg[0] == "stop":
                break
            if msg[0] in ("trial", "cnn"):
                model, report_to = _model(msg)
                continue
            try:
                assert model is not None, "measure before trial"
                stats = rows.measure(model, loss=loss, metric=metric).numpy()
                stored = False
                if report_to is not None and reporter is not None and not diverged_folds(stats):
                    # (the sweep fails a diverged epoch before it would report it)
                    stored = reporter.report(report_to, msg[1], epoch_value(stats))
                answer: tuple[Any, ...] = ("ok", stats, stored)
            except Exception as e:  # noqa: BLE001 - reported to the sweep, which measures by itself
                answer = ("error", f"{type(e).__name__}: {e}")
            conn.send(answer)
    except Exception:  # noqa: BLE001 - the sweep is gone (ended, killed) or cannot be understood:
        pass  # it measures in place when our answers stop; nothing to print on its terminal
    conn.close()
    os._exit(0)  # nothing to flush; skips a second of interpreter teardown (torch)


def _model(msg: tuple[Any, ...]) -> tuple[MLPSnapshot | StackedCNN, int | None]:
    """The model a slot's message describes, over its shared tensors, and the trial it reports to."""
    if msg[0] == "cnn":
        return StackedCNN.shell(msg[1], msg[2]), msg[3]
    return MLPSnapshot(msg[1], msg[2], msg[3]), msg[4]


class _Rows:
    """The helper's evaluation rows: the samples as rows of features for the MLP, as given for the CNN
    (each gathered on first use)."""

    def __init__(self, data: FoldData) -> None:
        self._data = data
        self._flat: EvalRows | None = None
        self._shaped: EvalRows | None = None

    def measure(self, model: MLPSnapshot | StackedCNN, *, loss: str, metric: str) -> torch.Tensor:
        if isinstance(model, StackedCNN):
            self._shaped = self._shaped or EvalRows(self._data)
            return measure_stack(model, self._shaped, loss=loss, metric=metric)
        self._flat = self._flat or EvalRows(self._data.flattened())
        return measure_mlp(model, self._flat, loss=loss, metric=metric)


def _run_first_job(job: FirstJob, data: FoldData) -> tuple[str, bool, Any]:
    try:
        return _JOB, True, job(data)
    except Exception as e:  # noqa: BLE001 - the caller does it in place
        return _JOB, False, f"{type(e).__name__}: {e}"
