"""A submitted sweep, checked before it is stored: its configuration as TOML, its name, its CSV.

The configuration arrives as a mapping of the TOML file's tables (a JSON object) or as the
TOML text itself; it is stored as TOML and checked by the same
:func:`sweepdoctor.sweep.load_config` that reads a file, so an agent reads back exactly
what was accepted. The data is a built-in dataset or an uploaded CSV (stored in the
database, so agents on any host have it); a path on the submitting host's disk is refused.
Nothing here knows HTTP: the service and a Python caller submit through the same checks.
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

from sweepdoctor.errors import ConfigError, DataError, TooLargeError
from sweepdoctor.sweep.config import BUILTIN_DATASETS, SweepConfig, load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_CSV_BYTES",
    "MAX_DEPTH",
    "MAX_TRIALS",
    "UPLOAD_NAME",
    "Submission",
    "check_submission",
    "config_from_text",
    "tables_to_toml",
    "upload_path_config",
]

_NAME_RE = re.compile(r"^[^/\x00-\x1f\x7f]{1,200}$")
UPLOAD_NAME = "data.csv"  # what an agent calls the uploaded file in its scratch folder
MAX_TRIALS = 1_000_000  # a submitted sweep's budget (the database stores it as a 32-bit integer)
MAX_DEPTH = 8  # tables in tables in a submitted configuration (the deepest real one has 4)
MAX_CONFIG_BYTES = 60_000  # the TOML text (fits MySQL's TEXT)
MAX_CSV_BYTES = 8 * 2**20  # an uploaded CSV


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


def _toml_value(value: Any, where: str, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise ConfigError(f"config: {where} is nested {depth} levels deep, more than {MAX_DEPTH}; "
                          "send the sweep file's tables")
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
        return "[" + ", ".join(_toml_value(v, where, depth + 1) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{_toml_key(str(k))} = {_toml_value(v, f'{where}.{k}', depth + 1)}"
                 for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    raise ConfigError(f"config: {where} must be a number, string, boolean, list or table, got {value!r}")


def tables_to_toml(doc: Mapping[str, Any]) -> str:
    """The TOML text of a configuration given as a mapping of tables (``None`` means "not set")."""
    lines: list[str] = []
    for section, table in doc.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"config: [{section}] must be a table (a JSON object), got {table!r}")
        lines.append(f"[{_toml_key(str(section))}]")
        lines += [
            f"{_toml_key(str(k))} = {_toml_value(v, f'{section}.{k}', 2)}" for k, v in table.items() if v is not None
        ]
        lines.append("")
    return "\n".join(lines)


def config_from_text(text: str) -> SweepConfig:
    """Check TOML text the way a sweep file is checked (:func:`sweepdoctor.sweep.load_config`)."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config: not valid TOML: {e}") from None
    except RecursionError:  # arrays in arrays, thousands deep
        raise ConfigError(f"config: nested too deep to read; send the sweep file's tables (at most {MAX_DEPTH} "
                          "levels)") from None
    fd, path = tempfile.mkstemp(suffix=".toml", prefix="sweepdoctor-submit-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return load_config(path)
    finally:
        os.unlink(path)


def upload_path_config(cfg: SweepConfig, csv_path: str | None) -> SweepConfig:
    """The configuration with the uploaded CSV at ``csv_path`` as its data (unchanged without one)."""
    if csv_path is None:
        return cfg
    return replace(cfg, data=replace(cfg.data, csv=csv_path, dataset=None)).validate()


def _check_csv(data: bytes, target: str | None, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise TooLargeError(f"csv: the file has {len(data)} bytes, more than the limit of {max_bytes}; "
                            "send less data")
    try:
        head = data[:65536].decode("utf-8")
    except UnicodeDecodeError:
        raise DataError("csv: the file is not UTF-8 text; send a CSV file with a header row") from None
    header = next(csv.reader(io.StringIO(head)), [])
    if target is None:
        raise ConfigError("data.target: a CSV needs the name of its target column; set data.target")
    if target not in [h.strip() for h in header]:
        raise DataError(f"csv: no column {target!r} (data.target) in the header; columns: {', '.join(header[:20])}")


def _check_config(cfg: SweepConfig) -> None:
    """What a file-based sweep may do but a submitted one may not, and what only an agent would find."""
    if cfg.study.storage is not None:
        raise ConfigError("study.storage: a submitted sweep runs on the server's storage; remove the key")
    if cfg.data.csv is not None or cfg.data.test_csv is not None:
        raise ConfigError("data.csv: a path on the server is not used; upload the file as the 'csv' part instead")
    for key in ("npz", "images", "test_images"):
        if getattr(cfg.data, key) is not None:  # a client never names files on the server
            raise ConfigError(f"data.{key}: a path on the server is not used; send a built-in dataset or upload a CSV")
    if cfg.data.dataset is not None and cfg.data.dataset not in BUILTIN_DATASETS:
        raise ConfigError(f"data.dataset: {cfg.data.dataset!r} is not a built-in dataset; choose one of "
                          f"{', '.join(BUILTIN_DATASETS)} or upload a CSV")
    if cfg.study.trials > MAX_TRIALS:
        shown = f"{cfg.study.trials:,}" if cfg.study.trials < 10**12 else f"{float(cfg.study.trials):.3g}"
        raise ConfigError(f"study.trials: at most {MAX_TRIALS:,} trials for a submitted sweep, got {shown}; "
                          "submit a smaller budget")


def check_submission(
    text: str, *, csv_bytes: bytes | None = None, csv_name: str | None = None,
    max_config_bytes: int = MAX_CONFIG_BYTES, max_csv_bytes: int = MAX_CSV_BYTES,
) -> Submission:
    """Check a submitted configuration (TOML text) and its optional CSV; returns what to store.

    Bad input is a :class:`ConfigError` or :class:`DataError` naming the key; an input over
    its size limit a :class:`TooLargeError`. Nothing is written.
    """
    size = len(text.encode("utf-8"))
    if size > max_config_bytes:
        raise TooLargeError(f"config: {size} bytes, more than the limit of {max_config_bytes}; send a shorter "
                            "configuration")
    cfg = config_from_text(text)
    _check_config(cfg)
    if csv_bytes is not None:
        _check_csv(csv_bytes, cfg.data.target, max_csv_bytes)
        upload_path_config(cfg, UPLOAD_NAME)
    name = cfg.study.name or default_name()
    if not _NAME_RE.match(name):
        raise ConfigError(f"study.name: {name!r} must be 1-200 characters without '/' or control characters")
    if csv_name is not None and not _NAME_RE.match(csv_name[:255]):
        raise ConfigError(f"csv_name: {csv_name[:80]!r} must be a file name without '/' or control characters")
    return Submission(name=name, toml=text, trials=cfg.study.trials, csv=csv_bytes,
                      csv_name=(csv_name or UPLOAD_NAME)[:255] if csv_bytes is not None else None)


def default_name() -> str:
    now = datetime.now(timezone.utc)
    return f"sweep-{now:%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"
