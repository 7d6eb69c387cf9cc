"""A submitted sweep, checked before it is stored: its configuration as TOML, its name, its CSV.

The configuration arrives as a JSON object with the TOML file's tables, or as the TOML
text itself; it is stored as TOML (JSON is written out as TOML) and checked by the same
:func:`sweepdoctor.sweep.load_config` that reads a file, so an agent reads back exactly
what was accepted. The data is a built-in dataset or the uploaded CSV (stored in the
database, so agents on any host have it); a path on the server's disk is refused.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from sweepdoctor import sweep
from sweepdoctor.errors import ConfigError, DataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Limits", "Submission", "check_submission", "config_from_text", "to_toml", "upload_path_config"]

_NAME_RE = re.compile(r"^[^/\x00-\x1f\x7f]{1,200}$")
UPLOAD_NAME = "data.csv"  # what an agent calls the uploaded file in its scratch folder


@dataclass(frozen=True)
class Limits:
    """Sizes a request may have (bytes)."""

    body: int = 16 * 2**20  # any request body
    config: int = 60_000  # the TOML text (fits MySQL's TEXT)
    csv: int = 8 * 2**20  # an uploaded CSV


@dataclass(frozen=True)
class Submission:
    """What is stored for a submitted sweep."""

    name: str
    toml: str
    trials: int
    csv: bytes | None
    csv_name: str | None


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"config: {where} must be a finite number, got {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{_toml_key(str(k))} = {_toml_value(v, f'{where}.{k}')}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    raise ConfigError(f"config: {where} must be a number, string, boolean, list or table, got {value!r}")


def to_toml(doc: Mapping[str, Any]) -> str:
    """The TOML text of a configuration given as a JSON object of tables (``null`` means "not set")."""
    lines: list[str] = []
    for section, table in doc.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"config: [{section}] must be a table (a JSON object), got {table!r}")
        lines.append(f"[{_toml_key(str(section))}]")
        lines += [
            f"{_toml_key(str(k))} = {_toml_value(v, f'{section}.{k}')}" for k, v in table.items() if v is not None
        ]
        lines.append("")
    return "\n".join(lines)


def config_from_text(text: str) -> sweep.SweepConfig:
    """Check TOML text the way a sweep file is checked (:func:`sweepdoctor.sweep.load_config`)."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config: not valid TOML: {e}") from None
    fd, path = tempfile.mkstemp(suffix=".toml", prefix="sweepdoctor-submit-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return sweep.load_config(path)
    finally:
        os.unlink(path)


def upload_path_config(cfg: sweep.SweepConfig, csv_path: str | None) -> sweep.SweepConfig:
    """The configuration with the uploaded CSV at ``csv_path`` as its data (unchanged without one)."""
    if csv_path is None:
        return cfg
    return replace(cfg, data=replace(cfg.data, csv=csv_path, dataset=None)).validate()


def _check_csv(data: bytes, target: str | None, limits: Limits) -> None:
    if len(data) > limits.csv:
        raise DataError(f"csv: the file has {len(data)} bytes, more than the limit of {limits.csv}; send less data")
    try:
        head = data[:65536].decode("utf-8")
    except UnicodeDecodeError:
        raise DataError("csv: the file is not UTF-8 text; send a CSV file with a header row") from None
    header = next(csv.reader(io.StringIO(head)), [])
    if target is None:
        raise ConfigError("data.target: a CSV needs the name of its target column; set data.target")
    if target not in [h.strip() for h in header]:
        raise DataError(f"csv: no column {target!r} (data.target) in the header; columns: {', '.join(header[:20])}")


def check_submission(
    text: str, *, csv_bytes: bytes | None, csv_name: str | None, limits: Limits
) -> Submission:
    """Check a submitted configuration (TOML text) and its optional CSV; returns what to store."""
    if len(text.encode("utf-8")) > limits.config:
        raise ConfigError(f"config: {len(text.encode('utf-8'))} bytes, more than the limit of {limits.config}")
    cfg = config_from_text(text)
    if cfg.study.storage is not None:
        raise ConfigError("study.storage: a submitted sweep runs on the server's storage; remove the key")
    if cfg.data.csv is not None or cfg.data.test_csv is not None:
        raise ConfigError("data.csv: a path on the server is not used; upload the file as the 'csv' part instead")
    for key in ("npz", "images", "test_images"):
        if getattr(cfg.data, key) is not None:  # a client never names files on the server
            raise ConfigError(f"data.{key}: a path on the server is not used; send a built-in dataset or upload a CSV")
    if csv_bytes is not None:
        _check_csv(csv_bytes, cfg.data.target, limits)
        upload_path_config(cfg, UPLOAD_NAME)
    name = cfg.study.name or default_name()
    if not _NAME_RE.match(name):
        raise ConfigError(f"study.name: {name!r} must be 1-200 characters without '/' or control characters")
    return Submission(name=name, toml=text, trials=cfg.study.trials, csv=csv_bytes,
                      csv_name=(csv_name or UPLOAD_NAME)[:255] if csv_bytes is not None else None)


def default_name() -> str:
    now = datetime.now(timezone.utc)
    return f"sweep-{now:%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"
