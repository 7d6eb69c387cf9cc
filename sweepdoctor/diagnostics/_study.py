"""Study-level diagnosis: sharp minima of large batches (rules.md §3), and where in the
search space each finding occurs ("14 of 16 trials with lr > 0.28 diverged").
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweepdoctor.diagnostics import _curves as c
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._history import RunHistory
from sweepdoctor.diagnostics._rules import fmt, sig
from sweepdoctor.diagnostics._thresholds import Thresholds

__all__ = ["Pattern", "find_patterns", "sharp_minimum"]

_VERBS = {
    FindingCode.DIVERGENCE: "diverged",
    FindingCode.OVERFITTING: "overfit",
    FindingCode.HEALTHY: "were healthy",
}


@dataclass(frozen=True)
class Pattern:
    """A region of the search space where one finding concentrates."""

    code: FindingCode
    parameter: str
    op: str  # ">", "<=" or "=="
    value: Any
    n_code: int  # trials in the region with the finding
    n_region: int  # trials in the region
    n_code_total: int  # trials with the finding anywhere
    n_trials: int

    @property
    def summary(self) -> str:
        value = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        verb = _VERBS.get(self.code, f"got {self.code.value}")
        return f"{self.n_code} of {self.n_region} trials with {self.parameter} {self.op} {value} {verb}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.value, "parameter": self.parameter, "op": self.op, "value": self.value,
            "n_code": self.n_code, "n_region": self.n_region, "n_code_total": self.n_code_total,
            "n_trials": self.n_trials, "summary": self.summary,
        }


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _regions(values: Sequence[Any], has: Sequence[bool]) -> Iterator[tuple[str, Any, int, int]]:
    """``(op, value, n_region, n_code)`` for every threshold split of a numeric parameter
    (one sorted pass with running counts), or every value of a categorical one."""
    known = [(v, h) for v, h in zip(values, has) if v is not None]
    if all(_is_number(v) for v, _ in known):
        known.sort(key=lambda vh: vh[0])
        n_all, code_all = len(known), sum(h for _, h in known)
        n_le = code_le = 0
        for i, (v, h) in enumerate(known[:-1]):
            n_le, code_le = n_le + 1, code_le + h
            if known[i + 1][0] != v:  # a cut between two distinct values
                yield "<=", v, n_le, code_le
                yield ">", v, n_all - n_le, code_all - code_le
        return
    counts: dict[str, list[int]] = {}
    for v, h in known:
        c = counts.setdefault(str(v), [0, 0])
        c[0], c[1] = c[0] + 1, c[1] + h
    for k in sorted(counts):
        yield "==", k, counts[k][0], counts[k][1]


def find_patterns(
    codes_by_run: Mapping[str, set[FindingCode]], runs: Sequence[RunHistory], th: Thresholds, *, per_code: int = 3
) -> list[Pattern]:
    """For each finding, the parameter regions where it concentrates (best first).

    A region qualifies when it holds at least ``pattern_min_count`` trials with the
    finding, ``pattern_min_precision`` of its trials have it, it covers
    ``pattern_min_coverage`` of all trials with it, and it concentrates the finding
    clearly more than the study as a whole does (``pattern_min_lift``).
    """
    n = len(runs)
    keys = sorted({k for r in runs for k in r.hyperparameters})
    out: list[Pattern] = []
    for code in sorted({code for codes in codes_by_run.values() for code in codes}, key=lambda x: x.value):
        has = [code in codes_by_run.get(r.name, set()) for r in runs]
        total = sum(has)
        if total < th.pattern_min_count:
            continue
        best: dict[str, tuple[float, Pattern]] = {}
        for key in keys:
            values = [r.hyperparameters.get(key) for r in runs]
            if len({str(v) for v in values if v is not None}) < 2:
                continue
            for op, value, n_region, n_code in _regions(values, has):
                precision = n_code / n_region if n_region else 0.0
                if n_code < th.pattern_min_count or precision < th.pattern_min_precision:
                    continue
                base = total / n
                if n_code / total < th.pattern_min_coverage or precision < base + th.pattern_min_lift * (1 - base):
                    continue
                if precision <= base:
                    continue
                score = (precision - base) * n_code / total
                if key not in best or score > best[key][0]:
                    best[key] = (score, Pattern(code, key, op, value, n_code, n_region, total, n))
        ranked = sorted(best.values(), key=lambda sp: -sp[0])
        out.extend(p for _, p in ranked[:per_code])
    return out


def sharp_minimum(runs: Sequence[RunHistory], sharpness: Mapping[str, float], th: Thresholds) -> Finding | None:
    """Large-batch trials end sharper and generalize worse than small-batch ones (rules.md §3).

    ``sharpness`` maps run names to the top Hessian eigenvalue at their final weights.
    Trials are split at the median batch size; the rule needs both halves.
    """
    rows = []
    for r in runs:
        bs, s = r.hyperparameters.get("batch_size"), sharpness.get(r.name)
        gap = _gap(r)
        if isinstance(bs, (int, float)) and not isinstance(bs, bool) and s is not None and gap is not None:
            rows.append((float(bs), s, gap, r.name))
    sizes = sorted({bs for bs, *_ in rows})
    if len(sizes) < 2:
        return None
    cut = sizes[(len(sizes) - 1) // 2]
    small = [row for row in rows if row[0] <= cut]
    large = [row for row in rows if row[0] > cut]
    s_small, s_large = statistics.median(r[1] for r in small), statistics.median(r[1] for r in large)
    g_small, g_large = statistics.median(r[2] for r in small), statistics.median(r[2] for r in large)
    if s_large < th.sharpness_ratio * s_small:
        return None
    if g_large <= g_small:
        return None
    return Finding(
        code=FindingCode.SHARP_MINIMUM,
        severity=Severity.WARNING,
        rule="rules.md §3",
        summary=(
            f"trials with batch_size > {cut:g} end at a top Hessian eigenvalue of {fmt(s_large)} vs "
            f"{fmt(s_small)} for batch_size <= {cut:g}, with a generalization gap of {fmt(g_large)} vs {fmt(g_small)}"
        ),
        advice=(
            f"prefer smaller batches (batch_size <= {cut:g} in the search space): their noise tends to find "
            "flatter minima that generalize better (Keskar et al. 2017; plausible, not settled)"
        ),
        evidence={
            "batch_size_cut": cut, "n_small": len(small), "n_large": len(large),
            "sharpness_small": sig(s_small), "sharpness_large": sig(s_large),
            "gap_small": sig(g_small), "gap_large": sig(g_large),
            "runs_large": [r[3] for r in large], "runs_small": [r[3] for r in small],
        },
        run=None,
    )


def _gap(run: RunHistory) -> float | None:
    """Generalization gap: final validation loss minus final training loss (fold mean)."""
    gaps = []
    for fold in run.folds:
        train, val = c.finite(c.fold_curve(fold, "train_loss")), c.finite(c.fold_curve(fold, "val_loss"))
        if train and val:
            gaps.append(val[-1] - train[-1])
    return c.mean(gaps)
