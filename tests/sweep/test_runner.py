"""End-to-end sweeps on tiny settings: storage, resume, pruning, failures, repeatability."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState
from sqlalchemy import create_engine, func, select

from sweepdoctor.errors import ConfigError, SweepdoctorError
from sweepdoctor.studies.db._schema import EpochRow, RunRow
from sweepdoctor.sweep import Fixed, build_mlp, load_builtin, refit, run
from sweepdoctor.sweep.config import TrialParams
from tests.sweep.helpers import SMALL_SPACE, small_config

torch.set_num_threads(1)


def _rows(url: str, model: type, **where: object) -> int:
    e = create_engine(url)
    with e.connect() as c:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        n = int(c.execute(q).scalar_one())
    e.dispose()
    return n


def test_sweep_stores_a_study_optuna_can_open(sqlite_url: str) -> None:
    ds = load_builtin("iris")
    res = run(small_config(sqlite_url, "iris", trials=3, epochs=4), ds)
    assert res.n_complete == 3 and res.best_value is not None and res.best_value > 0.5
    assert len(res.best_fold_scores) == 3
    study = optuna.load_study(study_name="iris", storage=sqlite_url)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    t = study.best_trial
    assert t.value == pytest.approx(np.mean([t.user_attrs[f"split{i}_score"] for i in range(3)]))
    assert study.user_attrs["sweepdoctor"]["task"] == "classification"
    # one row per trial, fold and epoch
    assert _rows(sqlite_url, EpochRow) == 3 * 3 * 4
    assert _rows(sqlite_url, RunRow, role="candidate") == 3


def test_optuna_cli_reads_the_study(sqlite_url: str) -> None:
    run(small_config(sqlite_url, "cli", trials=2, epochs=2), load_builtin("iris"))
    optuna_cli = Path(sys.executable).with_name("optuna")
    out = subprocess.run(
        [str(optuna_cli), "trials", "--study-name", "cli", "--storage", sqlite_url, "-f", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(json.loads(out.stdout)) == 2


def test_optuna_dashboard_serves_the_study(sqlite_url: str) -> None:
    import io
    from wsgiref.util import setup_testing_defaults

    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    run(small_config(sqlite_url, "dash", trials=2, epochs=2), load_builtin("iris"))
    app = optuna_dashboard.wsgi(sqlite_url)
    env: dict = {}
    setup_testing_defaults(env)
    env["PATH_INFO"] = "/api/studies"
    env["wsgi.errors"] = io.StringIO()
    status: list[str] = []
    body = b"".join(app(env, lambda s, h, *a: status.append(s)))
    assert status[0].startswith("200")
    assert [s["study_name"] for s in json.loads(body)["study_summaries"]] == ["dash"]


def test_resume_adds_trials_and_refuses_a_changed_space(sqlite_url: str) -> None:
    ds = load_builtin("iris")
    run(small_config(sqlite_url, "r", trials=2, epochs=2), ds)
    res = run(small_config(sqlite_url, "r", trials=4, epochs=2), ds)
    assert res.resumed and res.n_complete == 2
    assert len(optuna.load_study(study_name="r", storage=sqlite_url).trials) == 4
    changed = replace(small_config(sqlite_url, "r", trials=5, epochs=2), space=replace(SMALL_SPACE, width=Fixed(8)))
    with pytest.raises(ConfigError, match="space.width: stored value=16, given value=8"):
        run(changed, ds)
    with pytest.raises(ConfigError, match="data: stored rows hash"):
        run(small_config(sqlite_url, "r", trials=5, epochs=2), load_builtin("wine"))
    with pytest.raises(ConfigError, match="epochs: stored 2, given 3"):
        run(small_config(sqlite_url, "r", trials=5, epochs=3), ds)


def test_pruned_trials_are_pruned_with_their_curves(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sweepdoctor.sweep.search._study as study_mod

    # a pruner that prunes anything under 100% accuracy once the warm-up epoch is over
    monkeypatch.setattr(
        study_mod, "make_pruner", lambda name, epochs: optuna.pruners.ThresholdPruner(lower=1.01, n_warmup_steps=1)
    )
    cfg = small_config(sqlite_url, "p", trials=2, epochs=5, pruner="median")
    res = run(cfg, load_builtin("iris"))
    assert res.n_pruned == 2 and res.n_complete == 0 and res.best_number is None
    study = optuna.load_study(study_name="p", storage=sqlite_url)
    assert {t.state for t in study.trials} == {TrialState.PRUNED}
    assert _rows(sqlite_url, EpochRow) == 2 * 3 * 2  # stopped after epoch 1 (two epochs stored)


def test_nan_trial_fails_with_reason_and_curve_and_the_sweep_goes_on(sqlite_url: str) -> None:
    space = replace(SMALL_SPACE, optimizer=Fixed("sgd"), lr=Fixed(1e6), schedule=Fixed("constant"))
    cfg = replace(small_config(sqlite_url, "nan", trials=2, epochs=6), space=space)
    with pytest.raises(SweepdoctorError, match="every trial failed.*diverged"):
        run(cfg, load_builtin("iris"))
    study = optuna.load_study(study_name="nan", storage=sqlite_url)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]
    assert "non-finite" in study.trials[0].user_attrs["fail_reason"]
    assert _rows(sqlite_url, RunRow, state="fail") == 2
    assert 0 < _rows(sqlite_url, EpochRow) < 2 * 3 * 6


def _flaky_model(hp: TrialParams, n_in: int, n_out: int) -> torch.nn.Module:
    if hp.optimizer == "momentum":
        raise RuntimeError("this model does not like momentum")
    return torch.nn.Sequential(torch.nn.Linear(n_in, 8), torch.nn.ReLU(), torch.nn.Linear(8, n_out))


def test_a_failing_user_model_fails_its_trial_only(sqlite_url: str) -> None:
    res = run(small_config(sqlite_url, "flaky", trials=6, epochs=2), load_builtin("iris"), model_fn=_flaky_model)
    study = optuna.load_study(study_name="flaky", storage=sqlite_url)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and res.n_complete == 6 - len(failed) > 0
    assert all("does not like momentum" in t.user_attrs["fail_reason"] for t in failed)
    assert {t.user_attrs["training_path"] for t in study.trials if t.state == TrialState.COMPLETE} == {"vectorized"}


def test_every_trial_failing_is_an_error(sqlite_url: str) -> None:
    def broken(hp: TrialParams, n_in: int, n_out: int) -> torch.nn.Module:
        raise ValueError("broken factory")

    with pytest.raises(SweepdoctorError, match="every trial failed; the first: ValueError: broken factory"):
        run(small_config(sqlite_url, "broken", trials=2, epochs=2), load_builtin("iris"), model_fn=broken)


def test_interrupt_keeps_finished_trials(sqlite_url: str) -> None:
    calls = {"n": 0}

    def model(hp: TrialParams, n_in: int, n_out: int) -> torch.nn.Module:
        calls["n"] += 1
        if calls["n"] > 1 + 2 * 3:  # the third trial (after the check before the first; 3 folds per trial)
            raise KeyboardInterrupt
        return torch.nn.Linear(n_in, n_out)

    res = run(small_config(sqlite_url, "int", trials=5, epochs=2), load_builtin("iris"), model_fn=model)
    assert res.interrupted and res.n_complete == 2 and res.best_number is not None
    states = [t.state for t in optuna.load_study(study_name="int", storage=sqlite_url).trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]


def test_same_seed_same_values(tmp_path: Path) -> None:
    ds = load_builtin("wine")
    values = []
    for i in range(2):
        url = f"sqlite:///{tmp_path}/s{i}.db"
        run(small_config(url, "s", trials=3, epochs=3, seed=7), ds)
        values.append([t.value for t in optuna.load_study(study_name="s", storage=url).trials])
    assert values[0] == values[1]
    url = f"sqlite:///{tmp_path}/other.db"
    run(small_config(url, "s", trials=3, epochs=3, seed=8), ds)
    assert [t.value for t in optuna.load_study(study_name="s", storage=url).trials] != values[0]


def test_refit_saves_weights_that_load_safely(tmp_path: Path) -> None:
    ds = load_builtin("iris")
    hp = TrialParams(lr=0.01, batch_size=16, optimizer="adam", schedule="constant", weight_decay=0.0,
                     dropout=0.0, patience=0, depth=1, width=16, activation="relu")
    out = refit(ds, hp, epochs=30, loss="cross_entropy", metric="accuracy", out_dir=tmp_path / "m")
    meta = json.loads((out / "model.json").read_text())
    model = build_mlp(**{k: v for k, v in meta["architecture"].items() if k not in ("n_in", "n_out")},
                      n_in=meta["architecture"]["n_in"], n_out=meta["architecture"]["n_out"])
    model.load_state_dict(torch.load(out / "model.pt", weights_only=True))
    model.eval()
    X = (ds.X - np.array(meta["scaler"]["mean"])) / np.array(meta["scaler"]["scale"])
    acc = (model(torch.tensor(X, dtype=torch.float32)).argmax(1).numpy() == ds.y).mean()
    assert acc > 0.9


def test_baselines_are_trained_once_per_study(sqlite_url: str) -> None:
    cfg = small_config(sqlite_url, "b", trials=1, epochs=2)
    cfg = replace(cfg, train=replace(cfg.train, baselines=True))
    run(cfg, load_builtin("iris"))
    run(replace(cfg, study=replace(cfg.study, trials=2)), load_builtin("iris"))
    assert _rows(sqlite_url, RunRow, role="baseline") == 3
    assert _rows(sqlite_url, RunRow, role="candidate") == 2


def test_a_trials_record_is_one_write(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: a trained trial's curves and user attributes go in one transaction, not one per attribute."""
    calls: list[str] = []
    original = optuna.storages.RDBStorage.set_trial_user_attr

    def counting(self: optuna.storages.RDBStorage, trial_id: int, key: str, value: object) -> None:
        calls.append(key)
        original(self, trial_id, key, value)

    monkeypatch.setattr(optuna.storages.RDBStorage, "set_trial_user_attr", counting)
    res = run(small_config(sqlite_url, "w", trials=3, epochs=3), load_builtin("iris"))
    assert res.n_complete == 3
    assert calls == ["worker"] * 3  # only the claim's (who runs it: seen while it runs); the record's: none
    for t in optuna.load_study(study_name="w", storage=sqlite_url).trials:  # what Optuna itself reads
        a = t.user_attrs
        assert {"split0_score", "split1_score", "split2_score", "mean_score", "std_score", "hyperparameters",
                "training_path", "epochs_trained"} <= a.keys()
        splits = [a[f"split{i}_score"] for i in range(3)]
        assert a["mean_score"] == pytest.approx(np.mean(splits)) and a["mean_score"] == pytest.approx(t.value)
        assert a["hyperparameters"]["lr"] == pytest.approx(t.params["lr"])
    assert res.best_params is not None and res.best_fold_scores  # read back from them
