"""Each package's ``__all__`` is exactly its public names (httpx's test_exported_members)."""

from __future__ import annotations

import types

import pytest

import sweepdoctor
from sweepdoctor import integrations, studies, sweep


@pytest.mark.parametrize("module", [sweepdoctor, sweep, studies, integrations], ids=lambda m: m.__name__)
def test_all_is_exactly_the_public_names(module: types.ModuleType) -> None:
    public = {
        name
        for name in dir(module)
        if not name.startswith("_")
        and not isinstance(getattr(module, name), types.ModuleType)
        and name != "annotations"
    }
    public.discard("__version__")
    assert set(module.__all__) - {"__version__"} == public
    assert len(module.__all__) == len(set(module.__all__))
