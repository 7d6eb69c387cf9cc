"""``diagnose_study``: a stored study's curves diagnosed, its findings replaced (not added to)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sweepdoctor.diagnostics import FindingCode, Report, Thresholds
from sweepdoctor.errors import StorageError
from sweepdoctor.studies import Store, diagnose_study
from sweepdoctor.studies.db._schema import FindingRow, RunRow
from tests.studies._build import full_study

NAME = "digits-mlp"


def _stored(store: Store) -> list[tuple[str | None, str, str]]:
    """Every stored finding as ``(run name or None, code, summary)``, sorted."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(RunRow.name, FindingRow.code, FindingRow.summary).select_from(
                FindingRow.__table__.outerjoin(RunRow.__table__, RunRow.id == FindingRow.run_id)
            )
        ).all()
    return sorted(((name, code, summary) for name, code, summary in rows), key=repr)


def _expected(report: Report) -> list[tuple[str | None, str, str]]:
    return sorted(((f.run, f.code.value, f.summary) for f in report.findings), key=repr)


def test_diagnose_study_stores_the_findings_and_a_rerun_replaces_them(sqlite_url: str) -> None:
    full_study(sqlite_url, NAME)
    store = Store(sqlite_url)
    try:
        before = _stored(store)
        assert (None, "slow_convergence", "slow_convergence on the study") in before  # what _build stored

        report = diagnose_study(sqlite_url, NAME)  # a URL: it opens (and closes) its own store
        assert {r.run.name for r in report.runs} == {f"trial-{n}" for n in range(7)} | {"linear"}
        assert all(r.findings for r in report.candidates)  # healthy at least
        assert report.for_run("trial-6")[0].code is FindingCode.DIVERGENCE
        first = _stored(store)
        assert ("trial-1", "overfitting", "overfitting on trial-1") not in first  # _build's stand-ins are gone
        # These curves show no study-wide pattern, and Store.replace_findings replaces the
        # study-level rows only with new ones: the stored one stays.
        assert report.study_findings == ()
        assert first == sorted(_expected(report) + [f for f in before if f[0] is None], key=repr)

        again = diagnose_study(store, NAME)  # an open store, kept open
        assert _expected(again) == _expected(report)
        assert _stored(store) == first  # replaced, not duplicated
    finally:
        store.engine.dispose()


def test_one_trial_keeps_the_study_level_findings(sqlite_url: str) -> None:
    full_study(sqlite_url, NAME)
    store = Store(sqlite_url)
    try:
        before = _stored(store)
        report = diagnose_study(store, NAME, trial=1, thresholds=Thresholds())
        assert {r.run.name for r in report.runs} == {"trial-1", "linear"}
        after = _stored(store)
        assert [f for f in after if f[0] is None] == [f for f in before if f[0] is None]
        assert [f for f in after if f[0] == "trial-1"] == [f for f in _expected(report) if f[0] == "trial-1"]
        assert [f for f in after if f[0] == "trial-6"] == [f for f in before if f[0] == "trial-6"]  # untouched

        with pytest.raises(StorageError, match="has no stored trial 99"):
            diagnose_study(store, NAME, trial=99)
        with pytest.raises(StorageError, match="no study named 'nope'"):
            diagnose_study(store, "nope")
        assert _stored(store) == after
    finally:
        store.engine.dispose()
