"""A guided study's plans as stored with it: one entry per round, the space it ran and its edits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep.config import SearchSpace
from sweepdoctor.sweep.guide._plan import Plan
from sweepdoctor.sweep.guide._toml import space_toml

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["latest_space", "round_entry"]


def round_entry(*, index: int, first_trial: int, plan: Plan) -> dict[str, Any]:
    """What is stored for a round: from which trial on its space applies, the space, the edits and notes."""
    return {"round": index, "from_trial": first_trial, "space": space_toml(plan.space), **plan.to_dict()}


def latest_space(rounds: Sequence[Mapping[str, Any]], initial: SearchSpace) -> SearchSpace:
    """The space of the last stored round (a resumed guided study goes on from it), else ``initial``."""
    if not rounds:
        return initial
    text = rounds[-1].get("space")
    try:
        doc = tomllib.loads(text if isinstance(text, str) else "")
        return SearchSpace.from_mapping(doc["space"], base=initial)
    except (tomllib.TOMLDecodeError, KeyError, ConfigError) as e:
        raise ConfigError(f"study: its stored guided plan cannot be read ({e}); resume it without --guided") from None
