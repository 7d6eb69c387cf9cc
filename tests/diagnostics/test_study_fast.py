"""Study level (``_study.py``) on hand-made runs, in milliseconds: the search-space patterns
(each of ``pattern_min_count`` 3, ``pattern_min_precision`` 0.6, ``pattern_min_coverage``
0.5 and ``pattern_min_lift`` 0.5 met exactly and just missed) and the sharp minima of large
batches (``sharpness_ratio`` 1.5 met exactly and just missed). The ratios are exact in
floating point (3/5 == 0.6, 0.5 + 0.5 * 0.5 == 0.75).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from sweepdoctor.diagnostics import FindingCode, RunHistory, Severity
from sweepdoctor.diagnostics._study import Pattern, _gap, _regions, find_patterns, sharp_minimum
from sweepdoctor.diagnostics._thresholds import Thresholds
from tests.diagnostics._handmade import fold, run

X = FindingCode.OSCILLATION


def study(rows: Sequence[tuple[dict[str, Any], bool]]) -> tuple[dict[str, set[FindingCode]], list[RunHistory]]:
    """Runs ``t0``, ``t1``... with the given hyperparameters; those marked True have ``X``, the others are healthy."""
    runs = [run(f"t{i}", hp=hp) for i, (hp, _) in enumerate(rows)]
    codes = {f"t{i}": {X} if has else {FindingCode.HEALTHY} for i, (_, has) in enumerate(rows)}
    return codes, runs


def th(**values: float) -> Thresholds:
    return Thresholds.from_mapping(values)


def where(found: list[Pattern], code: FindingCode = X) -> list[tuple[str, str, Any, int, int, int, int]]:
    return [(p.parameter, p.op, p.value, p.n_code, p.n_region, p.n_code_total, p.n_trials)
            for p in found if p.code is code]


# ---- the regions of one parameter ---------------------------------------------------------


def test_numeric_regions_cut_between_distinct_values_only() -> None:
    got = list(_regions([3, 1, None, 2, 2.0], [True, False, True, True, False]))
    assert got == [("<=", 1, 1, 0), (">", 1, 3, 2), ("<=", 2, 3, 1), (">", 2, 1, 1)]
    assert list(_regions([5], [True])) == []


def test_categorical_regions_count_each_value() -> None:
    got = list(_regions(["b", "a", None, "b", 1], [True, False, True, False, True]))
    assert got == [("==", "1", 1, 1), ("==", "a", 1, 0), ("==", "b", 2, 1)]
    # a flag is a category, not the numbers 0 and 1
    assert list(_regions([True, False, True], [True, False, True])) == [("==", "False", 1, 0), ("==", "True", 2, 2)]


# ---- the patterns ---------------------------------------------------------------------------


def test_the_region_that_concentrates_the_finding_best() -> None:
    # lr 1..6, X on 4, 5, 6: "lr > 3" holds all three (precision 1); "lr > 2" holds them at 0.75
    codes, runs = study([({"lr": float(v)}, v > 3) for v in range(1, 7)])
    found = find_patterns(codes, runs, Thresholds())
    assert where(found) == [("lr", ">", 3.0, 3, 3, 3, 6)]
    assert where(found, FindingCode.HEALTHY) == [("lr", "<=", 3.0, 3, 3, 3, 6)]
    assert [p.code for p in found] == [FindingCode.HEALTHY, X]  # codes in the order of their names


def test_the_best_region_trades_precision_against_coverage() -> None:
    # X on lr 3 and 5..10 of 1..12 (7 of 12, base 0.5833): score = (precision - base) * coverage
    codes, runs = study([({"lr": v}, v == 3 or 5 <= v <= 10) for v in range(1, 13)])
    assert where(find_patterns(codes, runs, Thresholds())) == []  # no region reaches the lift bar 0.7917
    loose = th(pattern_min_lift=1e-9, pattern_min_precision=1e-9)
    # "lr > 4": 6 of 8 (0.75), covers 6/7: 0.1429, beats "lr > 2" and "lr <= 10": 7 of 10, all 7: 0.1167
    assert where(find_patterns(codes, runs, loose)) == [("lr", ">", 4, 6, 8, 7, 12)]
    # covering 90%: "> 2" and "<= 10" tie, the first cut found stays
    assert where(find_patterns(codes, runs, th(pattern_min_lift=1e-9, pattern_min_precision=1e-9,
                                               pattern_min_coverage=0.9))) == [("lr", ">", 2, 7, 10, 7, 12)]


def test_count_threshold_on_the_study_and_on_the_region() -> None:
    # opt a: 3 of 3 with X, opt b: 1 of 3: total 4, region "a" holds exactly pattern_min_count = 3
    codes, runs = study([({"opt": "a"}, True)] * 3 + [({"opt": "b"}, i == 0) for i in range(3)])
    assert where(find_patterns(codes, runs, Thresholds())) == [("opt", "==", "a", 3, 3, 4, 6)]
    assert where(find_patterns(codes, runs, th(pattern_min_count=4))) == []  # the study has 4, the region 3
    # a study with exactly pattern_min_count trials with the finding
    codes, runs = study([({"opt": "a"}, True)] * 3 + [({"opt": "b"}, False)] * 3)
    assert where(find_patterns(codes, runs, Thresholds())) == [("opt", "==", "a", 3, 3, 3, 6)]


def test_precision_threshold() -> None:
    # opt a: 3 of 5 (precision exactly 0.6), opt b: 0 of 5; the lift bar is lowered out of the way
    codes, runs = study([({"opt": "a"}, i < 3) for i in range(5)] + [({"opt": "b"}, False)] * 5)
    assert where(find_patterns(codes, runs, th(pattern_min_lift=1e-9))) == [("opt", "==", "a", 3, 5, 3, 10)]
    assert where(find_patterns(codes, runs, th(pattern_min_lift=1e-9, pattern_min_precision=0.61))) == []


def test_coverage_threshold_and_one_region_per_parameter() -> None:
    # opt a: 3 of 3, b: 3 of 3, c: 0 of 6: each of "a" and "b" covers exactly half of the 6 with X
    rows = [({"opt": "a"}, True)] * 3 + [({"opt": "b"}, True)] * 3 + [({"opt": "c"}, False)] * 6
    codes, runs = study(rows)
    assert where(find_patterns(codes, runs, Thresholds())) == [("opt", "==", "a", 3, 3, 6, 12)]  # the first of a tie
    assert where(find_patterns(codes, runs, th(pattern_min_coverage=0.51))) == []


def test_lift_threshold() -> None:
    # opt a: 3 of 4, b: 0 of 2: base 0.5, precision exactly 0.5 + 0.5 * (1 - 0.5) = 0.75
    codes, runs = study([({"opt": "a"}, i < 3) for i in range(4)] + [({"opt": "b"}, False)] * 2)
    assert where(find_patterns(codes, runs, Thresholds())) == [("opt", "==", "a", 3, 4, 3, 6)]
    assert where(find_patterns(codes, runs, th(pattern_min_lift=0.51))) == []


def test_no_pattern_where_every_trial_has_the_finding() -> None:
    # every trial has X: no region can concentrate it more than the study does
    codes, runs = study([({"opt": "a"}, True)] * 3 + [({"opt": "b"}, True)] * 3)
    assert where(find_patterns(codes, runs, Thresholds())) == []


def test_parameters_with_one_known_value_are_skipped() -> None:
    # "extra" is set only on the trials with X: one known value, no region, although it would be a perfect one
    rows = [({"opt": "a", "extra": "on"}, True)] * 3 + [({"opt": "b"}, False)] * 3 + [({"opt": "a"}, False)] * 3
    codes, runs = study(rows)
    found = find_patterns(codes, runs, th(pattern_min_lift=1e-9, pattern_min_precision=0.5))
    assert where(found) == [("opt", "==", "a", 3, 6, 3, 9)]


def test_parameters_ranked_by_score_and_cut_at_per_code() -> None:
    # X on the 4 trials with a = 1; b = 1 on 3 of them and 1 other; c = 1 on 3 of them and 2 others
    rows = [({"a": 1, "b": 1, "c": 1}, True)] * 3 + [({"a": 1, "b": 0, "c": 0}, True)]
    rows += [({"a": 0, "b": 1, "c": 1}, False), ({"a": 0, "b": 0, "c": 1}, False)]
    rows += [({"a": 0, "b": 0, "c": 0}, False)] * 4
    codes, runs = study(rows)
    loose = th(pattern_min_lift=1e-9, pattern_min_precision=1e-9)
    found = where(find_patterns(codes, runs, loose))
    # scores: a > 0: (1 - 0.4) * 1 = 0.6; b > 0: (0.75 - 0.4) * 0.75 = 0.2625; c > 0: (0.6 - 0.4) * 0.75 = 0.15
    assert found == [("a", ">", 0, 4, 4, 4, 10), ("b", ">", 0, 3, 4, 4, 10), ("c", ">", 0, 3, 5, 4, 10)]
    assert where(find_patterns(codes, runs, loose, per_code=2)) == found[:2]


def test_three_parameters_at_most_by_default() -> None:
    # four parameters that split the trials alike
    codes, runs = study([({k: int(has) for k in "abcd"}, has) for has in [True] * 3 + [False] * 3])
    assert [p.parameter for p in find_patterns(codes, runs, Thresholds()) if p.code is X] == ["a", "b", "c"]


def test_score_weighs_the_share_of_the_finding_covered() -> None:
    # 9 of 18 trials with X (base 0.5); every bar lowered. "a == y": 9 of 12 (lift 0.25, all 9): 0.25;
    # "b == y": 3 of 3 (lift 0.5, a third of them): 0.1667; the wider region ranks first
    rows = [({"a": "y", "b": "y"}, True)] * 3 + [({"a": "y", "b": "n"}, True)] * 6
    rows += [({"a": "y", "b": "n"}, False)] * 3 + [({"a": "n", "b": "n"}, False)] * 6
    codes, runs = study(rows)
    loose = th(pattern_min_lift=1e-9, pattern_min_precision=1e-9, pattern_min_coverage=1e-9)
    assert where(find_patterns(codes, runs, loose)) == [("a", "==", "y", 9, 12, 9, 18), ("b", "==", "y", 3, 3, 9, 18)]
    assert where(find_patterns(codes, runs, loose, per_code=1)) == [("a", "==", "y", 9, 12, 9, 18)]


def test_runs_without_findings_count_as_trials_without_them() -> None:
    codes, runs = study([({"lr": float(v)}, v > 3) for v in range(1, 7)])
    del codes["t0"], codes["t1"], codes["t2"]  # the healthy ones: not diagnosed at all
    assert where(find_patterns(codes, runs, Thresholds())) == [("lr", ">", 3.0, 3, 3, 3, 6)]


def test_pattern_sentences_and_dict() -> None:
    p = Pattern(FindingCode.DIVERGENCE, "lr", ">", 0.281234, 14, 16, 15, 40)
    assert p.summary == "14 of 16 trials with lr > 0.2812 diverged"
    assert p.to_dict() == {"code": "divergence", "parameter": "lr", "op": ">", "value": 0.281234, "n_code": 14,
                           "n_region": 16, "n_code_total": 15, "n_trials": 40, "summary": p.summary}
    overfit = Pattern(FindingCode.OVERFITTING, "depth", "<=", 3, 4, 5, 4, 9)
    assert overfit.summary == "4 of 5 trials with depth <= 3 overfit"
    assert Pattern(FindingCode.HEALTHY, "opt", "==", "adam", 3, 3, 3, 6).summary == (
        "3 of 3 trials with opt == adam were healthy")
    assert Pattern(X, "opt", "==", "sgd", 3, 4, 3, 6).summary == "3 of 4 trials with opt == sgd got oscillation"


# ---- sharp minima of large batches -------------------------------------------------------------


def batch_run(name: str, bs: Any, gap: float, train: float = 1.0) -> RunHistory:
    return run(name, hp={"batch_size": bs}, curves=(fold([2.0, train], [2.0, train + gap]),))


def batches(large_sharpness: float = 4.0,
            large_gaps: tuple[float, float] = (0.5, 0.75)) -> tuple[list[RunHistory], dict[str, float]]:
    """Sizes 8, 8, 32 (the median size: small) and 128, 128; small sharpness 1, 2, 3 (median 2), gaps 0.25 median."""
    runs = [batch_run("s1", 8, 0.125), batch_run("s2", 8, 0.25), batch_run("s3", 32, 0.5),
            batch_run("l1", 128, large_gaps[0]), batch_run("l2", 128, large_gaps[1])]
    sharp = {"s1": 1.0, "s2": 3.0, "s3": 2.0, "l1": large_sharpness - 1.0, "l2": large_sharpness + 1.0}
    return runs, sharp


def test_large_batches_sharper_and_worse() -> None:
    runs, sharp = batches()
    f = sharp_minimum(runs, sharp, Thresholds())
    assert f is not None
    assert (f.code, f.severity, f.rule, f.run) == (FindingCode.SHARP_MINIMUM, Severity.WARNING, "rules.md §3", None)
    assert f.evidence == {
        "batch_size_cut": 32.0, "n_small": 3, "n_large": 2, "sharpness_small": 2.0, "sharpness_large": 4.0,
        "gap_small": 0.25, "gap_large": 0.625, "runs_large": ["l1", "l2"], "runs_small": ["s1", "s2", "s3"],
    }
    assert f.summary == ("trials with batch_size > 32 end at a top Hessian eigenvalue of 4 vs 2 for batch_size <= 32, "
                         "with a generalization gap of 0.625 vs 0.25")
    assert f.advice.startswith("prefer smaller batches (batch_size <= 32 in the search space): their noise")
    assert f.advice.endswith("(Keskar et al. 2017; plausible, not settled)")


def test_sharpness_ratio_met_exactly_and_just_missed() -> None:
    runs, sharp = batches(large_sharpness=3.0)  # exactly 1.5 x 2
    f = sharp_minimum(runs, sharp, Thresholds())
    assert f is not None and f.evidence["sharpness_large"] == 3.0
    runs, sharp = batches(large_sharpness=2.9921875)
    assert sharp_minimum(runs, sharp, Thresholds()) is None
    runs, sharp = batches()
    assert sharp_minimum(runs, sharp, th(sharpness_ratio=2.0)) is not None
    assert sharp_minimum(runs, sharp, th(sharpness_ratio=2.0078125)) is None


def test_no_sharp_minimum_when_large_batches_generalize_as_well() -> None:
    runs, sharp = batches(large_gaps=(0.125, 0.375))  # median 0.25: the same gap
    assert sharp_minimum(runs, sharp, Thresholds()) is None
    runs, sharp = batches(large_gaps=(0.125, 0.390625))
    f = sharp_minimum(runs, sharp, Thresholds())
    assert f is not None and f.evidence["gap_large"] == 0.2578


def test_only_trials_with_a_batch_size_sharpness_and_gap_count() -> None:
    runs, sharp = batches()
    extra = [batch_run("flag", True, 9.0), batch_run("text", "64", 9.0), batch_run("unmeasured", 256, 9.0),
             run("no-val", hp={"batch_size": 512}, curves=(fold([1.0, 1.0]),)), batch_run("float", 256.0, 1.0)]
    sharp |= {"flag": 0.5, "text": 50.0, "no-val": 50.0, "float": 5.0}
    f = sharp_minimum(runs + extra, sharp, Thresholds())
    assert f is not None
    assert f.evidence["runs_large"] == ["l1", "l2", "float"] and f.evidence["runs_small"] == ["s1", "s2", "s3"]
    assert f.evidence["batch_size_cut"] == 32.0  # sizes 8, 32, 128, 256: the second


def test_two_batch_sizes_are_enough() -> None:
    runs, sharp = batches()
    runs[2] = batch_run("s3", 8, 0.5)
    f = sharp_minimum(runs, sharp, Thresholds())
    assert f is not None and f.evidence["batch_size_cut"] == 8.0 and f.evidence["n_small"] == 3


@pytest.mark.parametrize("names", [("s1", "s2"), ("s1", "s2", "l1", "l2")])
def test_one_batch_size_or_none_measured_is_no_comparison(names: tuple[str, ...]) -> None:
    runs, sharp = batches()
    if len(names) == 2:
        assert sharp_minimum(runs, {n: sharp[n] for n in names}, Thresholds()) is None
    else:
        assert sharp_minimum(runs, {}, Thresholds()) is None


def test_gap_is_the_fold_mean_of_the_last_known_losses() -> None:
    r = run(curves=(fold([2.0, 1.5, 1.0], [2.0, 1.75, 1.5]), fold([3.0, 2.0, 0.5, None], [3.0, 2.5, 1.25, None]),
                    fold([1.0], None)))
    assert _gap(r) == pytest.approx((0.5 + 0.75) / 2)
    assert _gap(run(curves=(fold([1.0]),))) is None
