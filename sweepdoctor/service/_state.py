"""What one server process holds: the study database, the token, the limits, a diagnosis cache.

Everything a request reads goes through public library calls (:class:`StudyDB`,
:class:`Store`, the submitted-sweeps functions, :func:`sweepdoctor.diagnostics.diagnose`).
A live diagnosis of a study and its value series are cached until the study changes (a
trial starts or finishes); the diagnosis
is not run on studies with more than ``live_diagnosis_runs`` runs: their pages show the
findings stored by ``sweepdoctor diagnose`` instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy import Engine

from sweepdoctor.diagnostics import History, Report, diagnose
from sweepdoctor.errors import StorageError
from sweepdoctor.service._html import PLOTLY_BUNDLE
from sweepdoctor.service._submit import Limits
from sweepdoctor.studies import (
    Store,
    StudyDB,
    StudySummary,
    SubmittedSweep,
    ValueSeries,
    get_sweep,
    list_sweeps,
    make_engine,
    mask_url,
    sqlite_write_ahead,
)

__all__ = ["KEPT_ANSWERS", "LIVE_DIAGNOSIS_RUNS", "Diagnosis", "ServiceState"]

logger = logging.getLogger(__name__)

LIVE_DIAGNOSIS_RUNS = 500  # a live diagnosis costs ~10-25 ms per run on a busy core
KEPT_ANSWERS = 2000  # diagnoses, value series and trial counts kept until their study changes


@dataclass(frozen=True)
class Diagnosis:
    """A study's diagnosis for a page: the live report, or only the stored finding counts."""

    report: Report | None
    stored_counts: dict[str, int]
    note: str | None = None


def _changes(summary: StudySummary) -> tuple[Any, ...]:
    """What changes when a trial starts or finishes (the key of the per-study caches)."""
    return (summary.study_id, tuple(sorted(summary.states.items())), summary.last_activity, summary.n_runs,
            summary.best_value)


class ServiceState:
    """The server's one database handle and settings (made by :func:`create_app`)."""

    def __init__(
        self,
        storage: str | Engine,
        *,
        token: str | None,
        limits: Limits,
        live_diagnosis_runs: int = LIVE_DIAGNOSIS_RUNS,
    ) -> None:
        self.token = token or None
        self._owned: Engine | None = None
        if self.token is not None and isinstance(storage, str):  # a writable server may start on a new database
            storage = self._owned = make_engine(storage)
            sqlite_write_ahead(storage)
        self.db = StudyDB(storage, keep_summaries=True)
        self.engine: Engine = self.db.engine
        self.store = Store(self.engine)
        self.limits = limits
        self.live_diagnosis_runs = live_diagnosis_runs
        self._cache: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._lock = threading.Lock()
        self._plotly_js: str | None = None

    @property
    def url(self) -> str:
        """The storage URL with its password masked (safe in pages and responses)."""
        return mask_url(self.db.url)

    @property
    def writable(self) -> bool:
        return self.token is not None

    def close(self) -> None:
        self.db.close()
        if self._owned is not None:
            self._owned.dispose()

    def ensure_schema(self) -> None:
        """Optuna's tables and ours (submitted sweeps among them) exist, and the indexes the trial
        queries use: a server may start on an empty database, before any agent made a study."""
        import optuna

        rdb = optuna.storages.RDBStorage(self.engine.url.render_as_string(hide_password=False))
        rdb.remove_session()
        rdb.engine.dispose()
        self.store.ensure_schema()
        made = self.db.add_indexes()
        if made:
            logger.info("added the trial queries' indexes: %s", ", ".join(made))

    def plotly_js(self) -> str:
        """plotly.js's basic bundle, shipped in the package (read once; never fetched from a CDN)."""
        if self._plotly_js is None:
            self._plotly_js = (resources.files("sweepdoctor.service") / "static" / PLOTLY_BUNDLE).read_text("utf-8")
        return self._plotly_js

    def sweeps(self) -> dict[str, SubmittedSweep]:
        return {s.name: s for s in list_sweeps(self.engine)}

    def sweep_of(self, name: str) -> SubmittedSweep | None:
        try:
            return get_sweep(self.engine, name)
        except StorageError:
            return None

    def history(self, study: str, *, trial: int | None = None) -> History:
        numbers = None if trial is None else [trial]
        history, _ids = self.store.load_history(study, trial_numbers=numbers)
        return history

    def _cached(self, what: str, summary: StudySummary) -> Any:
        """What ``what`` was for this study when it looked as ``summary`` says, else ``None``."""
        with self._lock:
            hit = self._cache.get((what, summary.name))
        return hit[1] if hit is not None and hit[0] == _changes(summary) else None

    def _keep(self, what: str, summary: StudySummary, result: Any) -> None:
        with self._lock:
            if len(self._cache) >= KEPT_ANSWERS:  # many filters asked: start again rather than grow
                self._cache.clear()
            self._cache[(what, summary.name)] = (_changes(summary), result)

    def value_series(self, summary: StudySummary) -> ValueSeries:
        """Every complete trial's value, thinned in the database; read again only when the study changed."""
        hit = self._cached("series", summary)
        if hit is None:
            hit = self.db.value_series(summary.name)
            self._keep("series", summary, hit)
        return hit  # type: ignore[no-any-return]

    def matched(
        self, summary: StudySummary, *, where: Sequence[str] = (), states: Sequence[str] = (),
        finding: str | None = None,
    ) -> int:
        """How many trials match: from the summary when only states filter, else counted once per change."""
        if not where and not finding:
            wanted = {st.lower() for st in states}
            return sum(n for st, n in summary.states.items() if not wanted or st in wanted)
        what = f"count {tuple(where)!r} {tuple(sorted(states))!r} {finding!r}"
        hit = self._cached(what, summary)
        if hit is None:
            hit = self.db.count(summary.name, where=where, states=states, finding=finding)
            self._keep(what, summary, hit)
        return int(hit)

    def diagnosis(self, summary: StudySummary, *, stored: Mapping[str, int] | None = None) -> Diagnosis:
        """The study's diagnosis, recomputed only when the study changed since the last one.

        ``stored``: the stored finding counts when the caller has them (else they are read)."""
        hit = self._cached("diagnosis", summary)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        if stored is None:
            stored = self.db.show(summary.name, top=1, importance=False).findings
        stored = dict(stored or {})
        if not summary.n_runs:
            result = Diagnosis(None, stored, "no curves of ours are stored for this study yet")
        elif summary.n_runs > self.live_diagnosis_runs:
            result = Diagnosis(
                None, stored, f"{summary.n_runs} runs are too many to diagnose live; the counts are the findings "
                f"stored by `sweepdoctor diagnose --study {summary.name}`"
            )
        else:
            result = self._live(summary.name, stored)
        self._keep("diagnosis", summary, result)
        return result

    def _live(self, study: str, stored: dict[str, int]) -> Diagnosis:
        """Diagnose the stored curves (read only: nothing is written). A rule that breaks on these
        curves must not take the page down: the page then shows the stored findings and says why."""
        report, failure = self.try_diagnose(self.history(study))
        note = None if failure is None else f"{failure}; these are the stored findings"
        return Diagnosis(report, stored, note)

    def try_diagnose(self, history: History) -> tuple[Report | None, str | None]:
        """``diagnose(history)``, or ``None`` and why it failed (logged with its traceback)."""
        try:
            return diagnose(history), None
        except Exception as e:  # noqa: BLE001 - reported on the page and in the log, not swallowed
            logger.exception("live diagnosis failed")
            return None, f"the live diagnosis failed ({type(e).__name__}: {e})"
