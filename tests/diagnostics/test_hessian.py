"""Hessian analysis against exact references (rules.md §2's worked example, autograd, finite differences)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from sweepdoctor.diagnostics import (
    FindingCode,
    PointKind,
    Severity,
    diagnose,
    hessian_analysis,
    hessian_findings,
    top_eigenvalue,
)
from sweepdoctor.diagnostics.hessian._lanczos import lanczos_tridiagonal, slq_fraction_above
from sweepdoctor.errors import ConfigError
from tests.diagnostics import scenarios


class Product(nn.Module):
    """y = w1 * w2 * x: rules.md §2's example."""

    def __init__(self, w1: float, w2: float) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.tensor(w1))
        self.w2 = nn.Parameter(torch.tensor(w2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w1 * self.w2 * x


def mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((out - y) ** 2).mean()


ONE = torch.tensor([1.0])


def test_rules_example_is_a_saddle_with_escape_direction() -> None:
    r = hessian_analysis(Product(0.0, 0.0), mse, ONE, ONE)
    assert r.method == "exact" and r.n_params == 2 and r.loss == 1.0 and r.grad_norm == 0.0
    np.testing.assert_allclose(r.eigenvalues, [-2.0, 2.0], atol=1e-12)
    assert r.kind is PointKind.SADDLE_POINT and r.minimum_ratio == 0.5 and r.minimum_ratio_exact
    assert r.escape_eigenvalue == pytest.approx(-2.0)
    assert r.escape_direction is not None
    np.testing.assert_allclose(r.escape_direction, np.array([1.0, 1.0]) / np.sqrt(2.0), atol=1e-12)
    # moving along it lowers the loss as 1/2 * lambda * t^2 predicts (to second order)
    t = 1e-3
    moved = Product(*(t * r.escape_direction).tolist()).double()
    with torch.no_grad():
        assert float(mse(moved(ONE.double()), ONE.double())) == pytest.approx(1.0 - t**2, rel=1e-9)
    (f,) = hessian_findings(r, run="trial-3")
    assert f.code is FindingCode.SADDLE_POINT and f.severity is Severity.WARNING and f.run == "trial-3"
    assert f.rule == "rules.md §2" and f.evidence["escape_eigenvalue"] == -2.0


def test_rules_example_at_the_solution_is_a_minimum() -> None:
    r = hessian_analysis(Product(1.0, 1.0), mse, ONE, ONE)  # H = [[2, 2], [2, 2]]: eigenvalues 0 and 4
    np.testing.assert_allclose(r.eigenvalues, [0.0, 4.0], atol=1e-12)
    assert r.kind is PointKind.LOCAL_MINIMUM and r.escape_direction is None and r.minimum_ratio == 0.5
    (f,) = hessian_findings(r)
    assert f.code is FindingCode.LOCAL_MINIMUM and f.severity is Severity.INFO and r.sharpness == pytest.approx(4.0)


def test_not_critical_and_local_maximum() -> None:
    r = hessian_analysis(Product(0.5, 0.5), mse, ONE, ONE)
    assert r.kind is PointKind.NOT_CRITICAL and r.grad_norm > 0.5 and hessian_findings(r) == []
    peak = nn.Linear(3, 1, bias=False)
    nn.init.zeros_(peak.weight)
    r = hessian_analysis(peak, lambda out, y: -(out**2).mean(), torch.eye(3), torch.zeros(3))
    assert r.kind is PointKind.LOCAL_MAXIMUM
    (f,) = hessian_findings(r)
    assert f.code is FindingCode.CRITICAL_POINT and "local maximum" in f.summary


def _mlp(seed: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 3))
    return model, torch.randn(40, 6, generator=g), torch.randint(0, 3, (40,), generator=g)


def _finite_difference_hessian(model: nn.Module, X: torch.Tensor, y: torch.Tensor, h: float = 1e-5) -> np.ndarray:
    """Central differences of autograd gradients in float64: an independent reference."""
    m = model.double()
    params = list(m.parameters())
    theta = torch.cat([p.detach().reshape(-1) for p in params])

    def grad_at(t: torch.Tensor) -> torch.Tensor:
        torch.nn.utils.vector_to_parameters(t, params)
        m.zero_grad()
        nn.functional.cross_entropy(m(X.double()), y).backward()
        return torch.cat([p.grad.reshape(-1) for p in params])  # type: ignore[union-attr]

    cols = []
    for i in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[i] = h
        cols.append(((grad_at(theta + e) - grad_at(theta - e)) / (2 * h)).numpy())
    torch.nn.utils.vector_to_parameters(theta, params)
    H = np.stack(cols, axis=1)
    return 0.5 * (H + H.T)


def test_small_mlp_matches_finite_differences_and_lanczos_matches_exact() -> None:
    model, X, y = _mlp(0)
    exact = hessian_analysis(model, nn.functional.cross_entropy, X, y, k=3)
    assert exact.method == "exact" and exact.n_params == 103 and exact.spectrum is not None
    reference = np.linalg.eigvalsh(_finite_difference_hessian(_mlp(0)[0], X, y))
    np.testing.assert_allclose(exact.spectrum, reference, atol=1e-6)
    lanczos = hessian_analysis(model, nn.functional.cross_entropy, X, y, k=3, exact_max_params=0, tol=1e-10)
    assert lanczos.method == "lanczos" and not lanczos.minimum_ratio_exact
    np.testing.assert_allclose(lanczos.eigenvalues, exact.eigenvalues, rtol=1e-6, atol=1e-8)
    top_exact, top_lanczos = exact.eigenvectors[:, -1], lanczos.eigenvectors[:, -1]
    assert abs(top_exact @ top_lanczos) == pytest.approx(1.0, abs=1e-6)
    assert abs(lanczos.minimum_ratio - exact.minimum_ratio) <= 0.15
    assert top_eigenvalue(model, nn.functional.cross_entropy, X, y, tol=1e-10) == pytest.approx(exact.sharpness)
    assert lanczos.kind is exact.kind


def test_lanczos_quadrature_on_a_known_spectrum() -> None:
    eigs = np.concatenate([np.linspace(-1.0, -0.1, 60), np.linspace(0.2, 5.0, 140)])
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((200, 200)))
    A = q @ np.diag(eigs) @ q.T
    alpha, beta = lanczos_tridiagonal(lambda v: A @ v, np.ones(200), 200)
    t = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(t)), eigs, atol=1e-8)  # full run: every eigenvalue
    est = slq_fraction_above(lambda v: A @ v, 200, 0.0, probes=8, steps=30, rng=np.random.default_rng(1))
    assert est == pytest.approx(0.7, abs=0.06)


