"""Many workers on one study: the budget is exact, nothing is lost or stored twice."""

from __future__ import annotations

import threading
from pathlib import Path

import optuna
import pytest
import torch
from click.testing import CliRunner
from optuna.trial import TrialState

from sweepdoctor.cli import main
from sweepdoctor.studies import PROCESS_ATTR, Store
from sweepdoctor.sweep.search._coordinator import TrialCoordinator, trials_counted
from sweepdoctor.sweep.search._heartbeat import HeartbeatSettings
from sweepdoctor.sweep.search._storage import optuna_storage
from sweepdoctor.sweep.search._workers import worker_threads
from tests.sweep._distributed import TINY, Worker, check_study, cli, load_trials

torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_worker_threads_share_the_cores() -> None:
    assert worker_threads(1, 16) == 16 and worker_threads(4, 16) == 4 and worker_threads(3, 2) == 1


@pytest.mark.parametrize("url_fixture", ["pg_url", "mysql_url"])
def test_four_workers_forty_trials(url_fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = request.getfixturevalue(url_fixture)
    w = Worker(cli(*TINY, "--trials", "40", "--workers", "4", "--storage", url, "--study", "w4", "--json"),
               tmp_path / "host")
    assert w.wait(180) == 0, w.stderr
    trials = check_study(url, "w4", total=40, folds=2)
    assert len({t.user_attrs["worker"] for t in trials}) >= 2
    assert '"n_complete"' in w.stdout


def test_sqlite_local_workers_never_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    w = Worker(cli(*TINY, "--trials", "15", "--workers", "3", "--storage", url, "--study", "lite", "--quiet"),
               tmp_path / "host")
    assert w.wait(120) == 0, w.stderr
    assert "locked" not in w.stderr
    check_study(url, "lite", total=15, folds=2)


def test_hosts_as_separate_processes(pg_url: str, tmp_path: Path) -> None:
    """Three 'hosts' (own home, temp dir, working dir; storage by flag or by environment) start
    together on an empty database: they race to create the tables, then share the budget."""
    hosts = [
        Worker(cli(*TINY, "--trials", "12", "--storage", pg_url, "--study", "hosts", "--quiet"), tmp_path / "a"),
        Worker(cli(*TINY, "--trials", "12", "--storage", pg_url, "--study", "hosts", "--quiet"), tmp_path / "b"),
        Worker(cli(*TINY, "--trials", "12", "--study", "hosts", "--quiet"), tmp_path / "c",
               env={"SWEEPDOCTOR_STORAGE": pg_url}),
    ]
    for h in hosts:
        assert h.wait(120) == 0, h.stderr
    trials = check_study(pg_url, "hosts", total=12, folds=2)
    assert len({t.user_attrs["worker"] for t in trials}) >= 2


def _race(url: str, study_id: int, total: int) -> None:
    storage = optuna_storage(url)
    study = optuna.load_study(study_name="race", storage=storage)
    coord = TrialCoordinator(study, Store(url), study_id, total=total,
                             settings=HeartbeatSettings(interval_s=5, grace_s=30))
    try:
        while (t := coord.next_trial()) is not None:
            assert coord.finish(t, TrialState.COMPLETE, float(t.number))
    finally:
        coord.close()
        storage.engine.dispose()


def test_racing_workers_claim_exactly_the_budget(any_url: str) -> None:
    """Four workers without training between asks: the tightest race for the last trials."""
    optuna.create_study(study_name="race", storage=any_url)
    store = Store(any_url)
    store.ensure_schema()
    study_id = store.study_id("race")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _race(any_url, study_id, 30)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    trials = load_trials(any_url, "race")
    assert len(trials) == 30 and trials_counted(trials) == 30
    assert all(t.state == TrialState.COMPLETE for t in trials)
    store.engine.dispose()


# ---- bad input: one line, non-zero exit, nothing written ------------------------------


def _sweep(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["sweep", *TINY, "--threads", "1", "--quiet", *args])
    return r.exit_code, r.output


def test_bad_worker_count(tmp_path: Path) -> None:
    code, out = _sweep("--workers", "0", "--storage", f"sqlite:///{tmp_path}/s.db")
    assert code == 2 and out.strip() == "error: study.workers must be an integer >= 1, got 0"
    assert not (tmp_path / "s.db").exists()


def test_workers_with_a_directory_as_storage(tmp_path: Path) -> None:
    code, out = _sweep("--workers", "2", "--storage", f"sqlite:///{tmp_path}")
    assert code == 2 and len(out.strip().splitlines()) == 1 and "is a directory" in out


def test_workers_with_an_unreachable_server() -> None:
    code, out = _sweep("--workers", "2", "--storage", "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    assert code == 2 and len(out.strip().splitlines()) == 1 and "cannot open" in out


def test_workers_refuse_a_study_with_another_space(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    assert _sweep("--trials", "1", "--storage", url, "--study", "s")[0] == 0
    code, out = _sweep("--trials", "4", "--workers", "2", "--storage", url, "--study", "s", "--epochs", "3")
    assert code == 2 and len(out.strip().splitlines()) == 1 and "(epochs: stored 2, given 3)" in out
    assert len(load_trials(url, "s")) == 1


def test_workers_need_a_picklable_model(tmp_path: Path) -> None:
    from sweepdoctor import sweep
    from sweepdoctor.errors import ConfigError

    cfg = sweep.SweepConfig(
        train=sweep.TrainConfig(folds=2, epochs=1, baselines=False, threads=1),
        study=sweep.StudyConfig(name="p", storage=f"sqlite:///{tmp_path}/s.db", trials=2, workers=2),
    )
    with pytest.raises(ConfigError, match="picklable"):
        sweep.run(cfg, sweep.load_builtin("iris"), model_fn=lambda hp, i, o: torch.nn.Linear(i, o))


# ---- heartbeat settings: flags, TOML, environment -------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--heartbeat-interval", "0"], "study.heartbeat_interval (--heartbeat-interval) must be a number of seconds > 0"),
    (["--heartbeat-grace", "-1"], "study.heartbeat_grace (--heartbeat-grace) must be a number of seconds > 0"),
    (["--heartbeat-grace", "4"], "must be longer than the heartbeat interval (5 s), got 4"),
    (["--heartbeat-interval", "10", "--heartbeat-grace", "10"], "longer than the heartbeat interval (10 s)"),
])
def test_bad_heartbeat_flags(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = _sweep(*args, "--storage", f"sqlite:///{tmp_path}/s.db")
    assert code == 2 and len(out.strip().splitlines()) == 1 and message in out, out
    assert not (tmp_path / "s.db").exists()


def _recorded_grace(url: str, study: str) -> set[float]:
    return {t.system_attrs[PROCESS_ATTR]["grace_s"] for t in load_trials(url, study)}


def test_heartbeat_flags_and_toml_reach_the_workers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    code, out = _sweep("--trials", "2", "--heartbeat-interval", "2", "--heartbeat-grace", "7", "--storage", url,
                       "--study", "flags")
    assert code == 0, out
    assert _recorded_grace(url, "flags") == {7.0}
    config = tmp_path / "sweep.toml"
    config.write_text("[study]\nheartbeat_interval = 3\n")  # the grace: three intervals
    code, out = _sweep("--config", str(config), "--trials", "2", "--workers", "2", "--storage", url, "--study", "toml")
    assert code == 0, out
    assert _recorded_grace(url, "toml") == {9.0}


def test_heartbeat_settings_configuration_then_environment_then_defaults() -> None:
    env = {"SWEEPDOCTOR_HEARTBEAT_INTERVAL": "2", "SWEEPDOCTOR_HEARTBEAT_GRACE": "30"}
    assert HeartbeatSettings.from_env({}) == HeartbeatSettings(interval_s=5.0, grace_s=15.0)
    assert HeartbeatSettings.from_env(env) == HeartbeatSettings(interval_s=2.0, grace_s=30.0)
    assert HeartbeatSettings.from_env(env, interval_s=4.0, grace_s=9.0) == HeartbeatSettings(4.0, 9.0)
    assert HeartbeatSettings.from_env({"SWEEPDOCTOR_HEARTBEAT_INTERVAL": "1"}).grace_s == 3.0
    from sweepdoctor.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--heartbeat-grace, SWEEPDOCTOR_HEARTBEAT_GRACE\) must be longer"):
        HeartbeatSettings.from_env({"SWEEPDOCTOR_HEARTBEAT_GRACE": "3"})


def test_the_parent_trains_the_baselines_while_the_workers_train(tmp_path: Path) -> None:
    """Issue 15: with workers the baselines come off the critical path too, stored once, the same numbers."""
    from sweepdoctor import sweep
    from sweepdoctor.diagnostics import Role

    ds = sweep.load_builtin("iris")
    stored = {}
    for workers in (1, 2):
        url = f"sqlite:///{tmp_path}/{workers}.db"
        cfg = sweep.SweepConfig(
            train=sweep.TrainConfig(folds=2, epochs=2, baselines=True, threads=1, overlap_eval=False),
            study=sweep.StudyConfig(name="b", storage=url, trials=4, workers=workers),
        )
        res = sweep.run(cfg, ds)
        assert res.n_complete + res.n_pruned == 4
        store = Store(url)
        runs = store.load_runs(store.study_id("b"), role=Role.BASELINE)
        stored[workers] = [(r.name, [[e.val_loss for e in f.epochs] for f in r.folds]) for r in runs]
    assert [name for name, _ in stored[2]] == ["baseline-linear", "baseline-shallow", "baseline-wide"]
    assert stored[2] == stored[1]
