"""How ``rules.md`` is read, on a hand-made document: a rule's section, its text (paragraphs as single
lines), the live values of the thresholds it names and what it reads; an unknown code, or a code the
document lacks, is one clear error. (``test_rulebook.py`` checks the shipped document against the
findings of trained runs.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sweepdoctor
from sweepdoctor.diagnostics import FindingCode, RuleDoc, Thresholds, _rulebook, rule_doc, rule_docs, rules_text
from sweepdoctor.errors import ConfigError

HANDMADE = """\
# Hand-made rules

An introduction that names `reference_ratio` and belongs to no rule.

### healthy

Written before any section.

- thresholds: `confident_epochs`
- evidence: nothing

## §1 Look at the training loss first

The first section's introduction.

### overfitting

The training loss falls
while the validation loss rises.

Stop at the minimum.
- thresholds: `overfit_val_rise`, `no_such_threshold`, and
  `reference_ratio` on the next line
- evidence: the losses: training and validation
  at the last epoch, and `error_impact` in passing

- evidence: a second evidence item, after a blank line, that is not read

## §12 Learning rate

The twelfth section's introduction.

### divergence

The loss grows.

- thresholds: none
- evidence: the loss
"""


@pytest.fixture
def handmade(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_rulebook, "rules_text", lambda: HANDMADE)


def test_the_shipped_document_is_read_from_the_package() -> None:
    text = rules_text()
    assert text.startswith("# sweepdoctor's diagnosis rules\n")
    assert "## §1 The training guide: look at the training loss first\n" in text
    assert "\n### mse_for_classification\n" in text


def test_the_shipped_document_reads_the_same_under_an_ascii_locale() -> None:
    """``rules.md`` is UTF-8 (its "\u00a7") whatever the reader's locale (a C locale here; cp1252 on Windows)."""
    assert "\n## \u00a71 " in rules_text()
    script = "from sweepdoctor.diagnostics import rules_text; print(rules_text().count('\\n## \\xa7'))"
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
           "PYTHONPATH": str(Path(sweepdoctor.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert (out.returncode, out.stdout.strip()) == (0, str(rules_text().count("\n## \u00a7"))), out.stderr[-2000:]


@pytest.mark.usefixtures("handmade")
def test_a_rule_is_its_section_its_paragraphs_its_thresholds_and_its_evidence() -> None:
    doc = rule_doc("overfitting")
    assert doc == RuleDoc(
        code=FindingCode.OVERFITTING, section="§1", section_title="Look at the training loss first",
        text="The training loss falls while the validation loss rises.\n\nStop at the minimum.",
        thresholds={"overfit_val_rise": 0.2, "reference_ratio": 1.5},  # a name that is no threshold: left out
        evidence="the losses: training and validation at the last epoch, and `error_impact` in passing")


@pytest.mark.usefixtures("handmade")
def test_a_later_section_and_a_rule_without_thresholds() -> None:
    doc = rule_doc(FindingCode.DIVERGENCE)
    assert (doc.section, doc.section_title, doc.text) == ("§12", "Learning rate", "The loss grows.")
    assert doc.thresholds == {} and doc.evidence == "the loss"
    assert doc.citation == "rules.md §12"


@pytest.mark.usefixtures("handmade")
def test_a_rule_before_any_section_has_none() -> None:
    doc = rule_doc("healthy")
    assert (doc.section, doc.section_title) == ("", "")
    assert doc.text == "Written before any section."
    assert doc.thresholds == {"confident_epochs": 10} and doc.evidence == "nothing"


@pytest.mark.usefixtures("handmade")
def test_the_values_shown_are_the_thresholds_given() -> None:
    changed = Thresholds.from_mapping({"overfit_val_rise": 0.05, "confident_epochs": 4})
    assert rule_doc("overfitting", thresholds=changed).thresholds == {"overfit_val_rise": 0.05,
                                                                      "reference_ratio": 1.5}
    docs = rule_docs(thresholds=changed)
    assert [d.thresholds for d in docs] == [{"confident_epochs": 4},
                                             {"overfit_val_rise": 0.05, "reference_ratio": 1.5}, {}]


@pytest.mark.usefixtures("handmade")
def test_every_rule_in_the_order_of_the_document() -> None:
    docs = rule_docs()
    assert [d.code for d in docs] == [FindingCode.HEALTHY, FindingCode.OVERFITTING, FindingCode.DIVERGENCE]
    assert [d.citation for d in docs] == ["rules.md ", "rules.md §1", "rules.md §12"]
    assert docs[1] == rule_doc("overfitting")


@pytest.mark.usefixtures("handmade")
def test_a_rule_as_a_dict_names_its_citation() -> None:
    assert rule_doc("divergence").to_dict() == {
        "code": "divergence", "rule": "rules.md §12", "section_title": "Learning rate",
        "text": "The loss grows.", "thresholds": {}, "evidence": "the loss"}
    d = rule_doc("overfitting").to_dict()
    d["thresholds"]["reference_ratio"] = 99.0
    assert rule_doc("overfitting").thresholds["reference_ratio"] == 1.5  # a copy, not the rule's own


@pytest.mark.usefixtures("handmade")
def test_a_code_the_document_lacks_is_a_packaging_error() -> None:
    with pytest.raises(ConfigError) as e:
        rule_doc("model_bias")
    assert str(e.value) == "rules: rules.md has no entry for 'model_bias'; reinstall sweepdoctor"


def test_an_unknown_code_lists_every_valid_one() -> None:
    with pytest.raises(ConfigError) as e:
        rule_doc("overfit")
    assert str(e.value) == (
        "rules: unknown finding code 'overfit'; valid codes: healthy, overfitting, model_bias, "
        "optimization_failure, mismatch, divergence, oscillation, critical_point, saddle_point, local_minimum, "
        "slow_convergence, mse_for_classification, sharp_minimum")


def test_the_shipped_rules_read_with_the_default_thresholds() -> None:
    doc = rule_doc("healthy")
    assert (doc.section, doc.citation) == ("§1", "rules.md §1")
    assert doc.thresholds == {"confident_epochs": Thresholds().confident_epochs}
    assert "\n" not in doc.text and doc.text.startswith("No rule fired: ")
    assert [d.code for d in rule_docs()][:2] == [FindingCode.OPTIMIZATION_FAILURE, FindingCode.MODEL_BIAS]
