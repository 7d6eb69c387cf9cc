"""The search space: each hyper-parameter is fixed, a numeric range, or a set of choices.

In TOML a fixed value is a scalar (``depth = 2``), a range is a table
(``lr = {low = 1e-4, high = 0.3, log = true}``) and choices are a list
(``optimizer = ["adam", "sgd"]``). ``optimizer_lr`` narrows ``lr`` for some optimizers
(``optimizer_lr = {adam = {low = 1e-4, high = 1e-2, log = true}}``): a trial that draws
``adam`` samples its learning rate from the part of ``lr`` inside that window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Union

from sweepdoctor.errors import ConfigError

__all__ = [
    "ACTIVATIONS",
    "CNN_PARAMS",
    "MODELS",
    "POOLINGS",
    "OPTIMIZERS",
    "SAMPLED",
    "SCHEDULES",
    "Choice",
    "Fixed",
    "FloatRange",
    "IntRange",
    "Param",
    "SearchSpace",
    "admits",
    "model_for",
    "optimizer_params",
]

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup")
ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid")
# The built-in models: auto is the MLP for a table, the CNN for images and sequences.
MODELS = ("auto", "mlp", "cnn")
POOLINGS = ("max", "avg", "none")
# The built-in CNN's own parameters (its dense head is ``depth`` layers of ``width``).
CNN_PARAMS = ("conv_blocks", "channels", "kernel_size", "pooling", "batch_norm")
# What every trial samples after its optimizer, in the order the sampler is asked.
SAMPLED = ("lr", "batch_size", "schedule", "weight_decay", "dropout", "patience", "depth", "width", "activation",
           "model", *CNN_PARAMS)


def optimizer_params(optimizer: object) -> tuple[str, ...]:
    """The parameters only this optimizer uses (sampled after :data:`SAMPLED`)."""
    if optimizer in ("momentum", "nesterov"):
        return ("momentum",)
    if optimizer in ("adam", "adamw"):
        return ("beta1", "beta2")
    return ()


def model_for(model: object, sample_ndim: int) -> str:
    """The built-in model a trial trains: ``model``, with ``auto`` resolved by the samples' number of axes
    (1 for a table's rows: the MLP; 2 or 3 for sequences and images: the CNN)."""
    if model == "auto":
        return "mlp" if sample_ndim <= 1 else "cnn"
    return str(model)


@dataclass(frozen=True)
class Fixed:
    value: Any


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False
    # Also try exactly 0 (as a separate ``use_<name>`` choice): for weight decay.
    include_zero: bool = False


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]


Param = Union[Fixed, FloatRange, IntRange, Choice]


