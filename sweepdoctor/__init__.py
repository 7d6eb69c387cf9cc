"""sweepdoctor: k-fold Optuna sweeps of PyTorch models, and a diagnosis of what went wrong."""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from sweepdoctor.errors import SweepdoctorError

if _typing.TYPE_CHECKING:
    from sweepdoctor.integrations import record

__all__ = ["SweepdoctorError", "__version__", "record"]

__version__ = "0.1.0"

# ``record`` lives in ``integrations``, which imports Optuna and SQLAlchemy (~1 s): loaded on
# first use (PEP 562), so that ``import sweepdoctor`` and ``sweepdoctor --help`` stay cheap.
_LAZY = {"record": "sweepdoctor.integrations"}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
