"""What a request may carry: the body, a submitted configuration and its CSV (bytes).

Checking a submitted sweep is the library's (:func:`sweepdoctor.sweep.check_submission`):
the service reads the request and passes these limits on.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True)
class Limits:
    """Sizes a request may have (bytes)."""

    body: int = 16 * 2**20  # any request body
    config: int = 60_000  # the TOML text (fits MySQL's TEXT)
    csv: int = 8 * 2**20  # an uploaded CSV