def test_bad_arguments_are_named() -> None:
    model, X, y = _mlp(1)
    with pytest.raises(ConfigError, match="k must be >= 1, got 0"):
        hessian_analysis(model, nn.functional.cross_entropy, X, y, k=0)
    with pytest.raises(ConfigError, match="model must be a torch.nn.Module, got str"):
        hessian_analysis("model", nn.functional.cross_entropy, X, y)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="loss_fn must return a scalar"):
        hessian_analysis(model, lambda out, t: out.sum(-1), X, y)


def test_the_stalled_tiny_init_run_sits_at_a_saddle() -> None:
    """The critical-point scenario's model: the Hessian decides, and replaces the curve's guess."""
    h, model, X, y = scenarios.critical_point_model()
    r = hessian_analysis(model, nn.functional.cross_entropy, X, y)
    assert r.method == "lanczos" and r.n_params > 4000
    assert r.kind is PointKind.SADDLE_POINT and r.min_eigenvalue < 0 < r.sharpness
    codes = [f.code for f in diagnose(h).for_run("candidate")]
    assert FindingCode.CRITICAL_POINT in codes
    codes = [f.code for f in diagnose(h, hessians={"candidate": r}).for_run("candidate")]
    assert FindingCode.SADDLE_POINT in codes and FindingCode.CRITICAL_POINT not in codes


@pytest.mark.slow
def test_top_eigenvalue_of_a_100k_parameter_mlp_in_seconds() -> None:
    from sklearn.datasets import load_digits

    torch.set_num_threads(1)
    X_np, y_np = load_digits(return_X_y=True)
    X = torch.tensor((X_np - X_np.mean(0)) / (X_np.std(0) + 1e-8), dtype=torch.float32)
    y = torch.tensor(y_np)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 300), nn.ReLU(), nn.Linear(300, 256), nn.ReLU(), nn.Linear(256, 10))
    n = sum(p.numel() for p in model.parameters())
    start = time.perf_counter()
    top = top_eigenvalue(model, nn.functional.cross_entropy, X, y)
    seconds = time.perf_counter() - start
    print(f"\ntop Hessian eigenvalue of a {n}-parameter MLP on {len(y)} rows: {top:.4g} in {seconds:.2f} s (1 thread)")
    assert n > 95_000 and top > 0 and seconds < 30
    # the full analysis (both ends, SLQ minimum ratio) agrees on the top eigenvalue
    report = hessian_analysis(model, nn.functional.cross_entropy, X, y, k=1)
    print(f"full analysis: {report.seconds:.1f} s, {report.hvp_count} Hessian-vector products, {report.kind.value}")
    assert report.sharpness == pytest.approx(top, rel=1e-3)
