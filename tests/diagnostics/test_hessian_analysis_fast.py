"""``hessian_analysis`` and ``top_eigenvalue`` on models whose Hessian is known, in milliseconds.

A :class:`Quadratic` model's loss ``1 + ½ wᵀAw`` has the Hessian ``A`` at every ``w``, so
its spectrum is whatever ``A`` is built with; a tiny embedding classifier is checked
against ``numpy.linalg.eigvalsh`` of its Hessian from a forward pass written out by hand
(``torch.autograd.functional.hessian``). Both the exact method and Lanczos (``eigsh``
and stochastic Lanczos quadrature) are checked, with their tolerances and counters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import ArpackNoConvergence
from torch import nn

from sweepdoctor.diagnostics.hessian import PointKind, _analysis, hessian_analysis, top_eigenvalue
from sweepdoctor.diagnostics.hessian._analysis import _canonical, _gradient, _operator, _problem
from sweepdoctor.errors import ConfigError, SweepdoctorError


class Quadratic(nn.Module):
    """``w`` read through ``X`` (the identity): with :func:`quadratic_loss` the Hessian is ``y = A``."""

    def __init__(self, w: np.ndarray) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w  # a float32 X against float64 weights fails: the analysis must convert X


def quadratic_loss(w: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return 1 + 0.5 * w @ a @ w


def quadratic(values: list[float], *, w: list[float] | None = None, seed: int = 0,
              ) -> tuple[Quadratic, torch.Tensor, torch.Tensor, np.ndarray]:
    """The model, X, y (= A, float32) for a rotated diagonal, and A's exact float64 eigenpairs."""
    n = len(values)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    a = torch.tensor(q @ np.diag(values) @ q.T, dtype=torch.float32)
    a = 0.5 * (a + a.T)
    exact = np.linalg.eigh(a.double().numpy())  # the reference: A as float32 holds it, in float64
    model = Quadratic(np.zeros(n) if w is None else np.array(w))
    return model, torch.eye(n), a, exact


def analyse(values: list[float], **kw: Any) -> tuple[Any, np.ndarray]:
    model, X, a, exact = quadratic(values)
    return hessian_analysis(model, quadratic_loss, X, a, **kw), exact


def same_line(u: np.ndarray, v: np.ndarray) -> float:
    """|cos| of the angle between two vectors (eigenvectors have no fixed sign)."""
    return float(abs(u @ v) / (np.linalg.norm(u) * np.linalg.norm(v)))


# ---- the exact method -------------------------------------------------------------------


def test_exact_saddle_has_its_spectrum_tolerances_and_escape_direction() -> None:
    r, (vals, vecs) = analyse([-2.0, 1.0, 3.0, 4.0, 5.0], k=2)
    assert r.method == "exact" and r.n_params == 5 and r.hvp_count == 5 and r.minimum_ratio_exact
    np.testing.assert_allclose(r.spectrum, vals, atol=1e-12)  # float64 throughout, not float32's 1e-7
    np.testing.assert_allclose(r.eigenvalues, vals[[0, 1, 3, 4]], atol=1e-12)
    for i, j in enumerate([0, 1, 3, 4]):
        assert same_line(r.eigenvectors[:, i], vecs[:, j]) == pytest.approx(1.0, abs=1e-9)
    assert r.loss == 1.0 and r.grad_norm == 0.0 and r.minimum_ratio == 0.8
    assert r.zero_tol == pytest.approx(0.01 * 5.0) and r.grad_tol == pytest.approx(0.01)
    assert r.kind is PointKind.SADDLE_POINT  # the second value (1) is positive: the smallest (-2) decides
    assert r.escape_eigenvalue == pytest.approx(vals[0], abs=1e-12)
    assert r.escape_direction is not None and same_line(r.escape_direction, vecs[:, 0]) == pytest.approx(1.0)
    first = np.flatnonzero(np.abs(r.escape_direction) > 1e-6)[0]
    assert r.escape_direction[first] > 0 and np.linalg.norm(r.escape_direction) == pytest.approx(1.0)
    assert 0.0 <= r.seconds < 30.0


