"""What the Hessian analysis found (rules.md §2), and the findings it implies.

Kept free of torch: a :class:`HessianReport` holds numpy arrays only, so reports can be
built, stored and turned into findings without the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity

__all__ = ["HessianReport", "PointKind", "classify_point", "hessian_findings"]


class PointKind(str, Enum):
    """What the gradient and the Hessian's eigenvalues say about a point (rules.md §2)."""

    LOCAL_MINIMUM = "local_minimum"  # gradient ~0, no negative eigenvalue
    SADDLE_POINT = "saddle_point"  # gradient ~0, eigenvalues of both signs
    LOCAL_MAXIMUM = "local_maximum"  # gradient ~0, no positive eigenvalue
    DEGENERATE = "degenerate"  # gradient ~0 and every eigenvalue ~0: second order cannot tell
    NOT_CRITICAL = "not_critical"  # the gradient is not small


@dataclass(frozen=True)
class HessianReport:
    """Extreme eigenpairs of the Hessian of the loss at the model's weights, and the verdict.

    ``eigenvalues`` (ascending) are the ``k`` smallest and ``k`` largest; the columns of
    ``eigenvectors`` go with them (unit norm, over the flattened trainable parameters in
    ``model.named_parameters()`` order). ``spectrum`` is every eigenvalue (exact method
    only). ``minimum_ratio`` is the fraction of positive eigenvalues: counted exactly,
    or estimated by stochastic Lanczos quadrature (``minimum_ratio_exact`` False).
    """

    n_params: int
    method: str  # "exact" or "lanczos"
    loss: float
    grad_norm: float
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    minimum_ratio: float
    minimum_ratio_exact: bool
    kind: PointKind
    escape_direction: np.ndarray | None  # unit eigenvector of the most negative eigenvalue (saddle only)
    escape_eigenvalue: float | None
    spectrum: np.ndarray | None
    zero_tol: float  # |eigenvalue| below this counts as zero
    grad_tol: float  # gradient norm at or below this counts as critical
    hvp_count: int
    seconds: float

    @property
    def sharpness(self) -> float:
        """The top eigenvalue (rules.md §3: large for sharp minima)."""
        return float(self.eigenvalues[-1])

    @property
    def min_eigenvalue(self) -> float:
        return float(self.eigenvalues[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (eigenvectors are left out; the escape direction's size is kept)."""
        return {
            "n_params": self.n_params,
            "method": self.method,
            "loss": self.loss,
            "grad_norm": self.grad_norm,
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "sharpness": self.sharpness,
            "minimum_ratio": self.minimum_ratio,
            "minimum_ratio_exact": self.minimum_ratio_exact,
            "kind": self.kind.value,
            "escape_eigenvalue": self.escape_eigenvalue,
            "zero_tol": self.zero_tol,
            "grad_tol": self.grad_tol,
            "hvp_count": self.hvp_count,
            "seconds": self.seconds,
        }


def classify_point(grad_norm: float, grad_tol: float, lam_min: float, lam_max: float, zero_tol: float) -> PointKind:
    """The second-order test of rules.md §2, with tolerances for "zero"."""
    if grad_norm > grad_tol:
        return PointKind.NOT_CRITICAL
    negative, positive = lam_min < -zero_tol, lam_max > zero_tol
    if negative and positive:
        return PointKind.SADDLE_POINT
    if negative:
        return PointKind.LOCAL_MAXIMUM
    if positive:
        return PointKind.LOCAL_MINIMUM
    return PointKind.DEGENERATE


def _evidence(r: HessianReport) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "kind": r.kind.value, "grad_norm": float(f"{r.grad_norm:.4g}"),
        "min_eigenvalue": float(f"{r.min_eigenvalue:.4g}"), "max_eigenvalue": float(f"{r.sharpness:.4g}"),
        "minimum_ratio": round(r.minimum_ratio, 4), "minimum_ratio_exact": r.minimum_ratio_exact,
        "method": r.method, "n_params": r.n_params,
    }
    if r.escape_direction is not None and r.escape_eigenvalue is not None:
        top = np.argsort(-np.abs(r.escape_direction))[:5]
        ev["escape_eigenvalue"] = float(f"{r.escape_eigenvalue:.4g}")
        ev["escape_top_coordinates"] = {int(i): float(f"{r.escape_direction[i]:.4g}") for i in top}
    return ev


def hessian_findings(report: HessianReport, *, run: str | None = None) -> list[Finding]:
    """The findings a Hessian analysis implies: saddle_point, local_minimum or critical_point.

    A point that is not critical (the gradient is not small) yields no finding: a
    stalled run there is oscillating, which the curves already tell (rules.md §2).
    """
    kind = report.kind
    common = (
        f"gradient norm {report.grad_norm:.3g}, eigenvalues from {report.min_eigenvalue:.3g} "
        f"to {report.sharpness:.3g}"
    )
    ratio = f"minimum ratio {report.minimum_ratio:.2f}" + ("" if report.minimum_ratio_exact else " (estimated)")
    if kind is PointKind.NOT_CRITICAL:
        return []
    if kind is PointKind.SADDLE_POINT:
        assert report.escape_eigenvalue is not None  # set for every saddle point
        return [Finding(
            FindingCode.SADDLE_POINT, Severity.WARNING, "rules.md §2",
            f"saddle point: {common}, {ratio}; moving along the escape direction lowers the loss by "
            f"{-0.5 * report.escape_eigenvalue:.3g} per unit step squared",
            "escape it: momentum or adam, a larger learning rate (or warmup), or step along the escape "
            "direction (the eigenvector of the most negative eigenvalue); small batches' noise also helps",
            _evidence(report), run,
        )]
    if kind is PointKind.LOCAL_MINIMUM:
        return [Finding(
            FindingCode.LOCAL_MINIMUM, Severity.INFO, "rules.md §2",
            f"local minimum: {common}, no negative eigenvalue, {ratio}; sharpness {report.sharpness:.3g}",
            "if the loss here is still large, no small step helps: restart from another initialization or "
            "change the model; a large sharpness suggests smaller batches (rules.md §3)",
            _evidence(report), run,
        )]
    what = "local maximum (no positive eigenvalue)" if kind is PointKind.LOCAL_MAXIMUM else (
        "flat critical point (every eigenvalue ~0: the second-order test cannot decide)")
    return [Finding(
        FindingCode.CRITICAL_POINT, Severity.WARNING, "rules.md §2", f"{what}: {common}, {ratio}",
        "training sits where the gradient vanishes: re-initialize (this often happens with all-zero or tiny "
        "weights), use momentum or adam, or a larger learning rate with warmup",
        _evidence(report), run,
    )]
