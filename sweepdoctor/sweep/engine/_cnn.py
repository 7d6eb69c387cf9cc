"""The built-in CNN, for images ``(C, H, W)`` and sequences ``(C, L)``, as a fold stack.

One network per fold is built as a plain ``nn.Sequential`` (:func:`build_cnn`, also what
refit saves and :func:`~sweepdoctor.sweep.load_model` loads), each from its own seed.
:class:`StackedCNN` then trains the k folds as one network: the folds' channels side by
side, every convolution a grouped convolution with ``groups = k`` (fold f's filters see
only fold f's channels), batch norm per (fold, channel), and the dense head as batched
matmuls, as in the stacked MLP. A step costs one set of kernels for all folds instead of
k, and each fold's numbers are those of its own network trained alone.

A sequence whose channels are its last axis (``(L, C)``, the shorter axis, as
``data.channel_axis`` tells) is turned channels-first by the network's first layer.

The architecture: ``conv_blocks`` blocks of convolution (``channels`` filters in the
first block, twice as many in each next one, ``kernel_size`` wide, zero-padded to keep the
size), optional batch norm, the activation, and pooling by 2 (``max``, ``avg`` or ``none``;
skipped once a side is down to 1); then ``depth`` dense layers of ``width`` with dropout,
and the output layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sweepdoctor.sweep.data import channel_axis
from sweepdoctor.sweep.engine._kernels import dropout_fn
from sweepdoctor.sweep.engine._models import ACTIVATION_FNS, activation_module, build_mlp

__all__ = ["POOLINGS", "ChannelsFirst", "CNNSnapshot", "StackedCNN", "build_builtin", "build_cnn", "lockstep_pays"]

POOLINGS = ("max", "avg", "none")
_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
_POOL = {("max", 1): nn.MaxPool1d, ("max", 2): nn.MaxPool2d, ("avg", 1): nn.AvgPool1d, ("avg", 2): nn.AvgPool2d}
_POOL_FN: dict[tuple[str, int], Callable[..., Tensor]] = {
    ("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d, ("avg", 1): F.avg_pool1d, ("avg", 2): F.avg_pool2d,
}
_CONV_FN: dict[int, Callable[..., Tensor]] = {1: F.conv1d, 2: F.conv2d}
# Up to which size of a fold's batch the folds train faster in lockstep than one after another on the
# CPU (measured on one core, CPU seconds per 5-fold step with Adam, docs/images.md): past it a layer over
# k folds' large maps no longer fits the cache. Sequences (1-D convolutions): batch x positions 4,096.
# Images (2-D) run channels-last (NHWC), where oneDNN's grouped convolution, batch norm and pooling over
# k folds stay ahead much longer: batch x numbers of a sample (C x H x W) 100,352, i.e. 1x28x28 at batch
# 128 (144 ms against 187) and 3x32x32 at batch 32, not 3x32x32 at batch 64 (90 ms against 77).
GROUPED_POSITIONS = 4096
GROUPED_NUMBERS_2D = 100_352


def lockstep_pays(sample_shape: tuple[int, ...], batch_size: int, device: torch.device, *,
                  channels_last: bool = False) -> bool:
    """Whether the built-in CNN's folds train faster in lockstep (grouped convolutions) than one after
    another: always on a GPU, where small kernels are launch-bound; on the CPU for small enough batches."""
    if device.type != "cpu":
        return True
    numbers = int(torch.tensor(sample_shape).prod().item())
    if len(sample_shape) == 3:
        return batch_size * numbers <= GROUPED_NUMBERS_2D
    axis = 1 if channels_last and len(sample_shape) == 2 else 0
    return batch_size * (numbers // sample_shape[axis]) <= GROUPED_POSITIONS


class ChannelsFirst(nn.Module):
    """``(n, L, C) -> (n, C, L)``: a sequence whose channels are its last (shorter) axis, made ready for
    ``Conv1d``."""

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(-1, -2)


def build_cnn(
    sample_shape: tuple[int, ...],
    n_out: int,
    *,
    conv_blocks: int,
    channels: int,
    kernel_size: int,
    pooling: str,
    batch_norm: bool,
    depth: int,
    width: int,
    activation: str,
    dropout: float,
    channels_last: bool | None = None,
) -> nn.Sequential:
    """The built-in CNN for samples of ``sample_shape`` (``(C, L)`` or ``(C, H, W)``) as a plain module.

    ``channels_last``: a sequence given as ``(L, C)`` (None: the shorter axis is the channels)."""
    dims = len(sample_shape) - 1
    if dims not in _CONV:
        raise ValueError(f"the built-in CNN takes samples (C, L) or (C, H, W), got shape {sample_shape}")
    layers: list[nn.Module] = []
    last = channel_axis(sample_shape) == 1 if channels_last is None else channels_last and dims == 1
    if last:  # a sequence of steps (L, C): channels first for the convolutions
        layers.append(ChannelsFirst())
        sample_shape = (sample_shape[1], sample_shape[0])
    c_in, size = sample_shape[0], list(sample_shape[1:])
    for i in range(conv_blocks):
        c_out = channels * 2**i
        layers.append(_CONV[dims](c_in, c_out, kernel_size, padding=kernel_size // 2))
        size = [s + 2 * (kernel_size // 2) - kernel_size + 1 for s in size]
        if batch_norm:
            layers.append(_BN[dims](c_out))
        layers.append(activation_module(activation))
        if pooling != "none" and min(size) >= 2:
            layers.append(_POOL[(pooling, dims)](2))
            size = [s // 2 for s in size]
        c_in = c_out
    layers.append(nn.Flatten())
    d = c_in * int(torch.tensor(size).prod().item())
    for _ in range(depth):
        layers += [nn.Linear(d, width), activation_module(activation), nn.Dropout(dropout)]
        d = width
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers)


def build_builtin(hp: Mapping[str, Any], n_inputs: int | tuple[int, ...] | list[int], n_out: int) -> nn.Sequential:
    """The built-in model a trial's parameters (``TrialParams.as_dict()``) describe, as a plain module:
    :func:`build_cnn` when ``hp["model"]`` is ``cnn``, else :func:`build_mlp` (``n_inputs``: one sample's
    shape for the CNN, the number of features for the MLP)."""
    common = dict(depth=int(hp["depth"]), width=int(hp["width"]), activation=str(hp["activation"]),
                  dropout=float(hp["dropout"]))
    if hp.get("model") == "cnn":
        shape = tuple(int(s) for s in n_inputs) if not isinstance(n_inputs, int) else (n_inputs,)
        return build_cnn(shape, n_out, conv_blocks=int(hp["conv_blocks"]), channels=int(hp["channels"]),
                         kernel_size=int(hp["kernel_size"]), pooling=str(hp["pooling"]),
                         batch_norm=bool(hp["batch_norm"]), channels_last=hp.get("channels_last"),
                         **common)  # type: ignore[arg-type]
    n_in = n_inputs if isinstance(n_inputs, int) else int(torch.tensor(list(n_inputs)).prod().item())
    return build_mlp(n_in, n_out, **common)  # type: ignore[arg-type]


def _plan(layers: list[tuple[str, nn.Module]], activation: str) -> list[tuple[str, int, nn.Module]]:
    """What :meth:`StackedCNN.forward` runs, layer by layer: ``(kind, index of the template layer, layer)``.

    A ReLU followed by max pooling runs as one ``pool_act`` step, pooling first: the same numbers (ReLU
    is monotone, so the maximum of the activations is the activation of the maximum) and the same
    gradients (a window's largest input gets the gradient either way; ReLU's is 0 where it is 0), with
    the activation on a quarter of the positions. Other activations keep the network's order.
    """
    plan: list[tuple[str, int, nn.Module]] = []
    skip = False
    for i, (name, layer) in enumerate(layers):
        if skip:
            skip = False
            continue
        nxt = layers[i + 1][0] if i + 1 < len(layers) else ""
        if name in _ACTIVATION_LAYERS and activation == "relu" and nxt.startswith("MaxPool"):
            plan.append(("pool_act", i, layer))
            skip = True
        else:
            plan.append((_KINDS.get(name, "act"), i, layer))
    return plan


_KINDS = {"Conv1d": "conv", "Conv2d": "conv", "BatchNorm1d": "norm", "BatchNorm2d": "norm", "MaxPool1d": "max",
          "MaxPool2d": "max", "AvgPool1d": "avg", "AvgPool2d": "avg", "Flatten": "flatten", "Linear": "linear",
          "Dropout": "dropout", "ChannelsFirst": "none"}
_ACTIVATION_LAYERS = ("ReLU", "Tanh", "GELU", "Sigmoid")


class StackedCNN:
    """k copies of :func:`build_cnn`'s network (one per fold, each from its seed) trained as one.

    Takes ``(k, b, C, *spatial)`` and returns ``(k, b, n_out)``.
    """

    def __init__(self, sample_shape: tuple[int, ...], n_out: int, *, seeds: list[int], device: torch.device,
                 **arch: object) -> None:
        self.n_folds = k = len(seeds)
        self._spec = (tuple(sample_shape), n_out, dict(arch), k)
        # hidden layers, as the MLP's depth counts them: the conv blocks and the dense layers of the head
        self.depth: int | None = int(arch["conv_blocks"]) + int(arch["depth"])  # type: ignore[call-overload]
        self.dims = len(sample_shape) - 1
        self.activation = str(arch["activation"])
        self.dropout = float(arch["dropout"])  # type: ignore[arg-type]
        self.training = True
        self.generator: torch.Generator | None = None  # where train-mode dropout draws (None: torch's global)
        nets = []
        for s in seeds:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(s)
                nets.append(build_cnn(sample_shape, n_out, **arch))  # type: ignore[arg-type]
        self.template = nets[0]
        self._layers: list[tuple[str, nn.Module]] = []  # (kind, template layer) in order
        self._tensors: dict[str, Tensor] = {}  # stacked parameters and buffers by the template's names
        self._params: list[Tensor] = []
        for i, layer in enumerate(self.template):
            for name, _ in layer.named_parameters():
                t = self._stack(nets, i, name, layer, k).to(device).requires_grad_()
                self._tensors[f"{i}.{name}"] = t
                self._params.append(t)
            for name, buf in layer.named_buffers():
                if buf.ndim:  # batch norm's running mean and variance (not its step counter)
                    self._tensors[f"{i}.{name}"] = self._stack(nets, i, name, layer, k).to(device)
            self._layers.append((type(layer).__name__, layer))
        self._steps = _plan(self._layers, self.activation)

    @property
    def spec(self) -> tuple[tuple[int, ...], int, dict[str, Any], int]:
        """What rebuilds this stack's shape elsewhere (picklable): sample shape, outputs, architecture, folds."""
        return self._spec

    @classmethod
    def shell(cls, spec: tuple[tuple[int, ...], int, dict[str, Any], int], tensors: Mapping[str, Tensor]) -> StackedCNN:
        """A stack of ``spec``'s shape over the given tensors (a snapshot's, another process's), in eval mode."""
        sample_shape, n_out, arch, k = spec
        cnn = cls.__new__(cls)
        cnn.n_folds, cnn.depth, cnn.dims = k, int(arch["conv_blocks"]) + int(arch["depth"]), len(sample_shape) - 1
        cnn.activation, cnn.dropout = str(arch["activation"]), float(arch["dropout"])
        cnn.training, cnn.generator, cnn._spec = False, None, spec
        with torch.random.fork_rng(devices=[]):
            cnn.template = build_cnn(sample_shape, n_out, **arch)
        cnn._layers = [(type(layer).__name__, layer) for layer in cnn.template]
        cnn._steps = _plan(cnn._layers, cnn.activation)
        cnn._tensors = dict(tensors)
        trained = {f"{i}.{n}" for i, layer in enumerate(cnn.template) for n, _ in layer.named_parameters()}
        cnn._params = [t.requires_grad_() for name, t in cnn._tensors.items() if name in trained]
        return cnn

    def tensors(self) -> dict[str, Tensor]:
        """Every stacked tensor by the template's names: the parameters and batch norm's running statistics."""
        return self._tensors

    @staticmethod
    def _stack(nets: list[nn.Sequential], i: int, name: str, layer: nn.Module, k: int) -> Tensor:
        parts = [dict(n[i].named_parameters()).get(name, dict(n[i].named_buffers()).get(name)) for n in nets]
        if isinstance(layer, nn.Linear):  # batched matmul layout: (k, in, out) and (k, 1, out)
            return torch.stack([p.detach().t() if name == "weight" else p.detach()[None] for p in parts])  # type: ignore[union-attr]
        return torch.cat([p.detach() for p in parts])  # type: ignore[union-attr]  # grouped: folds side by side

    def parameters(self) -> list[Tensor]:
        return self._params

    def train(self, mode: bool = True) -> None:
        self.training = mode

    def forward(self, x: Tensor) -> Tensor:
        k, b = x.shape[:2]
        if self._layers and self._layers[0][0] == "ChannelsFirst":
            x = x.transpose(-1, -2)
        if self.dims == 2:  # images channels-last (NHWC), where oneDNN's grouped convolution, batch norm and
            # pooling are fastest: the folds' channels side by side at each position, in one copy
            c, height, width = x.shape[2:]
            h = x.permute(1, 3, 4, 0, 2).reshape(b, height, width, k * c).permute(0, 3, 1, 2)
            h = h.contiguous(memory_format=torch.channels_last)  # (a view above when nothing moved: k = 1)
        else:
            h = x.transpose(0, 1).reshape(b, k * x.shape[2], *x.shape[3:])  # the folds' channels side by side
        drop = dropout_fn(self.dropout, x.device, x.dtype, generator=self.generator) if self.training else None
        act = ACTIVATION_FNS[self.activation]
        t = self._tensors
        for kind, i, layer in self._steps:
            if kind == "conv":
                h = _CONV_FN[self.dims](h, t[f"{i}.weight"], t[f"{i}.bias"], padding=layer.padding, groups=k)
            elif kind == "norm":
                h = F.batch_norm(h, t[f"{i}.running_mean"], t[f"{i}.running_var"], t[f"{i}.weight"],
                                 t[f"{i}.bias"], self.training, 0.1, 1e-5)
            elif kind in ("max", "avg"):
                h = _POOL_FN[(kind, self.dims)](h, 2)
            elif kind == "pool_act":  # relu(max_pool(h)) = max_pool(relu(h)), on a quarter of the numbers
                h = act(_POOL_FN[("max", self.dims)](h, 2))
            elif kind == "flatten":
                h = h.reshape(b, k, -1).transpose(0, 1)
            elif kind == "linear":
                h = torch.baddbmm(t[f"{i}.bias"], h, t[f"{i}.weight"])
            elif kind == "dropout":
                if drop is not None:
                    h = h * drop(h.shape)
            elif kind == "act":
                h = act(h)
        return h

    def n_params(self) -> int:
        return sum(p.numel() for p in self._params) // self.n_folds

    def fold_state_dict(self, fold: int) -> dict[str, Tensor]:
        """Fold ``fold``'s weights as a state dict of :func:`build_cnn`'s module."""
        out = {k: v.clone() for k, v in self.template.state_dict().items()}  # step counters kept as built
        for name, t in self._tensors.items():
            i = int(name.split(".")[0])
            if isinstance(self.template[i], nn.Linear):
                part = t[fold].t() if name.endswith("weight") else t[fold, 0]
            else:
                n = t.shape[0] // self.n_folds
                part = t[fold * n:(fold + 1) * n]
            out[name] = part.detach().contiguous().cpu().clone()
        return out


class CNNSnapshot:
    """A copy of a :class:`StackedCNN`'s tensors (measured while the originals train on), in shared
    memory when ``shared``: the measuring process reads them there."""

    def __init__(self, cnn: StackedCNN, *, shared: bool = False) -> None:
        self.spec = cnn.spec
        self.tensors = {k: torch.empty_like(v, requires_grad=False) for k, v in cnn.tensors().items()}
        if shared:
            for t in self.tensors.values():
                t.share_memory_()
        self.copy_from(cnn)

    def copy_from(self, cnn: StackedCNN) -> None:
        """Take ``cnn``'s current tensors (in place)."""
        with torch.no_grad():
            for k, t in cnn.tensors().items():
                self.tensors[k].copy_(t)

    def restore(self, cnn: StackedCNN) -> None:
        """Put these tensors back into ``cnn`` (in place: its optimizer keeps the same tensors)."""
        with torch.no_grad():
            for k, t in cnn.tensors().items():
                t.copy_(self.tensors[k])

    def stack(self) -> StackedCNN:
        """A stack over copies of these tensors, in eval mode, to measure."""
        return StackedCNN.shell(self.spec, {k: v.clone() for k, v in self.tensors.items()})
