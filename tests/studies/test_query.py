"""The query layer on SQLite, PostgreSQL and MariaDB (``any_url``): one code path, same answers."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from sqlalchemy import create_engine, func, inspect, select, text

from sweepdoctor.errors import ConfigError, StorageError
from sweepdoctor.studies import StudyDB
from sweepdoctor.studies.db._optuna_tables import o_trials
from sweepdoctor.studies.db._schema import EpochRow, FindingRow, RunRow
from tests.studies._build import EVIL, build_all, build_plain, full_study


def test_query_layer(any_url: str) -> None:
    """Every read the CLI makes, then a delete, on one database per backend.

    One test per backend (not one per question) so that ``pytest -n 2`` builds each
    server database once; each ``check_*`` below is one question.
    """
    build_all(any_url)
    with StudyDB(any_url) as db:
        check_list_and_show(db)
        check_trials_filter_sort_limit_in_the_database(db)
        check_best_overall_and_per_parameter(db)
        check_bad_input_gets_one_line_naming_the_choices(db)
        check_where_values_are_bound_never_sql(db, any_url)
        check_curves_history_and_delete(db)


def _numbers(page: object) -> list[int]:
    return [t.number for t in page.trials]  # type: ignore[attr-defined]


def check_list_and_show(db: StudyDB) -> None:
    listed = {s.name: s for s in db.list_studies()}
    assert list(listed)[:2] == ["digits-mlp", "plain"]
    full, plain = listed["digits-mlp"], listed["plain"]
    assert dict(full.states) == {"complete": 5, "pruned": 1, "fail": 1}
    assert full.best_value == pytest.approx(0.25) and full.directions == ("minimize",)
    assert (full.task, full.metric) == ("classification", "accuracy")
    assert full.n_runs == 7 and plain.n_runs == 0 and full.last_activity is not None

    d = db.show("digits-mlp", top=3)
    assert d.best is not None and d.best.number == 1 and d.best.params["optimizer"] == "adam"
    assert (d.values.n, d.values.min, d.values.max) == (5, pytest.approx(0.25), pytest.approx(0.9))
    assert d.values.mean == pytest.approx(0.47)
    assert [s.number for s in d.spreads] == [1, 0, 4] and {s.source for s in d.spreads} == {"sd_folds"}
    assert d.spreads[0].scores == pytest.approx((0.73, 0.75, 0.79))
    assert d.importance.values is not None and set(d.importance.values) == {"optimizer", "lr", "batch_size"}
    assert sum(d.importance.values.values()) == pytest.approx(1.0)
    # candidate trials with each code, as `diagnose` counts them: the study-level finding is not a trial's
    assert d.findings == {"overfitting": 2, "divergence": 1}
    assert d.importance.n_trials == 5 and d.importance.conditional == {}
    assert d.user_attrs["metric"] == "accuracy"
    assert (d.importance.n_trials, d.importance.n_complete) == (5, 5)
    sampled = db.show("digits-mlp", importance_trials=3).importance
    assert (sampled.n_trials, sampled.n_complete) == (3, 5) and sampled.values is not None
    p = db.show("plain", importance=False)
    assert {s.source for s in p.spreads} == {"user_attrs"} and p.importance.values is None


def check_trials_filter_sort_limit_in_the_database(db: StudyDB) -> None:
    page = db.trials("digits-mlp", where=["optimizer=adam", "lr>=1e-3"], sort="value", limit=20)
    assert _numbers(page) == [1, 0] and page.matched == 2
    assert page.trials[0].params == {"optimizer": "adam", "lr": pytest.approx(1e-2), "batch_size": 64}
    assert page.trials[0].findings == ("overfitting",) and page.trials[0].user_attrs["split0_score"] > 0
    assert _numbers(db.trials("digits-mlp", states=["pruned", "fail"])) == [5, 6]
    assert _numbers(db.trials("digits-mlp", finding="overfitting")) == [1, 4]
    assert _numbers(db.trials("digits-mlp", finding="overfitting", where=["optimizer=adam"])) == [1]
    assert _numbers(db.trials("digits-mlp", states=["complete"], sort="-value")) == [3, 2, 4, 0, 1]
    assert _numbers(db.trials("digits-mlp", sort="value")) == [1, 0, 4, 2, 3, 5, 6]  # no value: last
    limited = db.trials("digits-mlp", sort="value", limit=2)
    assert _numbers(limited) == [1, 0] and limited.matched == 7
    assert _numbers(db.trials("digits-mlp", where=["batch_size>=32", "optimizer!=sgd"])) == [0, 1, 4]
    assert _numbers(db.trials("digits-mlp", where=["number<3", "value<0.45"])) == [0, 1]
    assert _numbers(db.trials("digits-mlp", where=["n_params>=5000"])) == [4, 5, 6]
    assert _numbers(db.trials("digits-mlp", sort="-lr", limit=3)) == [6, 2, 1]
    assert _numbers(db.trials("plain", where=["optimizer=adam"], sort="value")) == [1, 0, 5]


def check_best_overall_and_per_parameter(db: StudyDB) -> None:
    (overall,) = db.best("digits-mlp")
    assert (overall.by, overall.group, overall.n_trials, overall.best.number) == (None, None, 5, 1)
    groups = db.best("digits-mlp", by="optimizer")
    assert [(g.group, g.n_trials, g.best.number) for g in groups] == [("adam", 2, 1), ("rmsprop", 1, 4), ("sgd", 2, 2)]
    by_batch = db.best("digits-mlp", by="batch_size", where=["lr<0.05"])
    assert [(g.group, g.best.number) for g in by_batch] == [(64, 1), (32, 0), (16, 3)]
    by_size = db.best("digits-mlp", by="n_params")  # an attribute of our runs, not a parameter
    assert [(g.group, g.best.number) for g in by_size] == [(2000, 1), (1000, 0), (5000, 4), (3000, 2), (4000, 3)]
    with pytest.raises(ConfigError, match="--by: 'optimiser' is not a parameter"):
        db.best("digits-mlp", by="optimiser")


def check_curves_history_and_delete(db: StudyDB) -> None:
    c = db.curves("digits-mlp")  # the best trial by default
    assert (c.run, c.trial_number, len(c.points)) == ("trial-1", 1, 5)
    first = c.points[0]
    assert first.n_folds == 3 and first.train_min <= first.train_mean <= first.train_max  # type: ignore[operator]
    assert first.train_mean == pytest.approx(0.25 * 1.5 + 0.01)
    assert db.curves("digits-mlp", run="linear").trial_number is None
    with pytest.raises(StorageError, match=r"7 trials have curves \(numbers 0..6\); baselines: linear"):
        db.curves("digits-mlp", trial=99)
    assert len(db.history("digits-mlp").runs) == 8

    doomed = db.summary("doomed").study_id
    report = db.delete("doomed")
    assert (report.n_trials, report.n_runs, report.n_findings) == (7, 8, 4)
    assert "doomed" not in [s.name for s in db.list_studies()]
    with db.engine.connect() as c2:
        assert c2.execute(select(func.count(RunRow.id)).where(RunRow.study_id == doomed)).scalar_one() == 0
        assert c2.execute(select(func.count(FindingRow.id)).where(FindingRow.study_id == doomed)).scalar_one() == 0
        assert c2.execute(select(func.count()).where(o_trials.c.study_id == doomed)).scalar_one() == 0
        epochs = c2.execute(select(func.count(EpochRow.id))).scalar_one()
        assert epochs == 8 * 3 * 5  # digits-mlp's curves are untouched
    assert db.summary("digits-mlp").n_runs == 7
    with pytest.raises(StorageError, match="no study named 'doomed'"):
        db.trials("doomed")


def test_a_plain_optuna_database_is_read_but_never_written(sqlite_url: str) -> None:
    build_plain(sqlite_url)
    with StudyDB(sqlite_url) as db:
        (s,) = db.list_studies()
        assert s.n_runs is None and s.n_trials == 7
        assert _numbers(db.trials("plain", where=["lr>=1e-2"], sort="value")) == [1, 2, 6]
        assert db.best("plain", by="optimizer")[0].best.number == 1
        assert db.show("plain", importance=False).findings is None
        for call in (
            lambda: db.trials("plain", finding="overfitting"),
            lambda: db.curves("plain"),
            lambda: db.history("plain"),
        ):
            with pytest.raises(StorageError, match="needs sweepdoctor's curves and findings.*plain Optuna"):
                call()
        assert not inspect(db.engine).has_table("sd_runs")  # read-only: our schema was not created


def check_where_values_are_bound_never_sql(db: StudyDB, url: str) -> None:
    assert _numbers(db.trials("evil", where=[f"note={EVIL}"])) == [1]  # the SQL text is just a choice
    for bad in (f"x={EVIL}", f"x' OR 1=1 --={EVIL}", f"optimizer={EVIL}"):
        with pytest.raises(ConfigError):
            db.trials("evil" if bad[0] == "x" else "digits-mlp", where=[bad])
    with pytest.raises(StorageError, match="no study named"):
        db.trials(EVIL)
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            assert c.execute(text("SELECT COUNT(*) FROM trials")).scalar_one() >= 3 + 7
    finally:
        engine.dispose()


def check_bad_input_gets_one_line_naming_the_choices(db: StudyDB) -> None:
    cases = [
        (dict(where=["optimzer=adam"]), "valid names: value, number, batch_size, lr, optimizer, n_params, depth"),
        (dict(where=["optimizer=adamm"]), "choices: sgd, adam, rmsprop"),
        (dict(where=["lr>=fast"]), "'lr' takes a number"),
        (dict(sort="speed"), "--sort: 'speed' is not a parameter"),
        (dict(states=["done"]), "choose from running, complete, pruned, fail, waiting"),
        (dict(finding="overfit"), "choose from healthy, overfitting"),
        (dict(limit=0), "--limit must be at least 1"),
    ]
    for kwargs, says in cases:
        with pytest.raises(ConfigError, match=says) as e:
            db.trials("digits-mlp", **kwargs)  # type: ignore[arg-type]
        assert "\n" not in str(e.value)
    with pytest.raises(StorageError, match="did you mean 'digits-mlp'"):
        db.trials("digits-mpl")
    with pytest.raises(ConfigError, match="at least two"):
        db.compare(["digits-mlp"])


def test_password_is_masked() -> None:
    url = "postgresql+psycopg2://sweeper:s3cret@127.0.0.1:1/nothing"
    with StudyDB(url) as db:
        assert "s3cret" not in db.url and "***" in db.url
        with pytest.raises(StorageError) as e:
            db.list_studies()
    assert "s3cret" not in str(e.value)


def test_conditional_parameters_are_listed_not_ranked(sqlite_url: str) -> None:
    storage = optuna.storages.RDBStorage(sqlite_url)
    try:
        study = optuna.create_study(study_name="conditional", storage=storage)
        x, m = FloatDistribution(0, 1), FloatDistribution(0.5, 0.99)
        for i in range(6):
            params, dists = {"x": i / 6}, {"x": x}
            if i == 0:
                params, dists = {**params, "momentum": 0.9}, {**dists, "momentum": m}
            study.add_trial(optuna.trial.create_trial(value=float(i), params=params, distributions=dists))
    finally:
        storage.remove_session()
        storage.engine.dispose()
    with StudyDB(sqlite_url) as db:
        importance = db.show("conditional").importance  # filterwarnings=error: a leaked warning fails here
    assert importance.values == {"x": pytest.approx(1.0)} and importance.n_trials == 6
    assert importance.conditional == {"momentum": 1}


def test_a_parameter_every_complete_trial_has_is_still_conditional_when_others_lack_it(sqlite_url: str) -> None:
    """beta1 exists for Adam only: complete trials all Adam, the SGD ones failed. It must not be
    ranked (at 95% from 12 trials, as it was) as if the optimizer never varied."""
    storage = optuna.storages.RDBStorage(sqlite_url)
    opt = optuna.distributions.CategoricalDistribution(["adam", "sgd"])
    lr, b1 = FloatDistribution(1e-4, 1.0, log=True), FloatDistribution(0.8, 0.99)
    try:
        study = optuna.create_study(study_name="adam-only", storage=storage)
        for i in range(12):
            params, dists = {"optimizer": "adam", "lr": 10 ** (-i / 4), "beta1": 0.8 + i / 100}, {
                "optimizer": opt, "lr": lr, "beta1": b1}
            study.add_trial(optuna.trial.create_trial(value=float(i), params=params, distributions=dists))
        for _ in range(3):
            study.add_trial(optuna.trial.create_trial(
                state=optuna.trial.TrialState.FAIL, params={"optimizer": "sgd", "lr": 0.1},
                distributions={"optimizer": opt, "lr": lr}))
    finally:
        storage.remove_session()
        storage.engine.dispose()
    with StudyDB(sqlite_url) as db:
        importance = db.show("adam-only").importance
    assert importance.conditional == {"beta1": 12} and importance.n_trials == 12
    assert importance.values is not None and "beta1" not in importance.values and "lr" in importance.values


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_value_series_counts_every_trial_and_ends_at_the_best(sqlite_url: str, direction: str) -> None:
    """20k trials: thinned to at most MAX_POINTS points, every complete trial counted in a bucket,
    the extremes kept, and the best-so-far line (over all trials, not the latest few) ends at the best."""
    from sweepdoctor.studies.query._series import MAX_POINTS
    from tests.service._big import big_study

    best = big_study(sqlite_url, "big", 20_000, direction=direction)
    with StudyDB(sqlite_url) as db:
        series = db.value_series("big")
        summary = db.summary("big")
        small = db.value_series("big", max_points=20_000)
    assert series.n_complete == summary.states["complete"] == sum(b.n for b in series.buckets)
    assert series.thinned and 2 * len(series.buckets) <= MAX_POINTS
    assert series.best[-1][1] == best == summary.best_value
    lows, highs = [b.low for b in series.buckets], [b.high for b in series.buckets]
    assert min(lows) == min(b.low for b in small.buckets) and max(highs) == max(b.high for b in small.buckets)
    assert not small.thinned and len(small.buckets) == series.n_complete
    assert small.best == series.best  # the line is exact whatever the thinning
    pick = max if direction == "maximize" else min
    head = [(b.first, b.low) for b in small.buckets[:2000]]  # brute force over the first 2000 trials
    records = [(n, v) for i, (n, v) in enumerate(head) if i == 0 or pick(v, pick(x for _m, x in head[:i])) == v
               and v not in [x for _m, x in head[:i]]]
    assert list(series.best[: len(records)]) == records


def test_value_series_of_a_study_without_complete_trials(sqlite_url: str) -> None:
    study = optuna.create_study(study_name="empty", storage=sqlite_url)
    study.ask()
    with StudyDB(sqlite_url) as db:
        series = db.value_series("empty")
    assert (series.n_complete, series.buckets, series.best, series.direction) == (0, (), (), "minimize")
    with StudyDB(sqlite_url) as db, pytest.raises(ValueError, match="max_points must be at least 2, got 1"):
        db.value_series("empty", max_points=1)


def _same_summaries(kept: StudyDB, fresh: StudyDB) -> None:
    assert kept.list_studies() == fresh.list_studies()
    for s in fresh.list_studies():
        a, b = kept.show(s.name, top=1, importance=False), fresh.show(s.name, top=1, importance=False)
        assert (a.summary, a.best) == (b.summary, b.best)
        assert (a.values.n, a.values.min, a.values.max) == (b.values.n, b.values.min, b.values.max)
        assert a.values.mean == pytest.approx(b.values.mean)


def test_kept_summaries_answer_as_the_full_count_does(any_url: str) -> None:
    """A reader that keeps each study's settled trials (the service's) answers exactly as a fresh
    GROUP BY over every trial does: as trials are added and finish, and after a study is deleted
    and made again under the same name."""
    from tests.service._big import big_study

    big_study(any_url, "big", 1200)
    full_study(any_url, "digits-mlp")  # our runs: their count is kept too
    with StudyDB(any_url, keep_summaries=True) as kept, StudyDB(any_url) as fresh:
        _same_summaries(kept, fresh)
        sid = fresh.summary("big").study_id
        assert kept._summaries is not None and kept._summaries._prefix[sid].upto > 0  # settled: not read again
        _same_summaries(kept, fresh)
        study = optuna.load_study(study_name="big", storage=any_url, sampler=optuna.samplers.RandomSampler(0))
        running = study.ask()
        for x in (-5.0, 7.0):
            study.tell(study.ask(), x)
        _same_summaries(kept, fresh)
        study.tell(running, -9.0)  # an older trial finishes after newer ones
        _same_summaries(kept, fresh)
        assert fresh.summary("big").best_value == -9.0
        fresh.delete("big")
        big_study(any_url, "big", 300, seed=1)
        _same_summaries(kept, fresh)
        fresh.delete("digits-mlp")
        full_study(any_url, "digits-mlp")
        full_study(any_url, "another")
        _same_summaries(kept, fresh)
        assert fresh.summary("another").n_runs == kept.summary("another").n_runs > 0


def test_keyset_pages_walk_the_same_order_as_one_query(any_url: str) -> None:
    """``after=N`` pages, each starting after the previous page's last trial, list exactly the
    trials of one unpaged query, for value and number sorts both ways (trials without a value last)."""
    from tests.service._big import big_study

    big_study(any_url, "big", 300)
    with StudyDB(any_url) as db:
        for sort in ("value", "-value", "number", "-number"):
            whole = db.trials("big", sort=sort)
            walked: list[int] = []
            after = None
            while True:
                page = db.trials("big", sort=sort, limit=37, after=after)
                assert page.matched == whole.matched
                if not page.trials:
                    break
                walked += _numbers(page)
                after = page.trials[-1].number
            assert walked == _numbers(whole), sort
        narrowed = db.trials("big", sort="-number", after=250, where=["value>0"], states=["complete"], limit=5)
        assert all(t.number < 250 and t.value > 0 and t.state == "complete" for t in narrowed.trials)


def test_kept_summaries_read_many_studies_in_chunks(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sweepdoctor.studies.query import _summary
    from tests.service._big import big_study

    monkeypatch.setattr(_summary, "_STUDIES_PER_QUERY", 2)
    for i in range(5):
        big_study(sqlite_url, f"s{i}", 50 + i, seed=i)
    with StudyDB(sqlite_url, keep_summaries=True) as kept, StudyDB(sqlite_url) as fresh:
        _same_summaries(kept, fresh)
        _same_summaries(kept, fresh)
