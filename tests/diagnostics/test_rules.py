"""Edge cases of the rules and the report, on histories written by hand or cut from real runs."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sweepdoctor.diagnostics import (
    EpochRecord,
    FindingCode,
    FoldHistory,
    History,
    Role,
    RunHistory,
    Severity,
    Task,
    diagnose,
)
from tests.diagnostics.test_healthy import Healthy
from tests.diagnostics.test_scenarios import Problems


def _run(train: list[float | None], val: list[float | None] | None = None, *, name: str = "r",
         grads: list[float | None] | None = None, folds: int = 2, **kw: object) -> RunHistory:
    val = val or [t if t is None else t * 1.1 for t in train]
    grads = grads or [1.0] * len(train)
    fold = FoldHistory(tuple(EpochRecord(i, t, v, g, 0.1) for i, (t, v, g) in enumerate(zip(train, val, grads))))
    return RunHistory(name, Role.CANDIDATE, (fold,) * folds, **kw)  # type: ignore[arg-type]


def _codes(history: History, name: str = "r") -> list[FindingCode]:
    return [f.code for f in diagnose(history).for_run(name)]


def test_nan_in_training_loss_is_divergence_and_nothing_else() -> None:
    h = History(Task.CLASSIFICATION, "cross_entropy", (_run([2.0, 1.0, None, None]),))
    assert _codes(h) == [FindingCode.DIVERGENCE]


def test_an_unrecorded_validation_loss_is_not_nan() -> None:
    h = History(Task.REGRESSION, "mse", (_run([1.0, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1, 0.09], [None] * 8),))
    assert FindingCode.DIVERGENCE not in _codes(h)


def test_exploded_cross_entropy_and_a_growing_loss_are_divergence() -> None:
    exploded = _run([1e4, 2.3, 2.3, 2.3, 2.3])
    grown = _run([1.0, 0.5, 0.4, 0.9, 1.2, 1.5])
    h = History(Task.CLASSIFICATION, "cross_entropy", (exploded,))
    (f,) = diagnose(h).for_run("r")
    assert f.code is FindingCode.DIVERGENCE and "reached 1e+04" in f.summary
    h = History(Task.REGRESSION, "mse", (grown,))
    (f,) = diagnose(h).for_run("r")
    assert f.code is FindingCode.DIVERGENCE and f.evidence["grew_folds"] == 2
    # the same numbers under a loss without a natural scale are not an explosion
    assert _codes(History(Task.REGRESSION, "mse", (exploded,))) != [FindingCode.DIVERGENCE]


def test_without_baselines_a_run_that_barely_learned_is_still_diagnosed(problems: Problems) -> None:
    s, _ = problems["slow_convergence"]
    alone = dataclasses.replace(s.history, runs=s.history.candidates)
    codes = _codes(alone, s.run)
    assert FindingCode.SLOW_CONVERGENCE in codes
    assert FindingCode.OPTIMIZATION_FAILURE not in codes and FindingCode.MODEL_BIAS not in codes


def test_without_baselines_a_healthy_run_stays_healthy(healthy_runs: Healthy) -> None:
    h, _ = healthy_runs["digits-adam"]
    assert _codes(dataclasses.replace(h, runs=h.candidates), "digits-adam") == [FindingCode.HEALTHY]


def test_a_pruned_run_is_not_called_slow_and_says_it_was_pruned(problems: Problems) -> None:
    s, _ = problems["slow_convergence"]
    runs = tuple(dataclasses.replace(r, state="pruned") if r.name == s.run else r for r in s.history.runs)
    findings = diagnose(dataclasses.replace(s.history, runs=runs)).for_run(s.run)
    assert FindingCode.SLOW_CONVERGENCE not in {f.code for f in findings}
    assert all("pruned after 10 epochs" in f.summary for f in findings)


def test_mse_for_a_run_that_trains_fine_is_only_a_note(healthy_runs: Healthy) -> None:
    h, _ = healthy_runs["cancer-adam"]
    relabelled = dataclasses.replace(h, loss="mse")  # same curves, the loss name says mse
    findings = diagnose(relabelled).for_run("cancer-adam")
    assert [(f.code, f.severity) for f in findings] == [(FindingCode.MSE_FOR_CLASSIFICATION, Severity.INFO)]


def test_report_json_shape(problems: Problems) -> None:
    s, report = problems["divergence"]
    doc = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(doc) >= {"runs", "findings", "counts", "patterns", "thresholds"}
    names = [r["name"] for r in doc["runs"]]
    assert names == ["candidate", "baseline-linear", "baseline-shallow"]
    for r in doc["runs"]:
        assert r["role"] in ("candidate", "baseline") and r["findings"]
        for f in r["findings"]:
            assert set(f) >= {"code", "severity", "rule", "evidence", "advice"}
            assert f["severity"] in ("info", "warning", "error")
    assert doc["runs"][0]["findings"][0]["code"] == "divergence"
    assert doc["counts"] == {"divergence": 1}


def test_for_run_and_worst_first(problems: Problems, healthy_runs: Healthy) -> None:
    (s, _), (h, _) = problems["divergence"], healthy_runs["digits-adam"]
    bad = dataclasses.replace(s.history.candidates[0], name="trial-1")
    slow = dataclasses.replace(problems["slow_convergence"][0].history.candidates[0], name="trial-2")
    study = dataclasses.replace(h, runs=(h.candidates[0], slow, bad, *h.baselines))
    report = diagnose(study)
    assert [r.run.name for r in report.worst_runs()] == ["trial-1", "trial-2", "digits-adam"]
    assert [r.run.name for r in report.worst_runs(1)] == ["trial-1"]
    assert report.counts()["healthy"] == 1
    assert report.has_any([FindingCode.DIVERGENCE]) and not report.has_any([FindingCode.MISMATCH])
    with pytest.raises(KeyError, match="no run named 'nope'"):
        report.for_run("nope")
