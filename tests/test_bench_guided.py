"""The arithmetic of bench_guided's summary: compute to a target, the ladder, aRT ratios, the sign test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.bench_guided import Sweep, art_ratio, ladder_targets, outer_split, sign_test
from sweepdoctor.sweep import load_builtin


def _sweep(values: list[float], fold_epochs: list[int], *, refs: int = 0, outer: float = math.nan,
           maximize: bool = True) -> Sweep:
    return Sweep(values=values, fold_epochs=fold_epochs, reference_fold_epochs=refs, outer=outer, maximize=maximize)


def test_compute_to_counts_references_and_every_trial_up_to_the_one_that_reaches_the_target() -> None:
    s = _sweep([0.5, math.nan, 0.7, 0.6, 0.9], [50, 10, 50, 50, 50], refs=35)
    assert s.best_so_far()[:4] == [0.5, 0.5, 0.7, 0.7]
    assert s.compute_to(0.7) == 35 + 50 + 10 + 50
    assert s.compute_to(0.9) == 35 + 210
    assert s.compute_to(0.95) == s.total_fold_epochs == 245  # never reached: the whole budget


def test_a_minimized_value_reaches_a_target_from_above() -> None:
    s = _sweep([60.0, 55.0, 58.0], [50, 50, 20], maximize=False)
    assert s.compute_to(56.0) == 100
    assert s.best_so_far() == [60.0, 55.0, 55.0]


def test_ladder_targets_are_the_median_best_so_far_at_each_rung() -> None:
    plain = [_sweep([0.1 * (i + 1) * k for i in range(40)], [1] * 40) for k in (1, 2, 3)]
    targets = ladder_targets(plain)
    assert targets == pytest.approx([0.8 * 2, 1.6 * 2, 2.4 * 2, 4.0 * 2])  # the middle sweep's value at 8, 16, 24, 40
    short = [_sweep([0.3, 0.2], [1, 1])]
    assert ladder_targets(short) == [0.3] * 4  # a shorter sweep: its best at its last trial


def test_art_ratio_is_plain_compute_over_the_arms_averaged_over_targets() -> None:
    values = [0.1 * (i + 1) for i in range(40)]
    plain = [_sweep(values, [10] * 40)]
    half = [_sweep(values, [5] * 40)]  # the same trajectory at half the cost per trial
    table = {"d": {"plain+median": plain, "x": half, "plain+median-copy": plain}}
    assert art_ratio(table, "x") == pytest.approx(2.0)
    assert art_ratio(table, "plain+median-copy") == pytest.approx(1.0)


def test_the_sign_test_pairs_by_seed_and_counts_ties_apart() -> None:
    base = [_sweep([0.5], [1], outer=o) for o in (0.90, 0.90, 0.80, 0.70, 0.60, 0.50)]
    arm = [_sweep([0.5], [1], outer=o) for o in (0.95, 0.90, 0.85, 0.75, 0.65, 0.55)]
    wins, losses, ties, p = sign_test({"d": {"plain+median": base, "a": arm}}, "a")
    assert (wins, losses, ties) == (5, 0, 1)
    assert p == pytest.approx(2 * 0.5**5)
    worse = [_sweep([0.5], [1], outer=o - 0.1) for o in (0.90, 0.90)]
    assert sign_test({"d": {"plain+median": base[:2], "a": worse}}, "a")[:3] == (0, 2, 0)


def test_the_outer_split_is_stratified_disjoint_and_seeded() -> None:
    ds = load_builtin("wine")
    inner, X_te, y_te = outer_split(ds, 3)
    assert len(inner.y) + len(y_te) == len(ds.y) and len(y_te) == math.ceil(0.2 * len(ds.y))
    assert np.bincount(y_te).tolist() == pytest.approx(np.bincount(ds.y) * 0.2, abs=1)
    rows = {r.tobytes() for r in inner.X}
    assert not any(r.tobytes() in rows for r in X_te)
    again, X2, _ = outer_split(ds, 3)
    assert np.array_equal(X2, X_te) and not np.array_equal(outer_split(ds, 4)[1], X_te)
