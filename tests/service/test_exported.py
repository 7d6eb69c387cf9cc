"""The service's ``__all__`` is exactly its public names."""

from __future__ import annotations

import types

from sweepdoctor import service


def test_all_is_exactly_the_public_names() -> None:
    public = {n for n in dir(service) if not n.startswith("_") and not isinstance(getattr(service, n), types.ModuleType)
              and n != "annotations"}
    assert set(service.__all__) == public
