"""Shared rendering helpers for the CLI (rich)."""

from __future__ import annotations

import json
import math
from typing import Any

import click
from rich.console import Console


def make_console(*, stderr: bool = False) -> Console:
    return Console(stderr=stderr, soft_wrap=False)


def context_console(**kwargs: Any) -> Console:
    """The console to render on: one a caller put in ``ctx.obj`` (tests), else a new one."""
    obj = click.get_current_context().find_root().obj
    if isinstance(obj, Console):
        return obj
    if isinstance(obj, dict) and isinstance(obj.get("console"), Console):
        return obj["console"]
    return Console(**kwargs)


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.{digits - 1}e}"
        return f"{v:.{digits}g}"
    return str(v)


def echo_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, default=_default, allow_nan=False))


def _default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "value"):
        return o.value
    return str(o)
