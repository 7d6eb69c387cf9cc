"""Measuring epoch e in a helper process while epoch e+1 trains.

The end-of-epoch measurement (the exact full-batch training loss and gradient norm, the
validation and test passes) costs about a quarter of a small trial's time on one core.
With a core to spare, :class:`EpochPipeline` hands it to the sweep's
:class:`~sweepdoctor.sweep.engine._measurer.Measurer` with a copy of the weights taken at the
end of the epoch, and trains the next epoch meanwhile. The verdict on epoch e (pruned,
diverged, early stopping) is then read after epoch e+1 has trained: that epoch is
thrown away and the weights of epoch e are put back, so curves, scores, verdicts and
final weights are those of measuring in place, bit for bit (tested). Reporting to the
study and the pruner's verdict stay in the sweep's process.

The verdict is read as soon as it comes: epoch e+1 asks before each of its steps
(``_trainer.EPOCH_INTERRUPT``), and a verdict that stops training ends it there instead
of after its last step (a pruned or early-stopped trial then trains about a third of an
epoch for nothing instead of a whole one: measuring an epoch takes about that long).
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Callable
from types import TracebackType

import numpy as np
from torch import Tensor

from sweepdoctor.sweep.engine._backprop import MLPWeights
from sweepdoctor.sweep.engine._cnn import CNNSnapshot, StackedCNN
from sweepdoctor.sweep.engine._measurer import Measurer
from sweepdoctor.sweep.engine._trainer import EPOCH_INTERRUPT

__all__ = ["EpochPipeline", "OVERLAP_ENV", "available_cores", "measure_in_background"]

# "0" or "1": the default of train.overlap_eval on this machine (tests, shared CI runners).
OVERLAP_ENV = "SWEEPDOCTOR_OVERLAP_EVAL"

# ``judge(epoch, lr, stats, stored, trained_at)``: record an epoch's statistics (``stored``: the
# measuring process wrote its value to the study; ``trained_at``: perf_counter() when the
# epoch had trained); True when training stops there.
Judge = Callable[[int, float, np.ndarray, bool, float], bool]


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - macOS, Windows


def measure_in_background(setting: bool | None, *, device: str, workers: int, threads: int) -> bool:
    """Whether epochs are measured in a helper process (``train.overlap_eval``).

    ``setting`` when given, else ``$SWEEPDOCTOR_OVERLAP_EVAL`` when set; by default only
    on the CPU and when each of ``workers`` processes training with ``threads`` torch
    threads has a core left for its helper.
    """
    if setting is not None:
        return setting
    env = os.environ.get(OVERLAP_ENV, "").strip()
    if env in ("0", "1"):
        return env == "1"
    return device == "cpu" and available_cores() >= workers * (threads + 1)


class EpochPipeline:
    """One trial's epochs: measured in place, or by ``measurer`` one epoch behind (see the module docstring).

    ``submit(epoch, lr)`` after each trained epoch returns True when training stops: in
    place, by the verdict on this epoch; with a measurer, by the verdict on the previous
    epoch (this epoch is then not measured and :attr:`behind` is True until
    :meth:`restore`). :meth:`drain` judges the last measurement after the final epoch.
    ``measure(weights)`` measures in this process: the current weights (None) or a copy.
    ``model``: the built-in model (MLP or CNN) whose weights the measurer is sent.
    """

    def __init__(
        self,
        measure: Callable[[MLPWeights | CNNSnapshot | None], Tensor],
        judge: Judge,
        *,
        model: MLPWeights | StackedCNN | None = None,
        measurer: Measurer | None = None,
        report_to: int | None = None,
    ) -> None:
        self._measure = measure
        self._judge = judge
        self._mlp = model
        self._slot = measurer.slot(model, report_to) if measurer is not None and model is not None else None
        self._pending: tuple[int, float, float] | None = None
        self._stopped = False  # a verdict read while the next epoch trained stopped training
        self._interrupt: contextvars.Token[Callable[[], bool] | None] | None = None
        self.behind = False

    def submit(self, epoch: int, lr: float) -> bool:
        trained_at = time.perf_counter()
        if self._slot is not None and self._mlp is not None:
            if self._stopped or self.drain():
                self.behind = True
                return True
            self._slot.fill(self._mlp)
            if self._slot.start(epoch):
                self._pending = (epoch, lr, trained_at)
                return False
        return self._judge_here(epoch, lr, None, trained_at)  # no helper, or it is not up (yet)

    def drain(self) -> bool:
        """Judge the measurement under way, if any; True when it stops training."""
        if self._pending is None or self._slot is None:
            return False
        (epoch, lr, trained_at), self._pending = self._pending, None
        answer = self._slot.result()
        if answer is None:  # the helper failed: measure its copy here
            return self._judge_here(epoch, lr, self._slot.weights, trained_at)
        stats, stored = answer
        return self._judge(epoch, lr, stats, stored, trained_at)

    def stop_requested(self) -> bool:
        """Whether training has stopped: the verdict on the epoch measured in the background has come
        (judged now, once) and stops training. The epoch training meanwhile is thrown away by
        :meth:`submit`."""
        if not self._stopped and self._pending is not None and self._slot is not None and self._slot.answered():
            self._stopped = self.drain()
        return self._stopped

    def _judge_here(self, epoch: int, lr: float, weights: MLPWeights | CNNSnapshot | None,
                    trained_at: float) -> bool:
        return self._judge(epoch, lr, self._measure(weights).cpu().numpy(), False, trained_at)

    def restore(self) -> None:
        """Put back the weights of the last epoch measured (training went one epoch past the stop)."""
        if self.behind and self._slot is not None and self._mlp is not None:
            self._slot.weights.restore(self._mlp)  # type: ignore[arg-type]
            self.behind = False

    def __enter__(self) -> EpochPipeline:
        if self._slot is not None:  # the epochs trained meanwhile stop as soon as a verdict stops training
            self._interrupt = EPOCH_INTERRUPT.set(self.stop_requested)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._interrupt is not None:
            EPOCH_INTERRUPT.reset(self._interrupt)
            self._interrupt = None
        if self._pending is not None and self._slot is not None:  # left early: collect the answer
            self._pending = None
            self._slot.result()
