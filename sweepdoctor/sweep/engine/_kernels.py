"""The hot loop's primitives: cheap dropout masks and optimizer steps without per-step bookkeeping.

**Dropout.** On the CPU ``F.dropout`` draws one Bernoulli number per element from a
scalar generator, about 14 ns each: the largest single cost of a small training step.
:func:`dropout` draws 64 random bits per four elements instead (``Tensor.random_`` over
the full int64 range, about 1 ns per element) and keeps an element when its 16-bit
share is at or above a threshold. The drop probability is ``p`` rounded to a multiple of
2^-16 (off by at most 7.6e-6), and kept elements are scaled by the exact inverse of the
keep probability, so the expected activation is unchanged. The hand-written backward
pass needs the multiplier itself, so it is drawn this way on every device, for all
hidden layers of a step in one go.

**Optimizer steps.** ``torch.optim``'s ``step()`` spends about 0.25 ms of Python per call
(parameter groups, state look-ups, hooks, grouping tensors by device) around a fused
kernel that itself takes about 0.1 ms on a small stacked MLP. :class:`FusedStepper` keeps
the optimizer state itself and calls the same kernels (``torch._fused_adam_``,
``torch._fused_sgd_``...) with the same arguments as ``torch.optim`` does with
``fused=True`` (RMSprop, which has no fused kernel, with ``torch._foreach_*`` ops in
``torch.optim``'s order), so its updates equal those of the torch optimizer that
``torch.optim`` builds for the same trial (tested against it in ``tests/sweep``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from sweepdoctor.sweep.config import TrialParams

__all__ = [
    "ADAGRAD_EPS",
    "ADAM_EPS",
    "RMSPROP_ALPHA",
    "RMSPROP_EPS",
    "FusedStepper",
    "dropout_fn",
    "dropout_multiplier",
    "flush_denormals",
    "flushing_denormals",
]

# torch.optim's defaults, which the tests' reference optimizers keep.
ADAM_EPS = 1e-8
ADAGRAD_EPS = 1e-10
RMSPROP_ALPHA = 0.99
RMSPROP_EPS = 1e-8
_LEVELS = 1 << 16


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat denormal floats (below 1.2e-38 in float32) as zero while training, on the CPU.

    They turn up in optimizer states and activations of trials with small learning rates
    or strong weight decay, and the CPU computes with them ~100x slower than with normal
    numbers: on one digits sweep they cost 35% of the time. The setting found is put back
    afterwards (torch has no getter: :func:`flushing_denormals` tells it by a product).
    """
    found = flushing_denormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(found)


def flushing_denormals() -> bool:
    """Whether this thread flushes denormal floats to zero: 1e-30 * 1e-10 (a denormal) comes out as 0 then."""
    return bool((torch.full((1,), 1e-30) * 1e-10).item() == 0.0)


def dropout_multiplier(shape: torch.Size | tuple[int, ...], p: float, device: torch.device,
                       dtype: torch.dtype = torch.float32, *, generator: torch.Generator | None = None) -> Tensor:
    """A fresh inverted-dropout multiplier: 0 where dropped, ``1 / keep`` elsewhere (CPU scheme above).

    Random bits come from ``generator`` (one of the device's), else from torch's global generator.
    """
    dropped = min(round(p * _LEVELS), _LEVELS - 1)
    # Kept where share >= threshold: (share - threshold + 1) clamped to [0, 1] is exactly 1 or 0.
    return _shares(shape, device, dtype, generator).sub_(dropped - _LEVELS // 2 - 1).clamp_(0, 1).mul_(
        _LEVELS / (_LEVELS - dropped))


def _shares(shape: torch.Size | tuple[int, ...], device: torch.device, dtype: torch.dtype,
            generator: torch.Generator | None) -> Tensor:
    """Independent integers uniform on [-2^15, 2^15), as ``dtype``: 16 bits of a 64-bit draw each."""
    n = math.prod(shape)
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None, generator=generator)
    return bits.view(torch.int16)[:n].view(shape).to(dtype)


