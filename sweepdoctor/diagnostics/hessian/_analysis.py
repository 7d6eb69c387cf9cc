"""Hessian of a model's loss at its current weights (RULES.md §2 and §3).

Small models: the exact Hessian (``torch.autograd.functional.hessian``) and its full
eigendecomposition (``torch.linalg.eigh``). Large models: Hessian-vector products
(double backward) behind a ``scipy.sparse.linalg.LinearOperator``, extreme eigenpairs
from ``eigsh`` (implicitly restarted Lanczos), and the minimum ratio from stochastic
Lanczos quadrature. Everything runs in float64 on a private copy of the model in eval
mode, over the whole of ``X, y`` as one batch.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from torch import nn

from sweepdoctor.diagnostics.hessian._lanczos import slq_fraction_above
from sweepdoctor.diagnostics.hessian._report import HessianReport, classify_point
from sweepdoctor.errors import ConfigError, SweepdoctorError

__all__ = ["hessian_analysis", "top_eigenvalue"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Up to this many parameters the exact Hessian is cheap: n Hessian-vector products and
# an O(n^3) eigendecomposition take well under a second on a laptop CPU at n = 1000.
EXACT_MAX_PARAMS = 1000
# |eigenvalue| <= ZERO_REL_TOL * max|eigenvalue| counts as zero (flat). Networks have
# thousands of eigenvalues crowded around 0 whose signs are round-off; Lanczos
# quadrature with ~30 nodes cannot resolve signs closer to 0 than about 1% of the
# spectrum's extent, and curvature 100x below the sharpest direction is negligible.
ZERO_REL_TOL = 1e-2
# A point is critical when ||g|| <= GRAD_REL_TOL * loss: a unit step along the gradient
# changes the loss by at most 1% to first order.
GRAD_REL_TOL = 1e-2


@dataclass
class _Problem:
    """The loss as a function of one flat float64 parameter vector."""

    theta: torch.Tensor
    loss_at: Callable[[torch.Tensor], torch.Tensor]
    hvp_count: int = 0


def _problem(model: nn.Module, loss_fn: LossFn, X: Any, y: Any) -> _Problem:
    if not isinstance(model, nn.Module):
        raise ConfigError(f"hessian: model must be a torch.nn.Module, got {type(model).__name__}")
    m = copy.deepcopy(model).to(torch.float64).eval()
    named = [(n, p) for n, p in m.named_parameters() if p.requires_grad]
    if not named:
        raise ConfigError("hessian: the model has no trainable parameters")
    device = next(iter(m.parameters()), torch.empty(0)).device  # the data follows the model
    Xt = torch.as_tensor(X).to(device)
    Xt = Xt.to(torch.float64) if Xt.is_floating_point() else Xt
    yt = torch.as_tensor(y).to(device)
    yt = yt.to(torch.float64) if yt.is_floating_point() else yt
    sizes = [p.numel() for _, p in named]
    shapes = [p.shape for _, p in named]
    names = [n for n, _ in named]
    theta = torch.cat([p.detach().reshape(-1) for _, p in named]).clone()

    def loss_at(flat: torch.Tensor) -> torch.Tensor:
        params = {n: chunk.view(s) for n, chunk, s in zip(names, flat.split(sizes), shapes)}
        loss = loss_fn(torch.func.functional_call(m, params, (Xt,)), yt)
        if loss.dim() != 0:
            raise ConfigError(f"hessian: loss_fn must return a scalar, got shape {tuple(loss.shape)}")
        return loss

    return _Problem(theta, loss_at)


def _gradient(p: _Problem) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(theta, loss, grad)`` with the gradient's graph kept for Hessian-vector products."""
    theta = p.theta.clone().requires_grad_(True)
    loss = p.loss_at(theta)
    if not torch.isfinite(loss):
        raise SweepdoctorError(f"hessian: the loss at these weights is not finite ({float(loss.detach())})")
    (grad,) = torch.autograd.grad(loss, theta, create_graph=True)
    return theta, loss, grad


def _operator(p: _Problem, theta: torch.Tensor, grad: torch.Tensor) -> LinearOperator:
    n = theta.numel()

    def matvec(v: np.ndarray) -> np.ndarray:
        p.hvp_count += 1
        vt = torch.as_tensor(np.ascontiguousarray(v).reshape(-1), dtype=torch.float64, device=theta.device)
        (hv,) = torch.autograd.grad(grad, theta, grad_outputs=vt, retain_graph=True)
        return hv.detach().cpu().numpy()

    return LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=np.float64)


def _eigsh(op: LinearOperator, k: int, which: str, rng: np.random.Generator, tol: float) -> tuple[Any, Any]:
    v0 = rng.standard_normal(op.shape[0])
    try:
        return eigsh(op, k=k, which=which, v0=v0, tol=tol, maxiter=op.shape[0] * 10)
    except ArpackNoConvergence as e:
        if len(e.eigenvalues):
            return e.eigenvalues, e.eigenvectors
        raise SweepdoctorError(f"hessian: Lanczos did not converge for which={which!r}; raise tol (got {tol})") from e


def _canonical(v: np.ndarray) -> np.ndarray:
    """The unit vector ``±v`` whose first non-negligible coordinate is positive (a fixed sign)."""
    v = v / np.linalg.norm(v)
    first = np.flatnonzero(np.abs(v) > 1e-8 * np.abs(v).max())[0]
    return v if v[first] > 0 else -v


