"""Answers that do not grow with the study: the indexes the trial queries use, on SQLite and PostgreSQL.

Each test runs the library's own statements (captured from the engine) under ``EXPLAIN``
(SQLite: ``EXPLAIN QUERY PLAN``; PostgreSQL: ``EXPLAIN``), planner settings untouched, on a
20k-trial study.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, event

from sweepdoctor.studies import StudyDB
from tests.service._big import big_study
from tests.service.conftest import MakeClient
from tests.studies._build import full_study


def _plans(url: str, call: Callable[[StudyDB], Any]) -> list[tuple[str, str]]:
    """(statement, its plan) for each SELECT that ``call`` makes."""
    engine = create_engine(url)
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    with StudyDB(engine) as db:
        call(db)
    event.remove(engine, "before_cursor_execute", capture)
    sqlite = engine.dialect.name == "sqlite"
    out = []
    with engine.connect() as c:
        for statement, params in seen:
            if statement.lstrip().upper().startswith("SELECT"):
                rows = c.exec_driver_sql(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, params)
                out.append((statement, "\n".join(str(r[-1] if sqlite else r[0]) for r in rows)))
    engine.dispose()
    return out


def _plan_of(plans: list[tuple[str, str]], *fragments: str) -> str:
    found = [p for st, p in plans if all(f in st for f in fragments)]
    assert found, f"no statement with {fragments}"
    return found[0]


@pytest.fixture(params=["sqlite", "postgres"])
def indexed_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    full_study(url, "digits-mlp")
    big_study(url, "big", 20_000)
    with StudyDB(url) as db:
        assert set(db.add_indexes()) == {"ix_sd_trials_study_number", "ix_sd_trial_params_name_value",
                                         "ix_sd_trial_values_objective_value"}
        assert db.add_indexes() == []  # once
    engine = create_engine(url)
    with engine.begin() as c:
        c.exec_driver_sql("ANALYZE")
    engine.dispose()
    return url


def test_trial_pages_use_the_indexes(indexed_url: str) -> None:
    plans = _plans(indexed_url, lambda db: (
        db.trials("big", sort="-number", limit=50, count=False),
        db.trials("big", sort="number", limit=50, after=15_000),
        db.trials("big", states=["complete"], sort="-number", limit=500, count=False),
        db.trials("digits-mlp", where=["optimizer=adam"], sort="value", limit=5),
    ))
    sqlite = indexed_url.startswith("sqlite")
    latest = [p for st, p in plans if "ORDER BY trials.number DESC" in st]
    assert "ix_sd_trials_study_number" in latest[0]  # the latest trials: a walk back along the index
    assert "ix_sd_trials_study_number" in _plan_of(plans, "trials.number >")  # keyset: a range of it
    if sqlite:
        # PostgreSQL estimates the state filter (a CAST of Optuna's enum column) at 0.5% of the rows
        # and sorts them instead; SQLite walks the index. (The study's parameters are a few dozen
        # rows here: PostgreSQL rightly scans them.)
        assert "ix_sd_trials_study_number" in latest[1]
        # a parameter name no study has is answered from the index, without probing the study's trials
        assert "ix_sd_trial_params_name_value" in _plan_of(plans, "SELECT trial_params.param_name")
        assert "ix_sd_trial_params_name_value" in _plan_of(plans, "p1.param_value")


def test_the_api_pages_by_keyset_and_counts_once(sqlite_url: str, make_client: MakeClient) -> None:
    """Following ``next_after`` lists the same trials as one long page; ``matched`` stays every match;
    ``after`` with ``offset``, or with a parameter sort, is a 400 that says why."""
    big_study(sqlite_url, "big", 400)
    c = make_client(sqlite_url, token=None)
    query = {"sort": "value", "where": "value<0.9", "state": "complete"}
    whole = c.get("/api/studies/big/trials", params={**query, "limit": 1000}).json()
    walked, after = [], None
    while True:
        more = {} if after is None else {"after": after}
        page = c.get("/api/studies/big/trials", params={**query, "limit": 60, **more})
        body = page.json()
        assert page.status_code == 200 and body["matched"] == whole["matched"] > 60
        walked += [t["number"] for t in body["trials"]]
        after = body["next_after"]
        if after is None:
            break
    assert walked == [t["number"] for t in whole["trials"]]
    bad = c.get("/api/studies/big/trials", params={"after": 3, "offset": 5})
    assert bad.status_code == 400 and "after and offset are two ways to page" in bad.json()["error"]
