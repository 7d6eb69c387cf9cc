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
    """``doc`` as indented JSON on stdout, cleaned by :func:`sweepdoctor.studies.jsonable` (NaN → null)."""
    # Imported here: the studies package loads SQLAlchemy and Optuna, which
    # `sweepdoctor diagnose --history FILE` otherwise never needs.
    from sweepdoctor.studies import jsonable

    click.echo(json.dumps(jsonable(doc), indent=2, allow_nan=False))
