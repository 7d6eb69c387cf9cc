"""The one JSON sanitizer: any value in, a plain copy that strict JSON accepts out.

Our tables store hyperparameters and evidence as JSON, and the query room writes JSON
exports with it too. JSON never holds NaN or Infinity (they become ``null``, as in
``sweepdoctor.history/1``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

__all__ = ["jsonable"]


def jsonable(obj: Any) -> Any:
    """A plain copy that ``json.dumps(..., allow_nan=False)`` accepts; the one JSON sanitizer.

    Non-finite floats become ``None``; mappings become dicts with ``str`` keys; lists and
    tuples become lists; datetimes their ISO text; enums their value; objects with
    ``to_dict()`` (our records and reports) their dict; numpy and torch scalars their
    Python number (arrays their nested lists); anything else its ``str``.
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Enum):
        return jsonable(obj.value)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.isoformat()
    return _jsonable_object(obj)


def _jsonable_object(obj: Any) -> Any:
    """:func:`jsonable` of what is no JSON type: by what the object can turn itself into."""
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    if hasattr(obj, "item") and math.prod(getattr(obj, "shape", ())) == 1:  # numpy / torch scalar
        return jsonable(obj.item())
    if hasattr(obj, "tolist"):  # numpy array, torch tensor
        return jsonable(obj.tolist())
    if hasattr(obj, "value"):  # enum-like
        return jsonable(obj.value)
    return str(obj)