def dropout_fn(
    p: float | Tensor, device: torch.device, dtype: torch.dtype = torch.float32, *,
    generator: torch.Generator | None = None,
) -> Callable[[torch.Size], Tensor] | None:
    """Multipliers for drop probability ``p`` (a float, or one per model of a stack), or None for no dropout.

    Drawn from ``generator`` (a private stream: the sweep never touches torch's global one).
    """
    if isinstance(p, Tensor):
        if not bool((p > 0).any()):
            return None
        dropped = (p.to(torch.float64) * _LEVELS).round_().clamp_(max=_LEVELS - 1)
        thresholds = (dropped - (_LEVELS // 2 + 1)).to(device=device, dtype=dtype).view(-1, 1, 1)
        scales = (_LEVELS / (_LEVELS - dropped)).to(device=device, dtype=dtype).view(-1, 1, 1)
        return lambda shape: _shares(shape, device, dtype, generator).sub_(thresholds).clamp_(0, 1).mul_(scales)
    if p <= 0:
        return None
    return lambda shape: dropout_multiplier(shape, p, device, dtype, generator=generator)


class FusedStepper:
    """The trial's optimizer over (stacked) parameters: ``step(lr)`` and ``zero_grad()``.

    Every optimizer of the search space acts element by element, so over stacked fold
    parameters this is exactly k independent optimizers, as with ``torch.optim``. As
    there, a parameter without a gradient is left alone by a step.
    """

    def __init__(self, params: list[Tensor], hp: TrialParams) -> None:
        if hp.optimizer not in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"):
            raise ValueError(f"unknown optimizer {hp.optimizer!r}")
        self.params = params
        self.hp = hp
        self.kind = hp.optimizer
        self.momentum = 0.0 if self.kind == "sgd" else hp.momentum
        # torch.optim with fused=True keeps a float32 step count per parameter; the kernels
        # only read it, and all are equal here, so one tensor per device stands for them all.
        counters = {p.device: torch.zeros((), dtype=torch.float32, device=p.device) for p in params}
        self._counters: list[Tensor] | None = list(counters.values())
        self._steps = [counters[p.device] for p in params]
        zeros = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in params]
        self._avg = zeros if self.kind in ("adam", "adamw") else []  # exp_avg
        self._sq = (  # exp_avg_sq / sum / square_avg
            [torch.zeros_like(p, memory_format=torch.preserve_format) for p in params]
            if self.kind in ("adam", "adamw")
            else zeros if self.kind in ("adagrad", "rmsprop") else []
        )
        self._mom: list[Tensor | None] = [None] * len(params)  # SGD momentum, made on a parameter's first step

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, lr: float, grads: list[Tensor] | None = None) -> None:
        """One update of every parameter that has a gradient, at learning rate ``lr``.

        The gradients are the parameters' ``.grad`` unless given (in parameter order).
        """
        if grads is not None:
            with torch.no_grad():
                self._apply(list(range(len(grads))), grads, lr)
            return
        present = [p.grad for p in self.params]
        idx = [i for i, g in enumerate(present) if g is not None]
        if idx:
            with torch.no_grad():
                self._apply(idx, [g for g in present if g is not None], lr)

    def _apply(self, idx: list[int], grads: list[Tensor], lr: float) -> None:
        hp, kind, wd = self.hp, self.kind, self.hp.weight_decay
        whole = len(idx) == len(self.params)

        def pick(xs: list[Tensor]) -> list[Tensor]:
            return xs if whole else [xs[i] for i in idx]

        params = pick(self.params)
        if kind in ("adam", "adamw"):
            steps = self._count(idx)
            fn = torch._fused_adam_ if kind == "adam" else torch._fused_adamw_
            fn(params, grads, pick(self._avg), pick(self._sq), [], steps, amsgrad=False, lr=lr, beta1=hp.beta1,
               beta2=hp.beta2, weight_decay=wd, eps=ADAM_EPS, maximize=False, grad_scale=None, found_inf=None)
        elif kind == "adagrad" and params[0].device.type == "cpu":
            steps = self._count(idx)
            torch._fused_adagrad_(params, grads, pick(self._sq), steps, lr=lr, lr_decay=0.0, weight_decay=wd,
                                  eps=ADAGRAD_EPS, maximize=False, grad_scale=None, found_inf=None)
        elif kind == "adagrad":  # torch has a fused Adagrad for the CPU only: its multi-tensor steps
            sums = pick(self._sq)
            if wd != 0:
                grads = list(torch._foreach_add(grads, params, alpha=wd))
            torch._foreach_addcmul_(sums, grads, grads, value=1)
            std = torch._foreach_sqrt(sums)
            torch._foreach_add_(std, ADAGRAD_EPS)
            torch._foreach_addcdiv_(params, grads, std, value=-lr)
        elif kind == "rmsprop":  # torch.optim's multi-tensor RMSprop (no momentum, not centered)
            sq = pick(self._sq)
            if wd != 0:
                grads = list(torch._foreach_add(grads, params, alpha=wd))
            torch._foreach_mul_(sq, RMSPROP_ALPHA)
            torch._foreach_addcmul_(sq, grads, grads, value=1 - RMSPROP_ALPHA)
            avg = torch._foreach_sqrt(sq)
            torch._foreach_add_(avg, RMSPROP_EPS)
            torch._foreach_addcdiv_(params, grads, avg, value=-lr)
        elif self.momentum == 0:
            self._sgd(params, grads, [], lr, first=False)
        else:
            fresh = [j for j, i in enumerate(idx) if self._mom[i] is None]
            for j in fresh:  # torch.optim: the buffer starts as the first gradient (the kernel copies it)
                self._mom[idx[j]] = torch.empty_like(grads[j])
            if len(fresh) == len(idx):
                self._sgd(params, grads, [self._mom[i] for i in idx], lr, first=True)  # type: ignore[misc]
                return
            for part, first in ((fresh, True), ([j for j in range(len(idx)) if j not in fresh], False)):
                if part:
                    self._sgd([params[j] for j in part], [grads[j] for j in part],
                              [self._mom[idx[j]] for j in part], lr, first=first)  # type: ignore[misc]

    def _count(self, idx: list[int]) -> list[Tensor]:
        """Advance the step counts of the parameters ``idx`` being updated; their count tensors."""
        if self._counters is not None and len(idx) == len(self.params):
            for c in self._counters:
                c.add_(1)
            return self._steps
        if self._counters is not None:  # a parameter without a gradient: from now on, one count each
            self._steps = [t.clone() for t in self._steps]
            self._counters = None
        steps = [self._steps[i] for i in idx]
        torch._foreach_add_(steps, 1)
        return steps

    def _sgd(self, params: list[Tensor], grads: list[Tensor], bufs: list[Tensor], lr: float, *, first: bool) -> None:
        torch._fused_sgd_(params, grads, bufs, weight_decay=self.hp.weight_decay, momentum=self.momentum, lr=lr,
                          dampening=0.0, nesterov=self.kind == "nesterov", maximize=False, is_first_step=first,
                          grad_scale=None, found_inf=None)
