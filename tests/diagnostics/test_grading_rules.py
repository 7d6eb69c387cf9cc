"""A finding's confidence, severity and rank, by the arithmetic the module docstring states.

The margin part is 0.5 at the threshold, 0.75 at twice it, 1 - 0.5 / margin past it; the fold part is
the share of folds that agree; the epoch part the share of ``confident_epochs`` the curve has. A
confidence that ignored the folds (every scenario run has all folds agreeing) fails here.
"""

from __future__ import annotations

import math

import pytest

from sweepdoctor.diagnostics import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._grading import (
    NOTE_BELOW,
    PRIORITY,
    by_confidence,
    confidence,
    grade,
    main_first,
    margin_part,
)


@pytest.mark.parametrize(("margin", "part"), [(None, 0.5), (math.nan, 0.5), (0.3, 0.5), (1.0, 0.5), (2.0, 0.75),
                                              (4.0, 0.875), (10.0, 0.95)])
def test_the_margin_part(margin: float | None, part: float) -> None:
    assert margin_part(margin) == pytest.approx(part)


def test_confidence_multiplies_margin_folds_and_epochs() -> None:
    assert confidence(margin=4.0, agree=3, folds=3, epochs=10, full_epochs=10) == 0.88  # 0.875, rounded
    assert confidence(margin=4.0, agree=2, folds=3, epochs=10, full_epochs=10) == 0.58  # 0.875 x 2/3
    assert confidence(margin=4.0, agree=1, folds=4, epochs=10, full_epochs=10) == 0.22  # 0.875 x 1/4
    assert confidence(margin=4.0, agree=3, folds=3, epochs=3, full_epochs=10) == 0.26  # 0.875 x 0.3
    assert confidence(margin=4.0, agree=3, folds=3, epochs=30, full_epochs=10) == 0.88  # more epochs: no more
    assert confidence(margin=2.0, agree=2, folds=5, epochs=4, full_epochs=8) == 0.15  # 0.75 x 0.4 x 0.5
    assert confidence(margin=None, agree=1, folds=1, epochs=1, full_epochs=1) == 0.5


def test_confidence_without_folds_or_an_epoch_target() -> None:
    assert confidence(margin=4.0, agree=0, folds=0, epochs=10, full_epochs=10) == 0.0
    assert confidence(margin=4.0, agree=3, folds=3, epochs=2, full_epochs=0) == 0.88


TH = {"th_conf": 0.6, "th_impact": 2.0}


def test_grade_by_confidence_impact_and_pruning() -> None:
    assert grade(conf=0.9, impact=3.0, pruned=False, **TH) is Severity.ERROR
    assert grade(conf=0.6, impact=2.0, pruned=False, **TH) is Severity.ERROR  # both at their thresholds
    assert grade(conf=0.59, impact=3.0, pruned=False, **TH) is Severity.WARNING
    assert grade(conf=0.9, impact=1.99, pruned=False, **TH) is Severity.WARNING
    assert grade(conf=0.9, impact=None, pruned=False, **TH) is Severity.WARNING
    assert grade(conf=0.9, impact=3.0, pruned=True, **TH) is Severity.WARNING
    assert grade(conf=NOTE_BELOW, impact=3.0, pruned=True, **TH) is Severity.WARNING
    assert grade(conf=0.24, impact=3.0, pruned=False, **TH) is Severity.INFO
    assert NOTE_BELOW == 0.25


def test_a_rules_severity_is_capped_by_its_confidence() -> None:
    assert by_confidence(Severity.ERROR, 0.6, th_conf=0.6) is Severity.ERROR
    assert by_confidence(Severity.ERROR, 0.59, th_conf=0.6) is Severity.WARNING
    assert by_confidence(Severity.WARNING, 0.3, th_conf=0.6) is Severity.WARNING
    assert by_confidence(Severity.INFO, 0.9, th_conf=0.6) is Severity.INFO
    assert by_confidence(Severity.ERROR, 0.25, th_conf=0.6) is Severity.WARNING
    assert by_confidence(Severity.ERROR, 0.24, th_conf=0.2) is Severity.INFO
    assert by_confidence(Severity.WARNING, 0.24, th_conf=0.6) is Severity.INFO


def _f(code: FindingCode, severity: Severity) -> Finding:
    return Finding(code, severity, "r", "s", "a")


def test_the_main_finding_leads_and_notes_come_last() -> None:
    findings = [_f(FindingCode.OVERFITTING, Severity.WARNING), _f(FindingCode.DIVERGENCE, Severity.INFO),
                _f(FindingCode.SLOW_CONVERGENCE, Severity.WARNING), _f(FindingCode.HEALTHY, Severity.INFO),
                _f(FindingCode.MSE_FOR_CLASSIFICATION, Severity.ERROR), _f(FindingCode.MODEL_BIAS, Severity.WARNING)]
    ordered = [(f.code, f.severity) for f in main_first(findings)]
    assert ordered == [(FindingCode.MSE_FOR_CLASSIFICATION, Severity.ERROR),
                       (FindingCode.SLOW_CONVERGENCE, Severity.WARNING), (FindingCode.MODEL_BIAS, Severity.WARNING),
                       (FindingCode.OVERFITTING, Severity.WARNING), (FindingCode.DIVERGENCE, Severity.INFO),
                       (FindingCode.HEALTHY, Severity.INFO)]
    assert PRIORITY[0] is FindingCode.DIVERGENCE and PRIORITY[-1] is FindingCode.HEALTHY
    assert set(PRIORITY) == set(FindingCode)  # every code has a rank
