"""Lanczos iteration and stochastic Lanczos quadrature (SLQ) for a symmetric operator.

Only matrix-vector products are needed, so this works with Hessian-vector products of
models far too large for an explicit Hessian. SLQ estimates the spectral density
(Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019): each random probe ``v``
gives a ``steps``-point quadrature rule (Ritz values ``θ_j`` of the tridiagonal
Lanczos matrix, weights ``τ_j²`` = squared first components of its eigenvectors),
and ``vᵀ f(H) v / vᵀv ≈ Σ_j τ_j² f(θ_j)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["lanczos_tridiagonal", "slq_fraction_above"]

MatVec = Callable[[np.ndarray], np.ndarray]


def lanczos_tridiagonal(matvec: MatVec, v0: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` Lanczos iterations from ``v0`` with full reorthogonalization.

    Returns the diagonal ``alpha`` and off-diagonal ``beta`` of the tridiagonal matrix
    (shorter than ``steps`` when an invariant subspace is found early).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    n = v0.shape[0]
    steps = min(steps, n)
    basis = np.zeros((steps, n))
    alpha, beta = np.zeros(steps), np.zeros(max(steps - 1, 0))
    v = v0 / np.linalg.norm(v0)
    for j in range(steps):
        basis[j] = v
        w = matvec(v)
        alpha[j] = float(w @ v)
        # Full reorthogonalization (twice is enough, Parlett): keeps the Ritz values honest.
        for _ in range(2):
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        if j == steps - 1:
            break
        b = float(np.linalg.norm(w))
        if b < 1e-12 * max(1.0, abs(alpha[j])):
            return alpha[: j + 1], beta[:j]
        beta[j] = b
        v = w / b
    return alpha, beta


def _quadrature(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ritz values and quadrature weights of the Lanczos tridiagonal matrix."""
    t = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    theta, vecs = np.linalg.eigh(t)
    return theta, vecs[0] ** 2


def slq_fraction_above(
    matvec: MatVec, n: int, threshold: float, *, probes: int, steps: int, rng: np.random.Generator
) -> float:
    """Estimated fraction of the operator's ``n`` eigenvalues above ``threshold``.

    Rademacher probes; the estimate averages ``Σ_j τ_j² [θ_j > threshold]`` over them.
    Its error shrinks like ``1/sqrt(probes · n)`` for the sampling part, plus the
    quadrature error of ``steps`` nodes (a few percent at 30 steps).
    """
    if probes < 1:
        raise ValueError(f"probes must be >= 1, got {probes}")
    total = 0.0
    for _ in range(probes):
        v = rng.choice(np.array([-1.0, 1.0]), size=n)
        alpha, beta = lanczos_tridiagonal(matvec, v, steps)
        theta, weights = _quadrature(alpha, beta)
        total += float(weights[theta > threshold].sum())
    return total / probes
