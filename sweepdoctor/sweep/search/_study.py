"""The Optuna study: create or load it, and the fingerprint that refuses to resume it with other settings."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import optuna

from sweepdoctor.errors import ConfigError
from sweepdoctor.studies import Store, describe_error, is_transient, mask_url
from sweepdoctor.sweep.config import StudyConfig
from sweepdoctor.sweep.search._pruners import make_pruner
from sweepdoctor.sweep.search._samplers import make_sampler

__all__ = ["DATA_SOURCE_ATTR", "SPACE_KEY", "STUDY_ATTR", "check_or_set_fingerprint", "open_study"]

# The study user attribute holding what must not change when a study is resumed.
STUDY_ATTR = "sweepdoctor"
# The study user attribute saying where the data came from (informative, not compared).
DATA_SOURCE_ATTR = "sweepdoctor_data"


def open_study(
    cfg: StudyConfig,
    *,
    name: str,
    url: str,
    direction: str,
    epochs: int,
    storage: optuna.storages.BaseStorage,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Create the study, or load it when it exists (its direction must match).

    ``sampler``/``pruner``: instances that replace the ones ``cfg`` names.
    """
    existing = _while_away(lambda: _load_or_none(name, storage), f"opening study {name!r}")
    if existing is not None and existing.direction.name.lower() != direction:
        raise ConfigError(
            f"study {name!r} exists in {mask_url(url)!r} with direction "
            f"{existing.direction.name.lower()}, but this sweep would {direction}; use another --study"
        )
    return _while_away(lambda: optuna.create_study(
        storage=storage,
        study_name=name,
        direction=direction,  # type: ignore[arg-type]
        sampler=sampler if sampler is not None else make_sampler(cfg.sampler, cfg.seed),
        pruner=pruner if pruner is not None else make_pruner(cfg.pruner, epochs),
        load_if_exists=True,
    ), f"opening study {name!r}")


def _load_or_none(name: str, storage: optuna.storages.BaseStorage) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


T = TypeVar("T")
# Opening the study is retried while the database is briefly away (a connection cut, a server
# restart), as the trial loop's writes are (TrialCoordinator.db); past this, the error stands.
_OPEN_PATIENCE_S = 30.0
logger = logging.getLogger(__name__)


def _while_away(fn: Callable[[], T], what: str) -> T:
    start, delay = time.monotonic(), 0.25
    while True:
        try:
            return fn()
        except Exception as e:
            if not is_transient(e) or time.monotonic() - start >= _OPEN_PATIENCE_S:
                raise
            logger.warning("database error while %s (%s); retrying in %.2f s", what, describe_error(e), delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def check_or_set_fingerprint(study: optuna.Study, fingerprint: dict[str, Any], *, store: Store, study_id: int) -> bool:
    """Store what defines the study, or refuse to resume it with something else.

    The user attribute ``STUDY_ATTR`` holds the settings with a short hash of the search
    space (Optuna's study listing prints every user attribute); the space itself goes to
    our ``sd_study_docs``. A study made before that, with the whole space in the attribute,
    resumes as before and is rewritten in the short form. Returns True when resumed.
    """
    fp = json.loads(json.dumps(fingerprint))
    space = fp.pop(SPACE_KEY)
    short = {**fp, SPACE_KEY: _space_hash(space)}
    old = study.user_attrs.get(STUDY_ATTR)
    if old is None:
        if study.trials:
            raise ConfigError(
                f"study {study.study_name!r} already has trials but was not made by sweepdoctor; use another --study"
            )
        store.put_study_doc(study_id=study_id, key=SPACE_KEY, document=space)
        study.set_user_attr(STUDY_ATTR, short)
        for key in ("task", "metric", "loss"):
            study.set_user_attr(key, fp[key])
        return False
    stored_space = old.get(SPACE_KEY) if isinstance(old, dict) else None
    legacy = isinstance(stored_space, dict)  # made before the space moved to sd_study_docs
    old_short = {**old, SPACE_KEY: _space_hash(stored_space)} if legacy else dict(old)
    changed = sorted(k for k in set(old_short) | set(short) if old_short.get(k) != short.get(k))
    if changed:
        old_space = stored_space if legacy else store.study_doc(study_id, SPACE_KEY)
        said = "; ".join(_changed(k, old_short.get(k), short.get(k), old_space, space) for k in changed)
        raise ConfigError(
            f"study {study.study_name!r} was made with other settings ({said}); "
            "resume it with the same data and settings, or use another --study"
        )
    if legacy:  # rewrite in the short form: `optuna studies` becomes readable
        store.put_study_doc(study_id=study_id, key=SPACE_KEY, document=space)
        study.set_user_attr(STUDY_ATTR, short)
    return True


# The fingerprint's key for the search space, and the name of its document in sd_study_docs.
SPACE_KEY = "space"


def _space_hash(space: Any) -> str:
    text = json.dumps(space, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _changed(key: str, old: Any, new: Any, old_space: Any, new_space: Any) -> str:
    """One changed setting, stored and given value (for the space: each changed parameter)."""
    if key == SPACE_KEY and isinstance(old_space, dict) and isinstance(new_space, dict):
        params = sorted(k for k in set(old_space) | set(new_space) if old_space.get(k) != new_space.get(k))
        return ", ".join(
            f"space.{p}: stored {_param_text(old_space.get(p))}, given {_param_text(new_space.get(p))}" for p in params
        )
    if key == "data":
        return f"data: stored rows hash {old}, given {new} (other rows, columns or order)"
    return f"{key}: stored {_brief(old)}, given {_brief(new)}"


def _param_text(p: Any) -> str:
    if not isinstance(p, dict):
        return _brief(p)
    return " ".join(f"{k}={_brief(v)}" for k, v in p.items() if k != "kind" and v not in (False, None))


def _brief(v: Any) -> str:
    text = "none" if v is None else json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict)) else str(v)
    return text if len(text) <= 60 else text[:57] + "..."