def test_exact_classification_reads_the_two_ends() -> None:
    r, _ = analyse([-4.0, -3.0, -1.0, 2.0], k=2)  # the second largest (-1) is negative: the largest decides
    assert r.kind is PointKind.SADDLE_POINT and r.zero_tol == pytest.approx(0.04) and r.minimum_ratio == 0.25
    r, _ = analyse([0.5, 2.0, 3.0], k=1)
    assert r.kind is PointKind.LOCAL_MINIMUM and r.escape_direction is None and r.escape_eigenvalue is None
    r, _ = analyse([-3.0, -2.0, -0.5], k=1)
    assert r.kind is PointKind.LOCAL_MAXIMUM and r.escape_direction is None and r.minimum_ratio == 0.0
    # away from w = 0 the gradient A w is not small: no critical point, whatever the curvature
    model, X, a, (vals, _) = quadratic([-1.0, 2.0, 3.0], w=[0.5, -0.5, 0.5])
    r = hessian_analysis(model, quadratic_loss, X, a)
    w = np.array([0.5, -0.5, 0.5])
    a64 = a.double().numpy()
    assert r.grad_norm == pytest.approx(np.linalg.norm(a64 @ w), rel=1e-6)
    assert r.loss == pytest.approx(1 + 0.5 * w @ a64 @ w, rel=1e-6)
    assert r.grad_tol == pytest.approx(0.01 * r.loss) and r.kind is PointKind.NOT_CRITICAL
    assert r.escape_direction is None and r.escape_eigenvalue is None
    np.testing.assert_allclose(r.eigenvalues, vals, atol=1e-12)  # the Hessian does not depend on w


def test_exact_minimum_ratio_counts_an_eigenvalue_at_zero_tol_as_zero() -> None:
    model = Quadratic(np.zeros(4))  # a diagonal A: eigh returns its entries exactly
    r = hessian_analysis(model, quadratic_loss, torch.eye(4), torch.diag(torch.tensor([100.0, 1.0, 0.5, -0.5])), k=1)
    assert r.zero_tol == 1.0 and r.spectrum is not None and r.spectrum.tolist() == [-0.5, 0.5, 1.0, 100.0]
    assert r.minimum_ratio == 0.25  # 1.0 is at zero_tol (= 0.01 * 100): not above it
    assert r.kind is PointKind.LOCAL_MINIMUM  # -0.5 is within zero_tol of zero


def _embedding_classifier() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(4, 3), nn.Linear(3, 2))
    return model, torch.tensor([0, 1, 2, 3, 1]), torch.tensor([0, 1, 1, 0, 0])


def test_integer_inputs_and_labels_match_a_hand_written_hessian() -> None:
    model, X, y = _embedding_classifier()
    r = hessian_analysis(model, nn.functional.cross_entropy, X, y)
    emb, lin = model[0], model[1]
    theta = torch.cat([emb.weight.reshape(-1), lin.weight.reshape(-1), lin.bias]).detach().double()

    def loss(t: torch.Tensor) -> torch.Tensor:  # the same network, written out
        logits = t[:12].view(4, 3)[X] @ t[12:18].view(2, 3).T + t[18:20]
        return nn.functional.cross_entropy(logits, y)

    reference = np.linalg.eigvalsh(torch.autograd.functional.hessian(loss, theta).numpy())
    assert r.method == "exact" and r.n_params == 20 and r.spectrum is not None
    np.testing.assert_allclose(r.spectrum, reference, atol=1e-12)
    assert r.loss == pytest.approx(float(loss(theta)), rel=1e-12)
    # the caller's model is untouched: still float32, in training mode, with the same weights
    assert all(p.dtype == torch.float32 for p in model.parameters()) and all(m.training for m in model.modules())
    np.testing.assert_array_equal(emb.weight.detach().double().numpy().reshape(-1), theta[:12].numpy())


def test_frozen_parameters_are_left_out_and_bad_input_is_named() -> None:
    model, X, y = _embedding_classifier()
    model[0].weight.requires_grad_(False)
    r = hessian_analysis(model, nn.functional.cross_entropy, X, y)
    assert r.n_params == 8 and r.eigenvectors.shape == (8, 6)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ConfigError, match="^hessian: model must be a torch.nn.Module, got str$"):
        hessian_analysis("model", nn.functional.cross_entropy, X, y)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="^hessian: the model has no trainable parameters$"):
        hessian_analysis(model, nn.functional.cross_entropy, X, y)
    model, X, a, _ = quadratic([1.0, 2.0])
    with pytest.raises(ConfigError, match=r"^hessian: loss_fn must return a scalar, got shape \(2,\)$"):
        hessian_analysis(model, lambda w, a: a @ w, X, a)
    with pytest.raises(ConfigError, match="^hessian: k must be >= 1, got 0$"):
        hessian_analysis(model, quadratic_loss, X, a, k=0)
    with pytest.raises(ConfigError, match="^hessian: exact_max_params must be >= 0, got -1$"):
        hessian_analysis(model, quadratic_loss, X, a, exact_max_params=-1)
    with pytest.raises(SweepdoctorError, match=r"^hessian: the loss at these weights is not finite \(nan\)$"):
        hessian_analysis(model, lambda w, a: torch.tensor(float("nan")), X, a)
    # a loss of the weights (it requires grad) that is not finite: the same error, no warning about reading it
    with pytest.raises(SweepdoctorError, match=r"^hessian: the loss at these weights is not finite \(inf\)$"):
        hessian_analysis(model, lambda w, a: quadratic_loss(w, a) * float("inf"), X, a)