def admits(p: Param, value: Any) -> bool:
    """Whether ``p`` can take ``value``: one of its choices, its fixed value, or a number in its range
    (to a relative 1e-9, the round trip of a float through the database; 0 where the range includes it)."""
    if isinstance(p, Fixed):
        return value == p.value or (_number(value) and _number(p.value) and math.isclose(value, p.value, rel_tol=1e-9))
    if isinstance(p, Choice):
        return value in p.values
    if not _number(value):
        return False
    if isinstance(p, FloatRange) and p.include_zero and value == 0:
        return True
    return p.low * (1 - 1e-9) <= value <= p.high * (1 + 1e-9)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class SearchSpace:
    """What the sweep explores. Every field can be fixed, a range, or choices."""

    lr: Param = FloatRange(1e-4, 0.3, log=True)
    batch_size: Param = Choice((16, 32, 64, 128))
    optimizer: Param = Choice(OPTIMIZERS)
    momentum: Param = FloatRange(0.5, 0.99)  # sgd momentum / nesterov
    beta1: Param = FloatRange(0.8, 0.99)  # adam / adamw first moment
    beta2: Param = Fixed(0.999)
    schedule: Param = Choice(SCHEDULES)
    weight_decay: Param = FloatRange(1e-6, 1e-2, log=True, include_zero=True)
    dropout: Param = FloatRange(0.0, 0.5)
    patience: Param = Choice((0, 5))  # early stopping on validation loss; 0 = off
    depth: Param = Fixed(2)
    width: Param = Fixed(128)
    activation: Param = Fixed("relu")
    model: Param = Fixed("auto")  # auto | mlp | cnn (auto: the CNN for images and sequences)
    conv_blocks: Param = Fixed(2)  # the built-in CNN: blocks of convolution (+ batch norm), activation, pooling
    channels: Param = Fixed(16)  # filters of the first block (doubled in each next one)
    kernel_size: Param = Fixed(3)
    pooling: Param = Fixed("max")  # max | avg | none
    batch_norm: Param = Fixed(True)
    # Per-optimizer learning-rate windows inside ``lr`` (optimizer -> log range), in OPTIMIZERS order.
    optimizer_lr: tuple[tuple[str, FloatRange], ...] = ()

    def lr_for(self, optimizer: object) -> Param:
        """The learning rates a trial with this optimizer samples from: ``lr``, inside its window if any."""
        window = dict(self.optimizer_lr).get(optimizer)  # type: ignore[call-overload]
        lr = self.lr
        if window is None or not isinstance(lr, FloatRange):
            return lr
        low, high = max(lr.low, window.low), min(lr.high, window.high)
        if low >= high:  # the window lies outside ``lr`` (edited since): its nearer end
            return Fixed(min(max(window.low, lr.low), lr.high))
        return FloatRange(low, high, lr.log)

    def with_lr_window(self, optimizers: Any, window: FloatRange | None) -> SearchSpace:
        """This space with ``window`` as the learning-rate window of each of ``optimizers`` (None: none)."""
        windows = {k: v for k, v in self.optimizer_lr if k not in set(optimizers)}
        if window is not None:
            windows.update({o: window for o in optimizers})
        return replace(self, optimizer_lr=tuple((o, windows[o]) for o in OPTIMIZERS if o in windows))

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any], *, base: SearchSpace | None = None) -> SearchSpace:
        """Build from a TOML ``[space]`` table; keys not given keep ``base``'s value."""
        if not isinstance(doc, Mapping):
            raise ConfigError(f"[space] must be a table (e.g. lr = [1e-3, 1e-2]), got {doc!r}")
        known = {f.name for f in fields(cls)}
        values = {f.name: getattr(base or cls(), f.name) for f in fields(cls)}
        for key, raw in doc.items():
            if key not in known:
                raise ConfigError(
                    f"space: unknown key {key!r}; valid keys: {', '.join(sorted(known))}"
                )
            values[key] = _parse_windows(raw) if key == "optimizer_lr" else _parse_param(key, raw)
        space = cls(**values)
        space.validate()
        return space

    def validate(self) -> None:
        for f in fields(self):
            if f.name != "optimizer_lr":
                _check_param(f.name, getattr(self, f.name))
        for name, window in _window_pairs(self.optimizer_lr):
            where = f"space.optimizer_lr.{name}"
            if name not in OPTIMIZERS:
                raise ConfigError(f"space.optimizer_lr: {name!r} is not one of {', '.join(OPTIMIZERS)}; "
                                  "name an optimizer of space.optimizer")
            if not isinstance(window, FloatRange):
                raise ConfigError(f"{where}: must be a range like {{low = 1e-4, high = 1e-2, log = true}}, "
                                  f"got {window!r}")
            _check_param("lr", window, where)
            lr = self.lr
            if isinstance(lr, FloatRange) and (window.high < lr.low or window.low > lr.high):
                raise ConfigError(f"{where}: {window.low:g}..{window.high:g} lies outside "
                                  f"lr {lr.low:g}..{lr.high:g}; give a window inside it")

    def fingerprint(self) -> dict[str, Any]:
        """A JSON-able description, compared on resume (``optimizer_lr`` and the model's keys only when set,
        so that studies made before them resume)."""
        out = {f.name: {"kind": type(p).__name__, **asdict(p)} for f in fields(self) if f.name != "optimizer_lr"
               for p in [getattr(self, f.name)] if f.name not in _SINCE_IMAGES or p != f.default}
        if self.optimizer_lr:
            out["optimizer_lr"] = {k: asdict(v) for k, v in self.optimizer_lr}
        return out


def _window_pairs(windows: Any) -> list[tuple[Any, Any]]:
    """``optimizer_lr`` as (optimizer, window) pairs; anything else is refused by name."""
    try:
        pairs = [(name, window) for name, window in windows]
    except (TypeError, ValueError):
        raise ConfigError(f"space.optimizer_lr must be (optimizer, FloatRange) pairs, got {windows!r}; "
                          "in TOML: optimizer_lr = {adam = {low = 1e-4, high = 1e-2, log = true}}") from None
    return pairs


