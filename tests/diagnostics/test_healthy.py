"""The healthy set: well-tuned runs on different data and optimizers must get only ``healthy``."""

from __future__ import annotations

import pytest

from sweepdoctor.diagnostics import FindingCode, History, Report, Role
from tests.diagnostics import scenarios
from tests.diagnostics.conftest import Lazy

Healthy = Lazy[str, tuple[History, Report]]


def test_the_healthy_set_is_varied() -> None:
    datasets = {ds for ds, _ in scenarios.HEALTHY.values()}
    optimizers = {cfg.optimizer for _, cfg in scenarios.HEALTHY.values()}
    assert len(scenarios.HEALTHY) >= 10 and len(datasets) >= 7 and len(optimizers) >= 4


@pytest.mark.parametrize("name", list(scenarios.HEALTHY))
def test_healthy_run_gets_only_healthy(healthy_runs: Healthy, name: str) -> None:
    _, report = healthy_runs[name]
    findings = report.for_run(name)
    assert [f.code for f in findings] == [FindingCode.HEALTHY], [f.summary for f in findings]
    (f,) = findings
    assert f.evidence["references"] == ["baseline-linear", "baseline-shallow"]
    assert report.study_findings == ()


def test_false_alarm_rate_is_zero(healthy_runs: Healthy) -> None:
    flagged = [n for n in scenarios.HEALTHY if healthy_runs[n][1].for_run(n)[0].code is not FindingCode.HEALTHY]
    assert flagged == []


def test_healthy_runs_would_be_flagged_without_their_safeguards(healthy_runs: Healthy) -> None:
    """The quiet verdicts come from the rules' conditions, not from rules that never fire:
    with the reference comparisons made loose, regularized healthy runs do get flagged."""
    from sweepdoctor.diagnostics import Thresholds, diagnose

    loose = Thresholds.from_mapping({"reference_ratio": 1e-9, "overfit_val_rise": 1e-9})
    h, _ = healthy_runs["digits-adam"]
    codes = {f.code for f in diagnose(h, thresholds=loose).for_run("digits-adam")}
    assert FindingCode.OVERFITTING in codes


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_more_seeds(seed: int) -> None:
    """Other fold splits and initializations: at most 5% false alarms, and every problem detected."""
    from sweepdoctor.diagnostics import diagnose

    alarms = [n for n in scenarios.HEALTHY if diagnose(scenarios.healthy(n, seed)).for_run(n)[0].code
              is not FindingCode.HEALTHY]
    assert len(alarms) <= 0.05 * len(scenarios.HEALTHY), alarms
    for name, make in scenarios.PROBLEMS.items():
        s = make(seed)
        report = diagnose(s.history)
        codes = {f.code for f in report.for_run(s.run)}
        assert s.expected in codes and not codes & s.forbidden, (name, codes)
        assert all(r.findings for r in report.runs if r.run.role is Role.CANDIDATE)