# ---- which method -----------------------------------------------------------------------


@pytest.mark.parametrize(("n", "k", "exact_max_params", "method"), [
    (6, 1, 6, "exact"), (6, 1, 5, "lanczos"),  # at most exact_max_params parameters: exact
    (7, 3, 0, "exact"), (8, 3, 0, "lanczos"),  # 2k + 1 or fewer: the two ends would overlap
    (3, 1, 0, "exact"), (4, 1, 0, "lanczos"),
])
def test_method_choice(n: int, k: int, exact_max_params: int, method: str) -> None:
    values = [-1.0, *np.linspace(0.5, 3.0, n - 1)]
    r, (vals, _) = analyse(values, k=k, exact_max_params=exact_max_params)
    assert r.method == method and r.minimum_ratio_exact is (method == "exact")
    assert (r.spectrum is not None) is (method == "exact")
    np.testing.assert_allclose(r.eigenvalues, np.concatenate([vals[:k], vals[-k:]]), atol=1e-6)
    assert r.kind is PointKind.SADDLE_POINT and r.escape_eigenvalue == pytest.approx(vals[0], abs=1e-6)


# ---- Lanczos ----------------------------------------------------------------------------


def test_hessian_operator_is_a_symmetric_scipy_operator() -> None:
    model, X, a, _ = quadratic([-1.0, 2.0, 3.0], w=[0.2, 0.1, -0.3])
    p = _problem(model, quadratic_loss, X, a)
    theta, _, grad = _gradient(p)
    op = _operator(p, theta, grad)
    a64 = a.double().numpy()
    unit = np.eye(3, dtype=int)  # scipy accepts any real vector, and a column as well as a row
    np.testing.assert_allclose(np.stack([op.matvec(e) for e in unit], axis=1), a64, atol=1e-12)
    column = np.array([[1.0], [-2.0], [0.5]])
    np.testing.assert_allclose(op.matvec(column), a64 @ column, atol=1e-12)
    np.testing.assert_allclose(op.rmatvec(column[:, 0]), a64 @ column[:, 0], atol=1e-12)  # H is symmetric
    assert p.hvp_count == 5

SPREAD = [-1.5, -1.0, -0.6, *np.linspace(0.2, 4.0, 33)]  # 36 parameters (over slq_steps = 30), 33 above zero


def test_lanczos_matches_the_exact_eigenpairs() -> None:
    r, (vals, vecs) = analyse(SPREAD, k=3, exact_max_params=0, tol=1e-10, slq_probes=12)
    assert r.method == "lanczos" and r.spectrum is None and not r.minimum_ratio_exact
    np.testing.assert_allclose(r.eigenvalues, np.concatenate([vals[:3], vals[-3:]]), atol=1e-8)
    for i, j in enumerate([0, 1, 2, 33, 34, 35]):
        assert same_line(r.eigenvectors[:, i], vecs[:, j]) == pytest.approx(1.0, abs=1e-6)
    assert r.zero_tol == pytest.approx(0.04) and r.kind is PointKind.SADDLE_POINT
    assert r.minimum_ratio == pytest.approx(33 / 36, abs=0.1)
    assert r.escape_direction is not None and same_line(r.escape_direction, vecs[:, 0]) == pytest.approx(1.0)
    assert r.escape_eigenvalue == pytest.approx(vals[0], abs=1e-8)


def test_lanczos_counts_every_hessian_vector_product(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []  # per call: a product (with a vector) or the gradient
    zero_vectors = []
    grad = torch.autograd.grad

    def counted(*args: Any, **kwargs: Any) -> Any:
        vector = kwargs.get("grad_outputs")
        calls.append(vector is not None)
        zero_vectors.append(vector is not None and not bool(vector.any()))
        return grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counted)
    r, _ = analyse(SPREAD, k=2, exact_max_params=0, slq_probes=2, slq_steps=10)
    assert calls[0] is False and all(calls[1:])  # the gradient, then only products
    assert r.hvp_count == len(calls) - 1 > 2 * 10
    assert not any(zero_vectors)  # the operator states its dtype: scipy need not probe it with a zero vector
    calls.clear()
    more, _ = analyse(SPREAD, k=2, exact_max_params=0, slq_probes=3, slq_steps=10)
    assert more.hvp_count == len(calls) - 1 == r.hvp_count + 10  # one more probe: 10 more products


