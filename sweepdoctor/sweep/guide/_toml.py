"""A search space as the ``[space]`` table of a sweep TOML file."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sweepdoctor.sweep.config import Choice, Fixed, FloatRange, IntRange, SearchSpace

__all__ = ["space_toml", "toml_value"]


def toml_value(v: Any) -> str:
    """One TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return f"{v:.6g}" if "e" in f"{v:.6g}" or "." in f"{v:.6g}" else f"{v:.6g}.0"
    return str(v)


def space_toml(space: SearchSpace, *, only: set[str] | None = None) -> str:
    """``[space]`` lines for ``space`` (the parameters in ``only``, or all); loads back with ``load_config``."""
    lines = ["[space]"]
    for f in fields(space):
        if only is not None and f.name not in only:
            continue
        p = getattr(space, f.name)
        if f.name == "optimizer_lr":
            if p:
                lines.append(f"{f.name} = {{{', '.join(f'{k} = {_range(w)}' for k, w in p)}}}")
        elif isinstance(p, Fixed):
            lines.append(f"{f.name} = {toml_value(p.value)}")
        elif isinstance(p, Choice):
            lines.append(f"{f.name} = [{', '.join(toml_value(v) for v in p.values)}]")
        elif isinstance(p, (FloatRange, IntRange)):
            lines.append(f"{f.name} = {_range(p)}")
    return "\n".join(lines) + "\n"


def _range(p: FloatRange | IntRange) -> str:
    opts = [f"low = {toml_value(p.low)}", f"high = {toml_value(p.high)}"]
    if p.log:
        opts.append("log = true")
    if isinstance(p, FloatRange) and p.include_zero:
        opts.append("include_zero = true")
    return f"{{{', '.join(opts)}}}"
