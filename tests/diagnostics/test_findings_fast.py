"""A finding as a plain dict (``_findings.py``): the words the JSON report and the service read."""

from __future__ import annotations

import json
from types import MappingProxyType

from sweepdoctor.diagnostics import Finding, FindingCode, Severity


def test_a_finding_as_a_dict() -> None:
    evidence = MappingProxyType({"train_loss": 0.5, "folds": 3})
    f = Finding(FindingCode.SLOW_CONVERGENCE, Severity.WARNING, "rules.md §4", "slow", "raise lr", evidence,
                run="trial 3", confidence=0.62)
    d = f.to_dict()
    assert d == {"code": "slow_convergence", "severity": "warning", "rule": "rules.md §4", "summary": "slow",
                 "evidence": {"train_loss": 0.5, "folds": 3}, "advice": "raise lr", "run": "trial 3",
                 "confidence": 0.62}
    assert type(d["code"]) is str and type(d["severity"]) is str and type(d["evidence"]) is dict
    assert json.loads(json.dumps(d)) == d  # plain JSON


def test_a_study_level_finding_has_no_run_and_full_confidence_by_default() -> None:
    d = Finding(FindingCode.SHARP_MINIMUM, Severity.INFO, "rules.md §3", "s", "a").to_dict()
    assert d["run"] is None and d["confidence"] == 1.0 and d["evidence"] == {}
