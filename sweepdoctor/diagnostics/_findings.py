"""Findings: what the diagnostics conclude about a run or a whole study."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["Finding", "FindingCode", "Severity"]


class FindingCode(str, Enum):
    """The closed set of diagnoses (each rule: ``sweepdoctor rules CODE``, or ``rules.md`` in the package)."""

    HEALTHY = "healthy"
    OVERFITTING = "overfitting"
    MODEL_BIAS = "model_bias"
    OPTIMIZATION_FAILURE = "optimization_failure"
    MISMATCH = "mismatch"
    DIVERGENCE = "divergence"
    OSCILLATION = "oscillation"
    CRITICAL_POINT = "critical_point"
    SADDLE_POINT = "saddle_point"
    LOCAL_MINIMUM = "local_minimum"
    SLOW_CONVERGENCE = "slow_convergence"
    MSE_FOR_CLASSIFICATION = "mse_for_classification"
    SHARP_MINIMUM = "sharp_minimum"


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One diagnosis with its evidence.

    ``run`` names the run it is about (``None`` for a study-level finding); ``rule``
    points to the section of the shipped ``rules.md`` it applies (``sweepdoctor rules
    CODE`` prints it); ``evidence`` holds the numbers that triggered it; ``advice`` says
    what to change. ``confidence`` (0-1) is how strong the evidence is: how far it is
    past its threshold, times the share of folds that agree, times how many epochs
    support it (a pruned 3-epoch curve supports less than a full one).
    """

    code: FindingCode
    severity: Severity
    rule: str
    summary: str
    advice: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    run: str | None = None
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "rule": self.rule,
            "summary": self.summary,
            "evidence": dict(self.evidence),
            "advice": self.advice,
            "run": self.run,
            "confidence": self.confidence,
        }
