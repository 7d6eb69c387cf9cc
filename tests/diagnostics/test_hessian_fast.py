"""The Hessian report and Lanczos on hand-made spectra (numpy only, no model, no training)."""

from __future__ import annotations

import numpy as np
import pytest

from sweepdoctor.diagnostics._findings import FindingCode, Severity
from sweepdoctor.diagnostics.hessian import HessianReport, PointKind, hessian_findings
from sweepdoctor.diagnostics.hessian._lanczos import _quadrature, lanczos_tridiagonal, slq_fraction_above
from sweepdoctor.diagnostics.hessian._report import classify_point

K = PointKind


def report(kind: PointKind, values: list[float], *, escape: list[float] | None = None, exact: bool = True,
           ratio: float = 0.5, grad: float = 1.23456e-5) -> HessianReport:
    vals = np.array(values)
    esc = np.array(escape) if escape is not None else None
    return HessianReport(len(values), "exact", 0.75, grad, vals, np.eye(len(values)), ratio, exact, kind, esc,
                         values[0] if esc is not None else None, None, 1e-3, 1e-2, 7, 0.5)


# ---- classify_point: the second-order test -------------------------------------------


@pytest.mark.parametrize(("grad", "lo", "hi", "kind"), [
    (0.2, -1.0, 1.0, K.NOT_CRITICAL),
    (0.1, -1.0, 1.0, K.SADDLE_POINT),  # a gradient at the tolerance is small
    (0.0, -1.0, -0.5, K.LOCAL_MAXIMUM),
    (0.0, 0.5, 1.0, K.LOCAL_MINIMUM),
    (0.0, -0.01, 0.01, K.DEGENERATE),  # at the zero tolerance: zero
    (0.0, -0.011, 0.01, K.LOCAL_MAXIMUM),
    (0.0, -0.01, 0.011, K.LOCAL_MINIMUM),
])
def test_classify_point(grad: float, lo: float, hi: float, kind: PointKind) -> None:
    assert classify_point(grad, 0.1, lo, hi, 0.01) is kind


# ---- the report's numbers ---------------------------------------------------------------


def test_report_properties_and_dict() -> None:
    r = report(K.SADDLE_POINT, [-2.0, 0.5, 3.0], escape=[0.0, 0.6, -0.8])
    assert r.sharpness == 3.0 and r.min_eigenvalue == -2.0
    assert r.to_dict() == {
        "n_params": 3, "method": "exact", "loss": 0.75, "grad_norm": 1.23456e-5, "eigenvalues": [-2.0, 0.5, 3.0],
        "sharpness": 3.0, "minimum_ratio": 0.5, "minimum_ratio_exact": True, "kind": "saddle_point",
        "escape_eigenvalue": -2.0, "zero_tol": 1e-3, "grad_tol": 1e-2, "hvp_count": 7, "seconds": 0.5}


def test_saddle_finding() -> None:
    escape = [0.1, -0.7, 0.05, 0.3, -0.2, 0.6]
    r = report(K.SADDLE_POINT, [-2.0, 0.1, 0.2, 0.3, 0.4, 3.0], escape=escape, ratio=0.83333)
    (f,) = hessian_findings(r, run="t1")
    assert (f.code, f.severity, f.rule, f.run) == (FindingCode.SADDLE_POINT, Severity.WARNING, "rules.md §2", "t1")
    assert f.summary == ("saddle point: gradient norm 1.23e-05, eigenvalues from -2 to 3, minimum ratio 0.83; "
                         "moving along the escape direction lowers the loss by 1 per unit step squared")
    assert f.advice.startswith("escape it: momentum or adam") and f.advice.endswith("small batches' noise also helps")
    assert "step along the escape direction (the eigenvector of the most negative eigenvalue)" in f.advice
    assert f.evidence == {"kind": "saddle_point", "grad_norm": 1.235e-05, "min_eigenvalue": -2.0,
                          "max_eigenvalue": 3.0, "minimum_ratio": 0.8333, "minimum_ratio_exact": True,
                          "method": "exact", "n_params": 6, "escape_eigenvalue": -2.0,
                          "escape_top_coordinates": {1: -0.7, 5: 0.6, 3: 0.3, 4: -0.2, 0: 0.1}}
    assert list(f.evidence["escape_top_coordinates"]) == [1, 5, 3, 4, 0]
    assert hessian_findings(r)[0].run is None


