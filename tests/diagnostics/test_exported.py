"""``__all__`` is exactly the public names of the package (httpx's test_exported_members)."""

from __future__ import annotations

import types

from sweepdoctor import diagnostics


def test_all_is_exactly_the_public_names() -> None:
    public = {
        name for name in dir(diagnostics)  # dir() includes the lazily imported names
        if not name.startswith("_")
        and not isinstance(getattr(diagnostics, name), types.ModuleType)
        and name != "annotations"
    }
    assert set(diagnostics.__all__) == public
    assert sorted(diagnostics.__all__, key=str.lower) == sorted(set(diagnostics.__all__), key=str.lower)
    for required in ("diagnose", "Thresholds", "hessian_analysis", "hessian_findings", "Report", "HessianReport"):
        assert required in diagnostics.__all__
