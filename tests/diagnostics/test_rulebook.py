"""The shipped rules: every finding code has its rule, and every finding cites what ships."""

from __future__ import annotations

import re

import pytest

from sweepdoctor.diagnostics import FindingCode, Thresholds, rule_doc, rule_docs, rules_text
from sweepdoctor.errors import ConfigError
from tests.diagnostics import scenarios
from tests.diagnostics.test_scenarios import Problems


def test_every_code_has_a_rule_with_thresholds_that_exist() -> None:
    docs = {d.code: d for d in rule_docs()}
    assert set(docs) == set(FindingCode)
    known = set(Thresholds().as_dict())
    for d in docs.values():
        assert d.text and d.evidence and d.section.startswith("§")
        entry = rules_text().split(f"### {d.code.value}\n")[1]
        line = entry[entry.index("- thresholds:"):entry.index("- evidence:")]
        named = set(re.findall(r"`(\w+)`", line))
        assert named <= known, (d.code, named - known)  # no threshold named that the code does not have
        assert set(d.thresholds) == named


def test_thresholds_are_the_live_values() -> None:
    assert rule_doc("critical_point").thresholds["grad_loss_ratio"] == Thresholds().grad_loss_ratio
    changed = Thresholds.from_mapping({"grad_loss_ratio": 0.05})
    assert rule_doc(FindingCode.CRITICAL_POINT, thresholds=changed).thresholds["grad_loss_ratio"] == 0.05


def test_an_unknown_code_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown finding code 'nope'; valid codes: healthy"):
        rule_doc("nope")


@pytest.mark.parametrize("name", ["divergence", "overfitting", "critical_point", "mse_for_classification"])
def test_findings_cite_the_section_of_their_code(problems: Problems, name: str) -> None:
    s, report = problems[name]
    for f in report.findings:
        assert f.rule == rule_doc(f.code).citation, (f.code, f.rule)


def test_study_findings_cite_their_section() -> None:
    h = scenarios.lr_study()
    from sweepdoctor.diagnostics import diagnose

    for f in diagnose(h).findings:
        assert f.rule == rule_doc(f.code).citation


def test_rules_md_ships_in_the_wheel_configuration() -> None:
    from pathlib import Path

    import tomllib

    doc = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "rules.md" in doc["tool"]["setuptools"]["package-data"]["sweepdoctor.diagnostics"]