def test_minimum_maximum_flat_and_not_critical() -> None:
    (m,) = hessian_findings(report(K.LOCAL_MINIMUM, [0.5, 40.0], exact=False, ratio=1.0))
    assert (m.code, m.severity) == (FindingCode.LOCAL_MINIMUM, Severity.INFO)
    assert m.summary == ("local minimum: gradient norm 1.23e-05, eigenvalues from 0.5 to 40, no negative eigenvalue, "
                         "minimum ratio 1.00 (estimated); sharpness 40")
    assert m.advice.startswith("if the loss here is still large") and "escape_eigenvalue" not in m.evidence
    assert m.advice.endswith("or change the model; a large sharpness suggests smaller batches (rules.md §3)")
    assert (m.rule, m.run) == ("rules.md §2", None)
    assert hessian_findings(report(K.LOCAL_MINIMUM, [0.5, 40.0]), run="t2")[0].run == "t2"
    assert m.evidence["minimum_ratio_exact"] is False
    (x,) = hessian_findings(report(K.LOCAL_MAXIMUM, [-3.0, -1.0], ratio=0.0))
    assert (x.code, x.severity) == (FindingCode.CRITICAL_POINT, Severity.WARNING)
    assert x.summary == ("local maximum (no positive eigenvalue): gradient norm 1.23e-05, eigenvalues from -3 to -1, "
                         "minimum ratio 0.00")
    assert x.advice.startswith("training sits where the gradient vanishes")
    assert x.advice.endswith("weights), use momentum or adam, or a larger learning rate with warmup")
    assert (x.rule, x.run) == ("rules.md §2", None)
    assert x.evidence == {"kind": "local_maximum", "grad_norm": 1.235e-05, "min_eigenvalue": -3.0,
                          "max_eigenvalue": -1.0, "minimum_ratio": 0.0, "minimum_ratio_exact": True,
                          "method": "exact", "n_params": 2}
    assert hessian_findings(report(K.LOCAL_MAXIMUM, [-3.0, -1.0]), run="t3")[0].run == "t3"
    (d,) = hessian_findings(report(K.DEGENERATE, [0.0, 0.0]))
    assert d.summary.startswith("flat critical point (every eigenvalue ~0: the second-order test cannot decide): ")
    assert hessian_findings(report(K.NOT_CRITICAL, [-1.0, 1.0], escape=[1.0, 0.0])) == []
    # an escape direction without its eigenvalue adds nothing
    r = report(K.LOCAL_MINIMUM, [1.0, 2.0])
    r = HessianReport(**{**r.__dict__, "escape_direction": np.array([1.0, 0.0])})
    assert "escape_top_coordinates" not in hessian_findings(r)[0].evidence


# ---- Lanczos on explicit symmetric matrices ---------------------------------------------


def diag_op(values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """A symmetric matrix with these eigenvalues (a rotated diagonal) and the eigenvalues sorted."""
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((len(values), len(values))))
    return q @ np.diag(values) @ q.T, np.sort(values)


def test_lanczos_full_run_reproduces_the_spectrum() -> None:
    a, vals = diag_op([-3.0, -1.0, 0.5, 2.0, 7.0])
    alpha, beta = lanczos_tridiagonal(lambda v: a @ v, np.ones(5), 10)
    assert alpha.shape == (5,) and beta.shape == (4,)
    theta, weights = _quadrature(alpha, beta)
    np.testing.assert_allclose(theta, vals, atol=1e-9)
    v = np.ones(5) / np.sqrt(5)
    q = np.linalg.eigh(a)[1]
    np.testing.assert_allclose(weights, (q.T @ v) ** 2, atol=1e-9)  # tau_j^2 = (q_j . v)^2
    assert weights.sum() == pytest.approx(1.0)
    # the first alpha is the Rayleigh quotient of the start vector (any scale)
    alpha2, _ = lanczos_tridiagonal(lambda v: a @ v, 3 * np.ones(5), 2)
    assert alpha2[0] == pytest.approx(v @ a @ v) and alpha2.shape == (2,)


