"""Learning-rate schedules as pure functions of training progress (RULES.md §4)."""

from __future__ import annotations

import math

__all__ = ["WARMUP_FRACTION", "lr_factor"]

# Warm-up covers the first 10% of the steps: long enough for Adam's second-moment
# estimate (σ) to settle, short enough not to waste a 20-epoch run.
WARMUP_FRACTION = 0.1
# Exponential decay ends at 1% of the base rate.
EXPONENTIAL_FINAL = 0.01


def lr_factor(schedule: str, step: int, total_steps: int) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total_steps``.

    1. constant:    1
    2. step:        1, then ×0.1 at 50% of training, ×0.01 at 75%
    3. exponential: 0.01 ** progress (smooth decay to 1%)
    4. cosine:      half a cosine from 1 to 0
    5. warmup:      linear from ~0 to 1 over the first 10%, then cosine to 0
    """
    total = max(1, total_steps)
    p = min(1.0, step / total)
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return 1.0 if p < 0.5 else (0.1 if p < 0.75 else 0.01)
    if schedule == "exponential":
        return float(EXPONENTIAL_FINAL**p)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))
    if schedule == "warmup":
        warm = max(1, int(WARMUP_FRACTION * total))
        if step < warm:
            return (step + 1) / warm
        q = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, q)))
    raise ValueError(f"unknown schedule {schedule!r}")
