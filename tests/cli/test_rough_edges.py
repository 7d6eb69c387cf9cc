"""Rough edges a new user hit (issue 11, section 4), each on a real (tiny) sweep.

One sweep with baselines and ``--diagnose`` is shared by the module (iris, 2 folds,
2 epochs, 4 trials, a space where ``weight_decay`` may be 0 and ``beta1`` exists for
Adam only).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import optuna
import pytest
import torch
from click.testing import CliRunner

from sweepdoctor import sweep
from sweepdoctor.cli import main
from sweepdoctor.errors import ConfigError
from sweepdoctor.studies import TrialPage, TrialRecord, trials_table

SPACE_TOML = """
[space]
optimizer = ["adam", "momentum"]
lr = [1e-3, 3e-2]
weight_decay = {low = 1e-5, high = 1e-3, include_zero = true}
depth = [1]
width = [8]
"""
TINY = ["--folds", "2", "--epochs", "2", "--threads", "1", "-q"]


def _invoke(*args: str) -> object:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    d = tmp_path_factory.mktemp("edges")
    (d / "space.toml").write_text(SPACE_TOML)
    url = f"sqlite:///{d}/s.db"
    _invoke("sweep", "--dataset", "iris", "--config", str(d / "space.toml"), "--trials", "4", "--storage", url,
            "--study", "e", "--diagnose", "--seed", "3", *TINY)
    return url, d


def test_the_study_listing_stays_short_and_the_space_is_in_our_table(swept: tuple[str, Path]) -> None:
    url, d = swept
    attrs = optuna.load_study(study_name="e", storage=url).user_attrs
    assert len(json.dumps(attrs)) < 800  # the space alone was ~1,600 characters
    assert attrs["sweepdoctor"]["space"].startswith("sha256:")
    with sqlite3.connect(d / "s.db") as c:
        (doc,) = c.execute("SELECT document FROM sd_study_docs WHERE key = 'space'").fetchone()
    assert json.loads(doc)["optimizer"]["values"] == ["adam", "momentum"]


def test_resuming_a_full_study_says_so(swept: tuple[str, Path]) -> None:
    url, d = swept
    out = _invoke("sweep", "--dataset", "iris", "--config", str(d / "space.toml"), "--trials", "4",
                  "--storage", url, "--study", "e", "--seed", "3", *TINY).output  # type: ignore[attr-defined]
    assert "already has its 4 trials; none added" in out and "0 complete" not in out


def test_a_changed_setting_names_the_stored_and_the_given_value(swept: tuple[str, Path]) -> None:
    url, d = swept
    r = CliRunner().invoke(main, ["sweep", "--dataset", "iris", "--config", str(d / "space.toml"), "--trials", "5",
                                  "--storage", url, "--study", "e", "--seed", "3", *TINY[:-3], "--epochs", "3"])
    assert r.exit_code == 2 and "epochs: stored 2, given 3" in r.stderr


def test_curves_accept_the_baseline_with_and_without_its_prefix(swept: tuple[str, Path]) -> None:
    url, _ = swept
    for name in ("linear", "baseline-linear"):
        doc = json.loads(_invoke("studies", "curves", "e", "--run", name, "--storage", url, "--json").stdout)  # type: ignore[attr-defined]
        assert doc["run"] == "baseline-linear" and doc["points"]


def test_finding_counts_are_the_same_in_show_and_diagnose(swept: tuple[str, Path]) -> None:
    url, _ = swept
    shown = json.loads(_invoke("studies", "show", "e", "--storage", url, "--json").stdout)["findings"]  # type: ignore[attr-defined]
    diagnosed = json.loads(_invoke("diagnose", "--study", "e", "--storage", url, "--json").stdout)["counts"]  # type: ignore[attr-defined]
    assert shown == diagnosed and sum(shown.values()) >= 4  # every trial has at least one finding
    assert max(shown.values()) <= 4  # trials, not baselines


def test_one_vocabulary_for_parameters(swept: tuple[str, Path]) -> None:
    url, _ = swept
    trials = json.loads(_invoke("studies", "trials", "e", "--storage", url, "--json").stdout)["trials"]  # type: ignore[attr-defined]
    for t in trials:
        assert not any(k.startswith("use_") for k in t["params"]), t["params"]
        assert "weight_decay" in t["params"] and "depth" in t["params"]
        assert ("beta1" in t["params"]) == (t["params"]["optimizer"] == "adam")
    best = json.loads(_invoke("studies", "best", "e", "--storage", url, "--json").stdout)["groups"][0]["best"]  # type: ignore[attr-defined]
    swept_names = set(sweep.TrialParams.from_dict(best["params"]).as_dict())
    assert set(best["params"]) == swept_names


def test_importance_says_on_how_many_trials_and_lists_conditional_parameters(swept: tuple[str, Path]) -> None:
    url, _ = swept
    imp = json.loads(_invoke("studies", "show", "e", "--storage", url, "--json").stdout)["importance"]  # type: ignore[attr-defined]
    assert imp["n_trials"] >= 2
    assert not any(k.startswith("use_") for k in imp["values"] or {})
    assert not set(imp["values"] or {}) & set(imp["conditional"])
    text = _invoke("studies", "show", "e", "--storage", url).output  # type: ignore[attr-defined]
    assert f"on {imp['n_trials']} complete trials" in text


def test_failed_trials_show_no_score() -> None:
    failed = TrialRecord(number=3, trial_id=4, state="fail", value=None, datetime_start=None,
                         datetime_complete=None, params={"lr": 0.1},
                         user_attrs={"mean_score": 0.09961, "std_score": 0.01}, findings=())
    done = TrialRecord(number=4, trial_id=5, state="complete", value=0.5, datetime_start=None,
                       datetime_complete=None, params={"lr": 0.1},
                       user_attrs={"mean_score": 0.5, "std_score": 0.01}, findings=())
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(trials_table(TrialPage(study="s", trials=(failed, done), matched=2)))
    text = console.export_text()
    assert "0.09961" not in text and "0.5 ± 0.01" in text


def _factory(hp: sweep.TrialParams, n_inputs: int, n_outputs: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(n_inputs, 8), torch.nn.Tanh(), torch.nn.Linear(8, n_outputs))


def test_a_custom_model_best_params_leave_out_the_mlp_ones(tmp_path: Path) -> None:
    ds = sweep.load_builtin("iris")
    result = sweep.run(model_fn=_factory, X=ds.X, y=ds.y, n_trials=1, storage=f"sqlite:///{tmp_path}/c.db",
                       folds=2, epochs=1, config=sweep.SweepConfig(train=sweep.TrainConfig(baselines=False)))
    shown = result.to_dict()["best_params"]
    assert shown and not {"depth", "width", "activation"} & set(shown) and "lr" in shown
    listed = json.loads(_invoke("studies", "trials", result.study_name, "--storage", f"sqlite:///{tmp_path}/c.db",
                                "--json").stdout)["trials"][0]["params"]  # type: ignore[attr-defined]
    assert listed == shown
    builtin = sweep.run(X=ds.X, y=ds.y, n_trials=1, storage=f"sqlite:///{tmp_path}/b.db", folds=2, epochs=1,
                        config=sweep.SweepConfig(train=sweep.TrainConfig(baselines=False)))
    assert {"depth", "width", "activation"} <= set(builtin.to_dict()["best_params"])


def test_a_study_made_before_the_space_moved_still_resumes(tmp_path: Path) -> None:
    """Old studies hold the whole space in their user attribute: they resume, and are rewritten short."""
    ds = sweep.load_builtin("iris")
    url = f"sqlite:///{tmp_path}/old.db"
    cfg = sweep.SweepConfig(train=sweep.TrainConfig(folds=2, epochs=1, baselines=False, threads=1),
                            study=sweep.StudyConfig(name="old", storage=url, trials=1))
    sweep.run(cfg, ds)
    study = optuna.load_study(study_name="old", storage=url)
    legacy = {**study.user_attrs["sweepdoctor"], "space": cfg.space.fingerprint()}
    study.set_user_attr("sweepdoctor", legacy)  # as the sweep wrote it before
    with sqlite3.connect(tmp_path / "old.db") as c:
        c.execute("DELETE FROM sd_study_docs")
    res = sweep.run(cfg.with_overrides("study", trials=2), ds)
    assert res.resumed and res.n_complete + res.n_pruned == 1
    assert optuna.load_study(study_name="old", storage=url).user_attrs["sweepdoctor"]["space"].startswith("sha256:")
    legacy["space"] = {**legacy["space"], "width": {"kind": "Fixed", "value": 8}}
    study.set_user_attr("sweepdoctor", legacy)
    with pytest.raises(ConfigError, match="space.width: stored value=8, given value=128"):
        sweep.run(cfg.with_overrides("study", trials=3), ds)


def test_the_history_export_reads_back_without_runs_that_never_trained(
    swept: tuple[str, Path], tmp_path: Path
) -> None:
    """A trial failed before its first epoch has folds without epochs: the export leaves it out,
    so `diagnose --history` reads what `studies export --format history` wrote."""
    import shutil

    from sweepdoctor.diagnostics import FoldHistory, Role, RunHistory, Task
    from sweepdoctor.studies import Store

    _, d = swept
    shutil.copy(d / "s.db", tmp_path / "s.db")
    url = f"sqlite:///{tmp_path}/s.db"
    store = Store(url)
    empty = RunHistory(name="trial-99", role=Role.CANDIDATE, folds=(FoldHistory(epochs=()),) * 2, state="failed")
    store.add_run(study_id=store.study_id("e"), run=empty, task=Task.CLASSIFICATION, loss="cross_entropy")
    store.engine.dispose()
    out = tmp_path / "h.json"
    _invoke("studies", "export", "e", "--format", "history", "-o", str(out), "--storage", url)
    assert "trial-99" not in out.read_text()
    _invoke("diagnose", "--history", str(out))


def test_deleting_a_study_deletes_its_space_document(swept: tuple[str, Path], tmp_path: Path) -> None:
    import shutil

    _, d = swept
    shutil.copy(d / "s.db", tmp_path / "s.db")
    _invoke("studies", "delete", "e", "--yes", "--storage", f"sqlite:///{tmp_path}/s.db")
    with sqlite3.connect(tmp_path / "s.db") as c:
        assert c.execute("SELECT count(*) FROM sd_study_docs").fetchone() == (0,)


def test_where_and_sort_use_the_shown_names(swept: tuple[str, Path]) -> None:
    """``weight_decay=0`` is shown for trials with Optuna's ``use_weight_decay=false``: --where finds them."""
    url, _ = swept
    trials = json.loads(_invoke("studies", "trials", "e", "--storage", url, "--json").stdout)["trials"]  # type: ignore[attr-defined]
    zero = sorted(t["number"] for t in trials if t["params"]["weight_decay"] == 0)
    nonzero = sorted(t["number"] for t in trials if t["params"]["weight_decay"] > 0)
    assert zero and nonzero  # the seed gives both
    for where, expected in (("weight_decay=0", zero), ("weight_decay>0", nonzero)):
        page = json.loads(_invoke("studies", "trials", "e", "--where", where, "--storage", url, "--json").stdout)  # type: ignore[attr-defined]
        assert sorted(t["number"] for t in page["trials"]) == expected
    page = json.loads(_invoke("studies", "trials", "e", "--sort", "weight_decay", "--storage", url,
                              "--json").stdout)  # type: ignore[attr-defined]
    shown = [t["params"]["weight_decay"] for t in page["trials"]]
    assert shown == sorted(shown)