def _parse_windows(raw: Any) -> tuple[tuple[str, FloatRange], ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"space.optimizer_lr must be a table of optimizer = {{low, high}}, got {raw!r}; "
                          "like optimizer_lr = {adam = {low = 1e-4, high = 1e-2, log = true}}")
    windows = {}
    for name, r in raw.items():
        where = f"space.optimizer_lr.{name}"
        if name not in OPTIMIZERS:
            raise ConfigError(f"space.optimizer_lr: {name!r} is not one of {', '.join(OPTIMIZERS)}; "
                              "name an optimizer of space.optimizer")
        if not isinstance(r, Mapping):
            raise ConfigError(f"{where}: must be a range like {{low = 1e-4, high = 1e-2, log = true}}, got {r!r}")
        p = _parse_range("lr", r, where)
        if not isinstance(p, FloatRange):  # pragma: no cover - lr ranges are float ranges
            raise ConfigError(f"{where} must be a range like {{low = 1e-4, high = 1e-2, log = true}}")
        windows[name] = p
    return tuple((o, windows[o]) for o in OPTIMIZERS if o in windows)


def _parse_param(key: str, raw: Any) -> Param:
    if isinstance(raw, Mapping):
        return _parse_range(key, raw, f"space.{key}")
    if isinstance(raw, list):
        if not raw:
            raise ConfigError(f"space.{key}: the list of choices is empty; give at least one value")
        return Choice(tuple(raw))
    return Fixed(raw)


_RANGE_KEYS = ("low", "high", "log", "include_zero")


def _parse_range(key: str, raw: Mapping[Any, Any], where: str) -> FloatRange | IntRange:
    """A ``{low, high, log, include_zero}`` table: numbers for the bounds, TOML booleans for the flags."""
    extra = [str(k) for k in raw if k not in _RANGE_KEYS]
    if extra:
        raise ConfigError(f"{where}: unknown option {extra[0]!r}; a range takes {', '.join(_RANGE_KEYS)}")
    if "low" not in raw or "high" not in raw:
        raise ConfigError(f"{where}: a range needs both 'low' and 'high', got {dict(raw)}; "
                          "like {low = 1e-4, high = 1e-2}")
    low, high = _bound(f"{where}.low", raw["low"]), _bound(f"{where}.high", raw["high"])
    log = _flag(f"{where}.log", raw.get("log", False))
    zero = _flag(f"{where}.include_zero", raw.get("include_zero", False))
    if zero and key not in _FLOAT_KEYS:
        raise ConfigError(f"{where}.include_zero: only a range of floats (like weight_decay) can include zero, "
                          f"got include_zero = true; list 0 among choices instead")
    integral = all(isinstance(b, int) or float(b).is_integer() for b in (low, high))
    if key in _INT_KEYS and integral:
        return IntRange(int(low), int(high), log)
    if key not in _FLOAT_KEYS and isinstance(low, int) and isinstance(high, int):
        return IntRange(low, high, log)
    return FloatRange(float(low), float(high), log, zero)


def _bound(where: str, value: Any) -> float | int:
    """A range's bound: a TOML number (not text, not a boolean), finite and within a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} must be a number, got {_show(value)}; write it without quotes (like 1e-3)")
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        raise ConfigError(f"{where} must be a finite number, got {_show(value)}; give a finite bound")
    return value


def _flag(where: str, value: Any) -> bool:
    """A range's ``log``/``include_zero``: a TOML boolean (``"no"`` is text, not false)."""
    if not isinstance(value, bool):
        flag = where.rsplit(".", 1)[-1]
        raise ConfigError(f"{where} must be true or false (a TOML boolean), got {_show(value)}; "
                          f"write {flag} = true or {flag} = false, without quotes")
    return value


_SINCE_IMAGES = {"model", *CNN_PARAMS}
_FLOAT_KEYS = {"lr", "momentum", "beta1", "beta2", "weight_decay", "dropout"}
_INT_KEYS = {"batch_size", "patience", "depth", "width", "conv_blocks", "channels", "kernel_size"}
_CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "activation": ACTIVATIONS, "model": MODELS,
            "pooling": POOLINGS, "batch_norm": (True, False)}
