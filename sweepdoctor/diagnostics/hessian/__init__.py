"""The Hessian: the loss surface of a live model at its current weights (RULES.md §2, §3).

``hessian_analysis(model, loss_fn, X, y)`` computes the extreme eigenvalues and what
kind of critical point the weights sit at (``_analysis``, with Lanczos quadrature from
``_lanczos`` for large models); a :class:`HessianReport` holds what it found, numpy
arrays only, and ``hessian_findings`` turns it into findings (``_report``).

May import: the standard library, numpy, ``sweepdoctor.errors`` and the findings it
returns (``sweepdoctor.diagnostics._findings``, a module of the parent, not of a
sibling room); scipy and torch only in ``_analysis``, which this ``__init__`` loads on
first use of ``hessian_analysis``/``top_eigenvalue`` (PEP 562), so that importing the
report costs no torch. Nothing else in ``diagnostics`` but ``_diagnose`` and the
package ``__init__`` imports this room.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from sweepdoctor.diagnostics.hessian._report import HessianReport, PointKind, hessian_findings

if _typing.TYPE_CHECKING:
    from sweepdoctor.diagnostics.hessian._analysis import hessian_analysis, top_eigenvalue

# torch takes seconds to import: the analysis is loaded on first use (PEP 562).
_ANALYSIS = "sweepdoctor.diagnostics.hessian._analysis"
_LAZY = {"hessian_analysis": _ANALYSIS, "top_eigenvalue": _ANALYSIS}


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        return getattr(_importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["HessianReport", "PointKind", "hessian_analysis", "hessian_findings", "top_eigenvalue"]
