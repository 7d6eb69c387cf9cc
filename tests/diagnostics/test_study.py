"""Study level: sharp minima of large batches (rules.md §3) and search-space patterns."""

from __future__ import annotations

import pytest

from sweepdoctor.diagnostics import FindingCode, History, Pattern, Severity, Thresholds, diagnose
from sweepdoctor.diagnostics._study import find_patterns
from tests.diagnostics import scenarios


@pytest.fixture(scope="module")
def noisy_batches() -> tuple[History, dict[str, float]]:
    return scenarios.sharp_minimum()


def test_large_batches_end_sharper_and_generalize_worse(noisy_batches: tuple[History, dict[str, float]]) -> None:
    h, sharpness = noisy_batches
    large = [sharpness[r.name] for r in h.candidates if r.hyperparameters["batch_size"] == 1024]
    small = [sharpness[r.name] for r in h.candidates if r.hyperparameters["batch_size"] == 8]
    assert min(large) > max(small)  # the training runs really show the effect
    report = diagnose(h, sharpness=sharpness)
    (f,) = report.study_findings
    assert f.code is FindingCode.SHARP_MINIMUM and f.run is None and f.rule == "rules.md §3"
    assert f.severity is Severity.WARNING and f.evidence["batch_size_cut"] == 8
    assert f.evidence["sharpness_large"] >= 1.5 * f.evidence["sharpness_small"]
    assert f.evidence["gap_large"] > f.evidence["gap_small"]
    assert sorted(f.evidence["runs_large"]) == ["trial-bs1024-s0", "trial-bs1024-s1"]
    assert "batch_size <= 8" in f.advice
    assert report.to_dict()["findings"][0]["code"] == "sharp_minimum"


def test_no_sharp_minimum_without_sharpness_or_when_batches_end_alike(
    noisy_batches: tuple[History, dict[str, float]],
) -> None:
    h, sharpness = noisy_batches
    assert diagnose(h).study_findings == ()  # sharpness needs the Hessian
    strict = Thresholds.from_mapping({"sharpness_ratio": 100})
    assert diagnose(h, sharpness=sharpness, thresholds=strict).study_findings == ()
    small_only = {k: v for k, v in sharpness.items() if "bs8" in k}
    assert diagnose(h, sharpness=small_only).study_findings == ()  # one batch size: nothing to compare
    alike, alike_sharpness = scenarios.sharp_minimum((0,), noisy=False)
    values = sorted(alike_sharpness.values())
    assert values[1] < 1.5 * values[0]
    assert diagnose(alike, sharpness=alike_sharpness).study_findings == ()


def test_where_in_the_search_space_divergence_happens() -> None:
    report = diagnose(scenarios.lr_study())
    by_code = {p.code: p for p in report.patterns}
    p = by_code[FindingCode.DIVERGENCE]
    assert (p.parameter, p.op, p.value, p.n_code, p.n_region) == ("lr", ">", 0.1, 3, 3)
    assert p.summary == "3 of 3 trials with lr > 0.1 diverged"
    assert report.counts() == {"divergence": 3, "healthy": 3}
    assert report.to_dict()["patterns"][0]["summary"].endswith("diverged")


def test_pattern_thresholds() -> None:
    from sweepdoctor.diagnostics import EpochRecord, FoldHistory, Role, RunHistory

    fold = (FoldHistory((EpochRecord(0, 1.0, 1.0, 1.0, 0.1),)),)
    runs = [RunHistory(f"t{i}", Role.CANDIDATE, fold, hyperparameters={"optimizer": opt, "lr": lr})
            for i, (opt, lr) in enumerate([("sgd", 1.0), ("sgd", 2.0), ("sgd", 3.0), ("adam", 4.0), ("adam", 5.0)])]
    codes = {"t0": {FindingCode.OSCILLATION}, "t1": {FindingCode.OSCILLATION}, "t2": {FindingCode.OSCILLATION},
             "t3": {FindingCode.HEALTHY}, "t4": {FindingCode.HEALTHY}}
    found = find_patterns(codes, runs, Thresholds())
    osc = [p for p in found if p.code is FindingCode.OSCILLATION]
    assert {(p.parameter, p.op, str(p.value)) for p in osc} == {("lr", "<=", "3.0"), ("optimizer", "==", "sgd")}
    assert all(isinstance(p, Pattern) and p.n_code == 3 == p.n_region for p in osc)
    assert "got oscillation" in osc[0].summary
    # two healthy trials are below pattern_min_count=3
    assert not [p for p in found if p.code is FindingCode.HEALTHY]
    assert find_patterns(codes, runs, Thresholds.from_mapping({"pattern_min_count": 4})) == []
