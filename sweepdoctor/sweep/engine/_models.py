"""Models as *fold stacks*: k fold models that train as one.

A fold stack maps a batch per fold, shape ``(k, b, d)``, to outputs ``(k, b, out)``.

- :class:`StackedMLP`: the built-in MLP with per-fold weights stacked along a first
  axis and batched matmuls (``baddbmm``): k folds cost about one fold's Python work.
- :class:`VmapStack`: a user's ``nn.Module``, k copies vectorized with ``torch.func``
  (``stack_module_state`` + ``functional_call`` + ``vmap``).
- :class:`ModuleStack`: one user module, k = 1 (the sequential fallback).

Every optimizer in the search space acts element by element, so one torch optimizer
over the stacked tensors is exactly k independent optimizers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sweepdoctor.sweep.engine._backprop import hidden_dropout
from sweepdoctor.sweep.engine._kernels import dropout_fn

__all__ = ["ACTIVATION_FNS", "FoldStack", "ModuleStack", "StackedMLP", "VmapStack", "activation_module", "build_mlp"]

ACTIVATION_FNS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "sigmoid": torch.sigmoid,
}
# In place on a fresh matmul output (autograd keeps the result these need, not the input):
# no new activation tensor per layer.
_ACTIVATION_INPLACE: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu_,
    "tanh": torch.tanh_,
    "gelu": F.gelu,
    "sigmoid": torch.sigmoid_,
}
_ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}


def activation_module(name: str) -> nn.Module:
    """The ``nn`` module of an activation of the search space (``relu``, ``tanh``, ``gelu``, ``sigmoid``)."""
    return _ACTIVATION_MODULES[name]()


class FoldStack(Protocol):
    n_folds: int
    depth: int | None

    def parameters(self) -> list[Tensor]: ...

    def forward(self, x: Tensor) -> Tensor: ...

    def train(self, mode: bool = True) -> None: ...

    def n_params(self) -> int: ...

    def fold_state_dict(self, fold: int) -> dict[str, Tensor]: ...


def build_mlp(n_in: int, n_out: int, *, depth: int, width: int, activation: str, dropout: float) -> nn.Sequential:
    """The built-in MLP as a plain ``nn.Sequential`` (for refit, Hessians and users)."""
    layers: list[nn.Module] = []
    d = n_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), activation_module(activation), nn.Dropout(dropout)]
        d = width
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers)


class StackedMLP:
    """k MLPs with identical shapes, weights stacked as ``(k, in, out)``.

    Each fold's weights are drawn from its own generator with ``nn.Linear``'s default
    distribution, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), so fold f starts from the same
    weights whether it trains alone (k = 1) or with the others.
    """

    def __init__(
        self,
        *,
        n_in: int,
        n_out: int,
        depth: int,
        width: int,
        activation: str,
        dropout: float,
        seeds: list[int],
        device: torch.device,
    ) -> None:
        self.n_folds = len(seeds)
        self.depth: int | None = depth
        self.dims = [n_in] + [width] * depth + [n_out]
        self.activation = activation
        self._act = _ACTIVATION_INPLACE[activation]
        self.dropout = dropout
        self.training = True
        self.generator: torch.Generator | None = None  # where train-mode dropout draws (None: torch's global)
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.weights: list[Tensor] = []
        self.biases: list[Tensor] = []
        for din, dout in zip(self.dims[:-1], self.dims[1:]):
            bound = 1.0 / din**0.5
            w = torch.stack([(torch.rand(din, dout, generator=g) * 2 - 1) * bound for g in gens])
            b = torch.stack([(torch.rand(1, dout, generator=g) * 2 - 1) * bound for g in gens])
            self.weights.append(w.to(device).requires_grad_())
            self.biases.append(b.to(device).requires_grad_())

    @classmethod
    def from_tensors(
        cls, weights: list[Tensor], biases: list[Tensor], *, activation: str, dropout: float
    ) -> StackedMLP:
        """A stack holding the given per-layer tensors (``(k, in, out)`` and ``(k, 1, out)``) as its weights."""
        mlp = cls.__new__(cls)
        mlp.n_folds = int(weights[0].shape[0])
        mlp.depth = len(weights) - 1
        mlp.dims = [int(weights[0].shape[1])] + [int(w.shape[2]) for w in weights]
        mlp.activation, mlp._act = activation, _ACTIVATION_INPLACE[activation]
        mlp.dropout, mlp.training, mlp.generator = dropout, True, None
        mlp.weights = [w.requires_grad_() for w in weights]
        mlp.biases = [b.requires_grad_() for b in biases]
        return mlp

    def parameters(self) -> list[Tensor]:
        return [t for pair in zip(self.weights, self.biases) for t in pair]

    def train(self, mode: bool = True) -> None:
        self.training = mode

    def forward(self, x: Tensor) -> Tensor:
        # In train mode the dropout multipliers are drawn as the hand-written backward pass
        # draws them (one go for all hidden layers), so both see the same masks from a seed.
        drops = hidden_dropout(self, x, dropout_fn(self.dropout, x.device, x.dtype, generator=self.generator)
                                    if self.training else None)
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = self._act(h)
                d = drops[i]
                if d is not None:
                    h = h * d
        return h

    def n_params(self) -> int:
        return sum(p[0].numel() for p in self.parameters())

    def fold_state_dict(self, fold: int) -> dict[str, Tensor]:
        """Fold ``fold``'s weights as a state dict of :func:`build_mlp`'s module."""
        out: dict[str, Tensor] = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"{3 * i}.weight"] = w[fold].detach().t().contiguous().cpu()
            out[f"{3 * i}.bias"] = b[fold, 0].detach().clone().cpu()
        return out


class VmapStack:
    """k copies of a user module trained together through ``torch.func.vmap``."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.n_folds = len(modules)
        self.depth: int | None = None
        self._base = copy.deepcopy(modules[0])
        params, buffers = torch.func.stack_module_state(modules)  # type: ignore[arg-type]
        self._params = {k: v.detach().requires_grad_() for k, v in params.items()}
        self._buffers = buffers

        def call(p: dict[str, Tensor], bufs: dict[str, Tensor], x: Tensor) -> Tensor:
            return torch.func.functional_call(self._base, (p, bufs), (x,))  # type: ignore[no-any-return]

        self._vcall = torch.func.vmap(call, randomness="different")

    def parameters(self) -> list[Tensor]:
        return list(self._params.values())

    def train(self, mode: bool = True) -> None:
        self._base.train(mode)

    def forward(self, x: Tensor) -> Tensor:
        return self._vcall(self._params, self._buffers, x)  # type: ignore[no-any-return]

    def n_params(self) -> int:
        return sum(p[0].numel() for p in self._params.values())

    def fold_state_dict(self, fold: int) -> dict[str, Tensor]:
        out = {k: v[fold].detach().cpu().clone() for k, v in self._params.items()}
        out.update({k: v[fold].detach().cpu().clone() for k, v in self._buffers.items()})
        return out


class ModuleStack:
    """One module as a stack of one fold (the sequential path)."""

    def __init__(self, module: nn.Module) -> None:
        self.n_folds = 1
        self.depth: int | None = None
        self.module = module

    def parameters(self) -> list[Tensor]:
        return [p for p in self.module.parameters() if p.requires_grad]

    def train(self, mode: bool = True) -> None:
        self.module.train(mode)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.module(x[0])
        return out.unsqueeze(0)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def fold_state_dict(self, fold: int) -> dict[str, Any]:
        return {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}