def top_eigenvalue(model: nn.Module, loss_fn: LossFn, X: Any, y: Any, *, seed: int = 0, tol: float = 1e-3) -> float:
    """The largest Hessian eigenvalue (the sharpness) by Lanczos on Hessian-vector products."""
    p = _problem(model, loss_fn, X, y)
    theta, _, grad = _gradient(p)
    if theta.numel() == 1:
        (hv,) = torch.autograd.grad(grad, theta, grad_outputs=torch.ones_like(theta))
        return float(hv[0])
    vals, _ = _eigsh(_operator(p, theta, grad), 1, "LA", np.random.default_rng(seed), tol)
    return float(vals[-1])


class _Eigenpairs(NamedTuple):
    """Extreme eigenpairs in ascending order, and the whole spectrum when it was computed exactly."""

    values: np.ndarray
    vectors: np.ndarray
    spectrum: np.ndarray | None


def _check_options(k: int, exact_max_params: int) -> None:
    if k < 1:
        raise ConfigError(f"hessian: k must be >= 1, got {k}")
    if exact_max_params < 0:
        raise ConfigError(f"hessian: exact_max_params must be >= 0, got {exact_max_params}")


def _exact_eigenpairs(p: _Problem, k: int) -> _Eigenpairs:
    """The full Hessian and its eigendecomposition; the ``k`` eigenpairs at each end."""
    n = p.theta.numel()
    h = torch.autograd.functional.hessian(lambda t: p.loss_at(t), p.theta)
    h = 0.5 * (h + h.T)
    evals, evecs = (a.cpu().numpy() for a in torch.linalg.eigh(h))
    idx = sorted(set(range(min(k, n))) | set(range(max(n - k, 0), n)))
    p.hvp_count += n
    return _Eigenpairs(evals[idx], evecs[:, idx], evals)


def _lanczos_eigenpairs(
    p: _Problem, theta: torch.Tensor, grad: torch.Tensor, *, k: int, rng: np.random.Generator, tol: float
) -> _Eigenpairs:
    """The ``k`` smallest and ``k`` largest eigenpairs by Lanczos (``eigsh``) on Hessian-vector products."""
    op = _operator(p, theta, grad)
    lo_vals, lo_vecs = _eigsh(op, k, "SA", rng, tol)
    hi_vals, hi_vecs = _eigsh(op, k, "LA", rng, tol)
    vals = np.concatenate([lo_vals, hi_vals])
    vecs = np.concatenate([lo_vecs, hi_vecs], axis=1)
    order = np.argsort(vals)
    return _Eigenpairs(vals[order], vecs[:, order], None)


def _minimum_ratio(
    p: _Problem, theta: torch.Tensor, grad: torch.Tensor, eig: _Eigenpairs, *, zero_tol: float,
    probes: int, steps: int, rng: np.random.Generator,
) -> tuple[float, bool]:
    """The fraction of eigenvalues above ``zero_tol`` and whether it is exact (else an SLQ estimate)."""
    if eig.spectrum is not None:
        return float(np.mean(eig.spectrum > zero_tol)), True
    op = _operator(p, theta, grad)
    return slq_fraction_above(op.matvec, theta.numel(), zero_tol, probes=probes, steps=steps, rng=rng), False


def hessian_analysis(
    model: nn.Module,
    loss_fn: LossFn,
    X: Any,
    y: Any,
    *,
    k: int = 3,
    exact_max_params: int = EXACT_MAX_PARAMS,
    seed: int = 0,
    grad_rel_tol: float = GRAD_REL_TOL,
    zero_rel_tol: float = ZERO_REL_TOL,
    tol: float = 1e-4,
    slq_probes: int = 3,
    slq_steps: int = 30,
) -> HessianReport:
    """Eigen-analysis of the Hessian of ``loss_fn(model(X), y)`` at the model's weights.

    ``k`` extreme eigenpairs at each end; exact when the model has at most
    ``exact_max_params`` trainable parameters, else Lanczos (``eigsh``, tolerance
    ``tol``) and a stochastic Lanczos quadrature estimate of the minimum ratio
    (``slq_probes`` random probes of ``slq_steps`` steps). The point is critical when
    ``||grad|| <= grad_rel_tol * loss``; eigenvalues within ``zero_rel_tol * max|λ|`` of
    zero count as zero. ``seed`` fixes the random start vectors and probes.
    """
    _check_options(k, exact_max_params)
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    p = _problem(model, loss_fn, X, y)
    n = p.theta.numel()
    theta, loss, grad = _gradient(p)
    exact_hessian = n <= exact_max_params or n <= 2 * k + 1
    eig = _exact_eigenpairs(p, k) if exact_hessian else _lanczos_eigenpairs(p, theta, grad, k=k, rng=rng, tol=tol)
    zero_tol = zero_rel_tol * float(np.abs(eig.values).max())
    ratio, exact = _minimum_ratio(p, theta, grad, eig, zero_tol=zero_tol, probes=slq_probes, steps=slq_steps, rng=rng)
    grad_norm, loss_value = float(grad.detach().norm()), float(loss.detach())
    grad_tol = grad_rel_tol * abs(loss_value)
    kind = classify_point(grad_norm, grad_tol, float(eig.values[0]), float(eig.values[-1]), zero_tol)
    escape = _canonical(eig.vectors[:, 0]) if kind.value == "saddle_point" else None
    return HessianReport(
        n_params=n,
        method="exact" if eig.spectrum is not None else "lanczos",
        loss=loss_value,
        grad_norm=grad_norm,
        eigenvalues=eig.values, eigenvectors=eig.vectors, spectrum=eig.spectrum,
        minimum_ratio=ratio, minimum_ratio_exact=exact,
        kind=kind,
        escape_direction=escape, escape_eigenvalue=float(eig.values[0]) if escape is not None else None,
        zero_tol=zero_tol, grad_tol=grad_tol,
        hvp_count=p.hvp_count,
        seconds=time.perf_counter() - start,
    )
