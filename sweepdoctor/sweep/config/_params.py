"""The concrete hyper-parameters of one trial: plain values, no Optuna, no torch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from sweepdoctor.sweep.config._space import CNN_PARAMS, optimizer_params

__all__ = ["TrialParams"]


@dataclass(frozen=True)
class TrialParams:
    """The concrete hyper-parameters of one trial."""

    lr: float
    batch_size: int
    optimizer: str
    schedule: str
    weight_decay: float
    dropout: float
    patience: int
    depth: int
    width: int
    activation: str
    momentum: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    model: str = "auto"  # auto | mlp | cnn (see config.model_for)
    conv_blocks: int = 2
    channels: int = 16
    kernel_size: int = 3
    pooling: str = "max"
    batch_norm: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict, without those the optimizer or the model does not use
        (the model when it is not ``auto``; the CNN's parameters for the built-in CNN only)."""
        d = asdict(self)
        d.pop("extra")
        for name in {"momentum", "beta1", "beta2"} - set(optimizer_params(self.optimizer)):
            d.pop(name)
        if self.model != "cnn":
            for name in CNN_PARAMS:
                d.pop(name)
        if self.model == "auto":
            d.pop("model")
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialParams:
        """The inverse of :meth:`as_dict`: known fields typed, the rest kept in ``extra``."""
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: v for k, v in d.items() if k in known}
        extra = {k: v for k, v in d.items() if k not in known}
        missing = [f.name for f in fields(cls) if f.name in known and f.default is MISSING and f.name not in values]
        if missing:
            raise ValueError(f"trial parameters lack {', '.join(missing)}")
        return cls(**values, extra=extra)
