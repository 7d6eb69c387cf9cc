"""The package's exceptions: one root, a few specific children.

The CLI catches :class:`SweepdoctorError` once and prints its message as one line.
Everything a user can get wrong (config, data, storage URL, history files) raises a
subclass of it; infrastructure errors are wrapped with ``raise ... from e``.

The faces decide by type, never by the words of a message (Optuna's
``DuplicatedStudyError`` is the model): a :class:`NotFoundError` is an HTTP 404 and
tells an agent that its sweep is gone, a :class:`DuplicatedSweepError` is a 409, a
:class:`TooLargeError` a 413; any other :class:`StorageError` is the database failing.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CurvesNotFoundError",
    "DataError",
    "DuplicatedSweepError",
    "HistoryFormatError",
    "NotFoundError",
    "StorageError",
    "StudyNotFoundError",
    "SweepNotFoundError",
    "SweepdoctorError",
    "TooLargeError",
    "TrialNotFoundError",
]


class SweepdoctorError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(SweepdoctorError):
    """A sweep configuration (TOML, CLI flag or API argument) is invalid."""


class DataError(SweepdoctorError):
    """Input data cannot be used (missing column, non-numeric feature, too few rows)."""


class TooLargeError(DataError):
    """An input (an uploaded file, a submitted configuration, a request's document) is over a size limit."""


class DuplicatedSweepError(ConfigError):
    """A sweep of that name was already submitted (as Optuna's ``DuplicatedStudyError``)."""


class StorageError(SweepdoctorError):
    """The study database cannot be reached, read or written, or a study is missing."""


class NotFoundError(StorageError):
    """What was asked for is not stored (the database itself answered): a study, a trial, curves, a sweep."""


class StudyNotFoundError(NotFoundError):
    """No study of that name in the database."""


class TrialNotFoundError(NotFoundError):
    """The study has no stored trial (or no stored run) of that number.

    ``available`` says which trials there are, when the raiser knew (else ``""``).
    """

    def __init__(self, message: str, *, available: str = "") -> None:
        super().__init__(message)
        self.available = available


class CurvesNotFoundError(NotFoundError):
    """The study exists but has none of sweepdoctor's curves (plain Optuna, or none stored yet)."""


class SweepNotFoundError(NotFoundError):
    """No submitted sweep of that name."""


class HistoryFormatError(SweepdoctorError):
    """A training-history document does not follow ``sweepdoctor.history/1``."""
