"""The package's exceptions: one root, a few specific children.

The CLI catches :class:`SweepdoctorError` once and prints its message as one line.
Everything a user can get wrong (config, data, storage URL, history files) raises a
subclass of it; infrastructure errors are wrapped with ``raise ... from e``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "HistoryFormatError",
    "StorageError",
    "SweepdoctorError",
]


class SweepdoctorError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(SweepdoctorError):
    """A sweep configuration (TOML, CLI flag or API argument) is invalid."""


class DataError(SweepdoctorError):
    """Input data cannot be used (missing column, non-numeric feature, too few rows)."""


class StorageError(SweepdoctorError):
    """The study database cannot be reached, read or written, or a study is missing."""


class HistoryFormatError(SweepdoctorError):
    """A training-history document does not follow ``sweepdoctor.history/1``."""