_BOUNDS: dict[str, tuple[float, float]] = {
    "lr": (0.0, math.inf),
    "momentum": (0.0, 1.0),
    "beta1": (0.0, 1.0),
    "beta2": (0.0, 1.0),
    "weight_decay": (0.0, math.inf),
    "dropout": (0.0, 1.0),
    "batch_size": (1, math.inf),
    "patience": (0, math.inf),
    "depth": (0, 16),
    "width": (1, 1 << 16),
    "conv_blocks": (1, 8),
    "channels": (1, 1024),
    "kernel_size": (1, 15),
}


def _values(p: Param) -> list[tuple[str, Any]]:
    """Each value ``p`` names, with where it stands (``""``, ``.low``, ``.high``, ``.include_zero``)."""
    if isinstance(p, Fixed):
        return [("", p.value)]
    if isinstance(p, Choice):
        return [("", v) for v in p.values]
    zero = [(".include_zero", 0)] if isinstance(p, FloatRange) and p.include_zero is True else []
    return [(".low", p.low), (".high", p.high), *zero]


def _check_param(key: str, p: Any, where: str | None = None) -> None:
    """Refuse a value ``key`` cannot take; errors name ``where`` (default ``space.<key>``)."""
    where = where or f"space.{key}"
    if not isinstance(p, (Fixed, FloatRange, IntRange, Choice)):
        raise ConfigError(f"{where} must be a Fixed, FloatRange, IntRange or Choice, got {p!r}; "
                          "in TOML a value, a {low, high} table or a list")
    if isinstance(p, Choice) and (not isinstance(p.values, tuple) or not p.values):
        raise ConfigError(f"{where}: the choices must be a non-empty tuple, got {p.values!r}")
    if isinstance(p, (FloatRange, IntRange)) and key in _CHOICES:
        raise ConfigError(f"{where}: must be a value or a list of choices, not a range")
    for part, v in _values(p):
        _check_number(key, v, where + part)
    if isinstance(p, (FloatRange, IntRange)):
        _check_range(p, where)
    for part, v in _values(p):
        _check_bounds(key, v, where + part)
    if key == "batch_size" and not isinstance(p, IntRange):
        for _, v in _values(p):
            if int(v) & (int(v) - 1):
                raise ConfigError(f"{where}: {v} is not a power of two; use 16, 32, 64, ...")


def _check_range(p: FloatRange | IntRange, where: str) -> None:
    for flag in ("log", *(("include_zero",) if isinstance(p, FloatRange) else ())):
        _flag(f"{where}.{flag}", getattr(p, flag))
    if isinstance(p, IntRange) and not all(float(b).is_integer() for b in (p.low, p.high)):
        raise ConfigError(f"{where}: an integer range needs whole bounds, got low={p.low}, high={p.high}")
    if p.low > p.high:
        raise ConfigError(f"{where}.low: low must be <= high, got low={p.low}, high={p.high}; swap them")
    if p.log and p.low <= 0:
        raise ConfigError(f"{where}.low: a log range needs low > 0, got low={p.low}; raise low or set log = false")


def _show(v: Any) -> str:
    """``repr(v)``, shortened for a number of hundreds of digits."""
    text = repr(v)
    return text if len(text) <= 40 else f"{text[:12]}...({len(text)} characters)"


def _check_number(key: str, v: Any, where: str) -> None:
    """One of the key's choices, or a finite number (a whole one for an integer key)."""
    if key in _CHOICES:
        if v not in _CHOICES[key] or isinstance(v, bool) != (key == "batch_norm"):
            raise ConfigError(f"{where}: {_show(v)} is not one of {', '.join(map(str, _CHOICES[key]))}")
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {_show(v)}; write it without quotes")
    try:
        finite = math.isfinite(v)
    except OverflowError:
        finite = False
    if not finite:
        raise ConfigError(f"{where}: {_show(v)} is not a finite number; give finite values")
    if key in _INT_KEYS and not float(v).is_integer():
        raise ConfigError(f"{where}: expected an integer, got {v!r}")


def _check_bounds(key: str, v: Any, where: str) -> None:
    if key in _CHOICES:
        return
    lo, hi = _BOUNDS[key]
    low_open, high_open = key == "lr", key in ("momentum", "beta1", "beta2", "dropout")
    if v < lo or v > hi or (low_open and v <= lo) or (high_open and v >= hi):
        ends = f"{'(' if low_open else '['}{lo:g}, {hi:g}{')' if high_open else ']'}"
        raise ConfigError(f"{where}: {_show(v)} is out of range {ends}; give a value inside it")
