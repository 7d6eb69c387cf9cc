"""sweepdoctor: k-fold Optuna sweeps of PyTorch models, and a diagnosis of what went wrong."""

from __future__ import annotations

from sweepdoctor.errors import SweepdoctorError

__all__ = ["SweepdoctorError", "__version__"]

__version__ = "0.1.0"