def test_lanczos_stops_at_an_invariant_subspace() -> None:
    a = np.diag([2.0, 2.0, 5.0, 5.0])
    alpha, beta = lanczos_tridiagonal(lambda v: a @ v, np.array([1.0, 1.0, 1.0, 1.0]), 4)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1))),
                               [2.0, 5.0], atol=1e-12)
    assert alpha.shape == (2,) and beta.shape == (1,) and beta[0] == pytest.approx(1.5)
    one, none = lanczos_tridiagonal(lambda v: 4.0 * v, np.array([1.0, 2.0]), 3)
    assert one.tolist() == [pytest.approx(4.0)] and none.shape == (0,)
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        lanczos_tridiagonal(lambda v: v, np.ones(2), 0)


def test_slq_counts_eigenvalues_above() -> None:
    a, _ = diag_op([-3.0, -1.0, 0.5, 2.0, 7.0, 9.0])
    rng = np.random.default_rng(0)
    # all steps: exact quadrature, and each Rademacher probe has |q_j . v|^2 summing to n
    est = slq_fraction_above(lambda v: a @ v, 6, 0.0, probes=200, steps=6, rng=rng)
    assert est == pytest.approx(4 / 6, abs=0.05)
    assert slq_fraction_above(lambda v: a @ v, 6, 10.0, probes=3, steps=6, rng=rng) == pytest.approx(0.0)
    assert slq_fraction_above(lambda v: a @ v, 6, -4.0, probes=3, steps=6, rng=rng) == pytest.approx(1.0)
    eye = np.eye(6)
    assert slq_fraction_above(lambda v: eye @ v, 6, 0.5, probes=1, steps=6, rng=rng) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="probes must be >= 1, got 0"):
        slq_fraction_above(lambda v: v, 2, 0.0, probes=0, steps=2, rng=rng)


def test_lanczos_one_step_is_the_rayleigh_quotient() -> None:
    a, _ = diag_op([-3.0, -1.0, 0.5, 2.0, 7.0])
    v = np.arange(1.0, 6.0)
    alpha, beta = lanczos_tridiagonal(lambda x: a @ x, v, 1)
    assert alpha.tolist() == [pytest.approx(v @ a @ v / (v @ v))] and beta.shape == (0,)


@pytest.mark.parametrize(("a00", "coupling", "steps_taken"), [
    (0.0, 1.5e-12, 2),  # above 1e-12 (the floor of 1 on |alpha|): a real direction
    (0.0, 1e-12, 2),  # at the cut-off: kept (only below it is round-off)
    (0.0, 1e-6, 2),
    (100.0, 5e-11, 1),  # below 1e-12 * |alpha| = 1e-10: round-off, an invariant subspace
    (100.0, 2e-10, 2),
])
def test_lanczos_invariant_subspace_cutoff_is_relative_to_alpha(a00: float, coupling: float,
                                                                steps_taken: int) -> None:
    a = np.array([[a00, coupling], [coupling, 0.0]])
    alpha, beta = lanczos_tridiagonal(lambda v: a @ v, np.array([1.0, 0.0]), 2)
    assert alpha.tolist() == [a00, 0.0][:steps_taken] and beta.tolist() == [coupling][: steps_taken - 1]


def test_slq_probes_are_rademacher() -> None:
    # A = 9 on the all-ones direction, -1 across it: 1 of 8 eigenvalues above 0. A Rademacher
    # probe v puts (1.v)^2 / n^2 of its weight there, 1/8 on average; any other sign law biases it.
    n = 8
    ones = np.ones((n, n)) / n
    a = 9.0 * ones - (np.eye(n) - ones)
    est = slq_fraction_above(lambda v: a @ v, n, 0.0, probes=400, steps=n, rng=np.random.default_rng(2))
    assert est == pytest.approx(1 / 8, abs=0.03)


def test_slq_eigenvalue_at_the_threshold_is_not_above() -> None:
    # v = +-1/2 exactly: alpha = v.v = 1.0 and the residual is 0, so the one Ritz value is exactly 1.0
    rng = np.random.default_rng(0)
    assert slq_fraction_above(lambda v: v, 4, 1.0, probes=2, steps=4, rng=rng) == 0.0
    assert slq_fraction_above(lambda v: v, 4, 1.0 - 1e-12, probes=2, steps=4, rng=rng) == 1.0