def test_lanczos_is_reproducible_and_seeded_with_the_documented_defaults() -> None:
    r, _ = analyse(SPREAD, exact_max_params=0)
    same, _ = analyse(SPREAD, exact_max_params=0, k=3, seed=0, tol=1e-4, slq_probes=3, slq_steps=30)
    again, _ = analyse(SPREAD, exact_max_params=0)
    for other in (same, again):
        np.testing.assert_array_equal(r.eigenvalues, other.eigenvalues)
        np.testing.assert_array_equal(r.eigenvectors, other.eigenvectors)
        assert (r.minimum_ratio, r.hvp_count) == (other.minimum_ratio, other.hvp_count)
    assert len(r.eigenvalues) == 6
    other_seed, _ = analyse(SPREAD, exact_max_params=0, seed=1)
    assert other_seed.minimum_ratio != r.minimum_ratio  # other probes


def test_lanczos_tolerance_trades_products_for_accuracy() -> None:
    loose, (vals, _) = analyse(SPREAD, k=1, exact_max_params=0, tol=1e-1)
    tight, _ = analyse(SPREAD, k=1, exact_max_params=0, tol=1e-12)
    assert loose.hvp_count < tight.hvp_count
    np.testing.assert_allclose(tight.eigenvalues, vals[[0, -1]], atol=1e-10)
    np.testing.assert_allclose(loose.eigenvalues, vals[[0, -1]], rtol=0.1)


# ---- top_eigenvalue ---------------------------------------------------------------------


def test_top_eigenvalue_is_the_largest_not_the_largest_magnitude() -> None:
    model, X, a, (vals, _) = quadratic([-7.0, -1.0, 0.5, 2.0, 3.0])  # 2 eigenpairs would not fit in 5
    assert top_eigenvalue(model, quadratic_loss, X, a) == pytest.approx(vals[-1], abs=1e-6)
    model, X, a, (vals, _) = quadratic([-4.0, 1.5])  # the smallest eigsh can do: one eigenpair of two
    assert top_eigenvalue(model, quadratic_loss, X, a) == pytest.approx(vals[-1], abs=1e-6)
    one = Quadratic(np.array([0.3]))
    assert top_eigenvalue(one, quadratic_loss, torch.eye(1), torch.tensor([[2.5]])) == 2.5


def test_top_eigenvalue_is_seeded_and_honours_tol() -> None:
    values = list(np.linspace(0.0, 1.0, 60))  # a crowded top: Lanczos converges slowly
    model, X, a, (vals, _) = quadratic(values)
    r = top_eigenvalue(model, quadratic_loss, X, a)
    assert r == top_eigenvalue(model, quadratic_loss, X, a, seed=0, tol=1e-3)
    loose = top_eigenvalue(model, quadratic_loss, X, a, tol=1e-1)
    tight = top_eigenvalue(model, quadratic_loss, X, a, tol=1e-12)
    assert tight == pytest.approx(vals[-1], abs=1e-10)
    assert 0 < abs(loose - vals[-1]) <= 0.1 * vals[-1]


def test_unconverged_lanczos_keeps_what_converged(monkeypatch: pytest.MonkeyPatch) -> None:
    model, X, a, _ = quadratic([1.0, 2.0, 3.0])

    def partial(*args: Any, **kwargs: Any) -> Any:
        raise ArpackNoConvergence("no convergence", np.array([2.75]), np.ones((3, 1)) / np.sqrt(3))

    monkeypatch.setattr(_analysis, "eigsh", partial)
    assert top_eigenvalue(model, quadratic_loss, X, a) == 2.75

    def nothing(*args: Any, **kwargs: Any) -> Any:
        raise ArpackNoConvergence("no convergence", np.zeros(0), np.zeros((3, 0)))

    monkeypatch.setattr(_analysis, "eigsh", nothing)
    with pytest.raises(SweepdoctorError, match=r"Lanczos did not converge for which='LA'; raise tol \(got 0.001\)"):
        top_eigenvalue(model, quadratic_loss, X, a)


# ---- the escape direction's sign ----------------------------------------------------------


def test_canonical_sign_is_set_by_the_first_coordinate_that_is_not_round_off() -> None:
    np.testing.assert_allclose(_canonical(np.array([-3.0, 4.0])), [0.6, -0.8])  # unit, first coordinate > 0
    np.testing.assert_allclose(_canonical(np.array([0.3, -4.0])), [0.3 / np.hypot(0.3, 4.0), -4.0 / np.hypot(0.3, 4.0)])
    # below 1e-8 of the largest coordinate is round-off: the next one decides
    assert _canonical(np.array([2e-9, -3.0, 4.0])).tolist() == pytest.approx([-4e-10, 0.6, -0.8])
    # 1.25e-8 of the largest (1e-8 after normalizing) is not: it keeps its sign
    assert _canonical(np.array([5e-8, -3.0, 4.0])).tolist() == pytest.approx([1e-8, -0.6, 0.8], rel=1e-12)
    assert _canonical(np.array([0.0, 0.0, -2.0])).tolist() == [0.0, 0.0, 1.0]
    assert _canonical(np.array([-1e-8, 1.0])).tolist() == [-1e-8, 1.0]  # exactly 1e-8 of the largest: round-off
