"""Sorted pages found by walking the sort key's index give exactly the pages the filters give.

``StudyDB.trials`` first walks the index of its sort key (value, number, a parameter) in short
windows, filtering each row, and lets the filters lead when that would read too much
(``_trials.walk_page``). Here both plans answer the same randomized queries, on SQLite,
PostgreSQL and MariaDB, over a study made to catch the edges: ties on the value, complete trials
whose value is infinite (no value in the index), numbers out of step with trial ids, a switched
parameter (``use_weight_decay``), and a second study whose trials share the indexes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, distribution_to_json
from sqlalchemy import MetaData, create_engine, event, insert, text

from sweepdoctor.studies import StudyDB
from sweepdoctor.studies.query import _study_db, _trials

OPTIMIZERS = ("sgd", "adam", "rmsprop")
DISTS = {
    "optimizer": CategoricalDistribution(OPTIMIZERS),
    "lr": FloatDistribution(1e-4, 1.0, log=True),
    "use_weight_decay": CategoricalDistribution((True, False)),
    "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
}


def _bulk_study(url: str, name: str, n: int, *, direction: str, first_id: int, seed: int) -> None:
    """``n`` trials bulk-inserted; trial ids from ``first_id`` in an order other than the numbers'."""
    storage = optuna.storages.RDBStorage(url)
    sid = storage.create_new_study([optuna.study.StudyDirection[direction.upper()]], name)
    storage.remove_session()
    storage.engine.dispose()
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=["trials", "trial_values", "trial_params"])
    rng = random.Random(seed)
    numbers = list(range(n))
    rng.shuffle(numbers)
    rows: dict[str, list[dict[str, Any]]] = {"trials": [], "trial_values": [], "trial_params": []}
    for i, number in enumerate(numbers):
        tid = first_id + i
        state = rng.choices(["COMPLETE", "PRUNED", "FAIL", "RUNNING"], [80, 10, 5, 5])[0]
        rows["trials"].append({"trial_id": tid, "number": number, "study_id": sid, "state": state})
        if state == "COMPLETE":
            inf = rng.random() < 0.04
            rows["trial_values"].append({"trial_id": tid, "objective": 0, "value_type": "INF_POS" if inf else "FINITE",
                                         "value": None if inf else round(rng.uniform(0, 1), 1 if i % 3 else 3)})
        params = {"optimizer": float(rng.randrange(3)), "lr": math.exp(rng.uniform(math.log(1e-4), 0))}
        on = rng.random() < 0.5
        params["use_weight_decay"] = 0.0 if on else 1.0
        if on:
            params["weight_decay"] = math.exp(rng.uniform(math.log(1e-6), math.log(1e-2)))
        rows["trial_params"] += [{"trial_id": tid, "param_name": k, "param_value": v,
                                  "distribution_json": distribution_to_json(DISTS[k])} for k, v in params.items()]
    with engine.begin() as c:
        for table in ("trials", "trial_values", "trial_params"):
            c.execute(insert(meta.tables[table]), rows[table])
        if engine.dialect.name == "postgresql":  # ids given by hand: the sequence must move past them
            c.execute(text("SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), max(trial_id)) FROM trials"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mysql", marks=pytest.mark.mysql)])
def walk_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue(
        "pg_url" if request.param == "postgres" else "mysql_url")
    _bulk_study(url, "other", 150, direction="maximize", first_id=1, seed=1)
    _bulk_study(url, "walk", 400, direction="minimize", first_id=1000, seed=2)
    with StudyDB(url) as db:
        db.add_indexes()
    return url


def _random_query(rng: random.Random) -> dict[str, Any]:
    where = rng.sample([
        "optimizer=adam", "optimizer!=sgd", f"lr>={rng.choice([1e-3, 1e-2, 0.3])}", f"lr<{rng.choice([1e-3, 0.1])}",
        f"value<={rng.choice([0.2, 0.5, 0.9])}", f"value>{rng.choice([0.1, 0.5])}", f"number>={rng.randrange(400)}",
        f"weight_decay<={rng.choice([0, 1e-4])}", "weight_decay>0",
    ], rng.choice([0, 0, 1, 1, 2, 3]))
    sort = rng.choice(["value", "-value", "number", "-number", "lr", "-lr", "optimizer", "weight_decay", None])
    query: dict[str, Any] = {"where": where, "sort": sort, "limit": rng.choice([1, 2, 5, 13, 40]),
                             "states": rng.choice([(), ("complete",), ("complete", "pruned"), ("running",)])}
    if sort in ("value", "-value", "number", "-number", None) and rng.random() < 0.5:
        query["after"] = rng.randrange(-1, 402)
    return query


def _numbers(db: StudyDB, query: dict[str, Any]) -> list[tuple[int, float | None]]:
    return [(t.number, t.value) for t in db.trials("walk", count=False, **query).trials]


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Small windows (every branch of the walk on a 400-trial study); records whether each walk answered."""
    monkeypatch.setattr(_trials, "WALK_FIRST", 3)
    monkeypatch.setattr(_trials, "WALK_MOST", 120)
    answered: list[bool] = []
    walk = _study_db.walk_page

    def spy(*args: Any) -> Any:
        rows = walk(*args)
        answered.append(rows is not None)
        return rows

    monkeypatch.setattr(_study_db, "walk_page", spy)
    yield answered


def test_walked_pages_are_the_filtered_pages(walk_url: str, walks: list[bool],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(23)
    queries = [_random_query(rng) for _ in range(120)]
    with StudyDB(walk_url) as db:
        walked = [_numbers(db, q) for q in queries]
        monkeypatch.setattr(_trials, "WALK_MAX_LIMIT", 0)  # the filters lead, every time
        led = [_numbers(db, q) for q in queries]
    for q, a, b in zip(queries, walked, led, strict=True):
        assert a == b, q
    # Both ways were taken: pages the walk filled, and pages it left to the filters.
    assert 40 <= sum(walks) <= len(walks) - 10, (sum(walks), len(walks))
    assert sum(len(a) for a in walked) > 1000


def test_keyset_pages_walked_end_to_end(walk_url: str, walks: list[bool]) -> None:
    """Following ``after`` page by page (ties on the value, trials without one last) lists the one long page."""
    with StudyDB(walk_url) as db:
        for sort in ("value", "-value", "-number"):
            query = {"where": ["optimizer!=rmsprop"], "sort": sort}
            whole = [t.number for t in db.trials("walk", limit=1000, **query).trials]
            paged: list[int] = []
            while True:
                more = {"after": paged[-1]} if paged else {}
                page = [t.number for t in db.trials("walk", limit=7, count=False, **query, **more).trials]
                paged += page
                if len(page) < 7:
                    break
            assert paged == whole, sort
    assert any(walks) and not all(walks)


def _statements(url: str, query: dict[str, Any]) -> list[tuple[str, Any]]:
    engine = create_engine(url)
    seen: list[tuple[str, Any]] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, st, p, _x, _m: seen.append((st, p)))
    with StudyDB(engine) as db:
        db.trials("walk", count=False, **query)
    out = [(st, p) for st, p in seen if "AS walked" in st]
    engine.dispose()
    return out


@pytest.mark.parametrize("sort", ["value", "-lr"])
def test_the_walk_reads_the_sort_keys_index_first(walk_url: str, sort: str) -> None:
    """The walk's statement starts from the sort key's index and probes the filters per trial by
    its id, so its plan does not depend on how many trials match (SQLite: ``EXPLAIN QUERY PLAN``;
    PostgreSQL, MariaDB: ``EXPLAIN``; planner settings untouched)."""
    query = {"where": ["optimizer=adam", "lr>=1e-3"], "states": ["complete"], "sort": sort, "limit": 5}
    statements = _statements(walk_url, query)
    assert statements, "no walk"
    index = "ix_sd_trial_values_objective_value" if sort == "value" else "ix_sd_trial_params_name_value"
    engine = create_engine(walk_url)
    with engine.connect() as c:
        for st, params in statements:
            if engine.dialect.name == "sqlite":
                plan = [str(r[-1]) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + st, params)]
                assert plan[0] == "MATERIALIZE walked" and index in plan[1], plan
                outer = [p for p in plan
                         if p.startswith(("SCAN", "SEARCH")) and p.split()[1] not in ("walk", "walk_edge")]
                assert outer[0] == "SCAN walked", plan  # the walk leads; trials by primary key, parameters probed
                assert outer[1].startswith("SEARCH trials USING INTEGER PRIMARY KEY"), plan
                probes = [p for p in outer if p.startswith("SEARCH p")]
                assert probes and all("(trial_id=? AND param_name=?)" in p for p in probes), plan
            elif engine.dialect.name == "postgresql":
                lines = [str(r[0]) for r in c.exec_driver_sql("EXPLAIN " + st, params)]
                text_plan = "\n".join(lines)
                assert any(index in line for line in lines if "walk_edge" not in line), text_plan  # the walk's own
                assert "Seq Scan on trial_params" not in text_plan, text_plan  # each condition a probe by trial
                assert text_plan.count("trial_params_trial_id_param_name_key on trial_params p") >= 2, text_plan
            else:  # MariaDB: (id, select_type, table, type, possible_keys, key, ...)
                rows = [tuple(r) for r in c.exec_driver_sql("EXPLAIN " + st, params)]
                keys = {str(r[2]): r[5] for r in rows}
                assert str(rows[0][2]).startswith("<derived") and keys["walk"] == index, rows
                assert keys["trials"] == "PRIMARY", rows
                probes = [k for t, k in keys.items() if t[0] == "p" and t[1:].isdigit()]
                assert len(probes) >= 2 and set(probes) == {"trial_id"}, rows  # Optuna's unique (trial_id, name)
    engine.dispose()
