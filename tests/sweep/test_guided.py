"""Guided sweeps on real training: the diagnosis of round 1 re-plans the space of round 2."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest

from sweepdoctor import sweep
from sweepdoctor.studies import GUIDED_PLAN, Store
from sweepdoctor.sweep import Fixed, FloatRange, SearchSpace, StudyConfig, SweepConfig, TrainConfig

# Plain SGD on wine: above a learning rate of ~2 the loss blows up, below it trains well.
SPACE = SearchSpace(lr=FloatRange(0.05, 200.0, log=True), optimizer=Fixed("sgd"), schedule=Fixed("constant"),
                    batch_size=Fixed(16), dropout=Fixed(0.0), patience=Fixed(0), weight_decay=Fixed(0.0),
                    width=Fixed(32))


def _config(url: str, *, trials: int = 16) -> SweepConfig:
    return SweepConfig(space=SPACE, train=TrainConfig(folds=3, epochs=4),
                       study=StudyConfig(trials=trials, guided=True, guide_every=8, seed=0, pruner="none",
                                         storage=url, name="g"))


def _toml(tmp_path: Path, url: str, name: str, *, trials: int, lr: str, optimizer: str) -> Path:
    """A guided sweep's TOML file on wine, 3 folds x 4 epochs, everything but lr and the optimizer fixed."""
    toml = tmp_path / f"{name}.toml"
    toml.write_text(
        '[data]\ndataset = "wine"\n[train]\nfolds = 3\nepochs = 4\n'
        f'[study]\ntrials = {trials}\nguided = true\nguide_every = 8\npruner = "none"\nstorage = "{url}"\n'
        f'name = "{name}"\n[space]\nlr = {lr}\noptimizer = "{optimizer}"\nschedule = "constant"\n'
        'batch_size = 16\ndropout = 0.0\npatience = 0\nweight_decay = 0.0\nwidth = 32\n'
    )
    return toml


def _lrs(url: str) -> list[float]:
    return [t.params["lr"] for t in optuna.load_study(study_name="g", storage=url).trials]


def test_divergence_in_round_one_caps_the_lr_of_round_two(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    plans: list[tuple[int, object]] = []
    res = sweep.run(_config(url), sweep.load_builtin("wine"), on_plan=lambda i, p: plans.append((i, p)))
    assert len(res.guided_rounds) == 1 and len(plans) == 1
    (round1,) = res.guided_rounds
    (edit,) = [e for e in round1["edits"] if e["param"] == "lr"]
    assert edit["codes"] == ["divergence"] and len(edit["trials"]) >= 2
    cap = plans[0][1].space.lr_for("sgd").high  # type: ignore[attr-defined]  # the cap and SGD's own window
    assert cap < 2.0
    lrs = _lrs(url)
    assert round1["from_trial"] == 8 and all(lr <= cap for lr in lrs[8:])
    assert max(lrs[:8]) > cap  # round 1 did explore above it
    store = Store(url)
    assert store.study_doc(store.study_id("g"), GUIDED_PLAN) == list(res.guided_rounds)
    assert res.n_complete + res.n_failed + res.n_pruned == 16

    # Resumed with a larger budget, the study goes on in the planned space.
    more = sweep.run(_config(url, trials=20), sweep.load_builtin("wine"))
    assert more.n_complete + more.n_failed + more.n_pruned == 4
    assert all(lr <= cap for lr in _lrs(url)[16:])


@pytest.mark.slow
def test_a_guided_sweep_with_a_seed_is_reproducible(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        res = sweep.run(_config(url), sweep.load_builtin("wine"))
        runs.append((_lrs(url), res.guided_rounds))
    assert runs[0] == runs[1]


def test_guided_needs_one_worker() -> None:
    from sweepdoctor.errors import ConfigError

    cfg = _config("sqlite://")
    with pytest.raises(ConfigError, match="study.guided"):
        dataclasses.replace(cfg, study=dataclasses.replace(cfg.study, workers=2)).validate()


def test_studies_show_and_json_carry_the_plan(tmp_path: Path) -> None:
    """The stored rounds reach `studies show` (text and --json) and the sweep's --json summary."""
    import json

    from click.testing import CliRunner

    from sweepdoctor.cli import main

    url = f"sqlite:///{tmp_path / 'g.db'}"
    toml = _toml(tmp_path, url, "g", trials=16, lr="{low = 0.05, high = 200.0, log = true}", optimizer="sgd")
    r = CliRunner().invoke(main, ["sweep", "--config", str(toml), "--json"])
    assert r.exit_code == 0, r.output
    rounds = json.loads(r.stdout)["guided_rounds"]
    assert rounds and rounds[0]["edits"][0]["param"] == "lr"
    shown = CliRunner().invoke(main, ["studies", "show", "g", "--storage", url])
    assert shown.exit_code == 0, shown.output
    assert "round 1 (from trial #8): lr 0.05..200 (log) ->" in shown.stdout
    as_json = CliRunner().invoke(main, ["studies", "show", "g", "--storage", url, "--json"])
    assert json.loads(as_json.stdout)["guided"] == rounds


def test_stalled_best_trials_are_probed_with_a_larger_lr_as_the_next_trials(tmp_path: Path) -> None:
    """Momentum at small rates on wine, 4 epochs: the best trials of round 1 stall, so round 2 opens with
    each of them again at three times its lr; they run first and beat the trials they repair."""
    space = dataclasses.replace(SPACE, lr=FloatRange(1e-5, 3e-3, log=True), optimizer=Fixed("momentum"))
    url = f"sqlite:///{tmp_path / 'p.db'}"
    cfg = dataclasses.replace(_config(url, trials=12), space=space)
    res = sweep.run(cfg, sweep.load_builtin("wine"))
    (round1,) = res.guided_rounds
    probes = round1["probes"]
    assert probes and all(set(p["changes"]) == {"lr"} for p in probes)
    trials = optuna.load_study(study_name="g", storage=url).trials
    assert len(trials) == 12  # the probes count against the budget
    for i, p in enumerate(probes):
        ran, source = trials[round1["from_trial"] + i], trials[p["trial"]]
        assert ran.params == pytest.approx(p["params"])
        assert ran.params["lr"] == pytest.approx(min(3 * source.params["lr"], 3e-3))
        assert ran.value > source.value  # the repair worked: a stall is fixed by a larger step


def test_probes_are_shown_live_and_in_studies_show(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sweepdoctor.cli import main

    url = f"sqlite:///{tmp_path / 'p.db'}"
    toml = _toml(tmp_path, url, "p", trials=12, lr="{low = 1e-5, high = 3e-3, log = true}", optimizer="momentum")
    r = CliRunner().invoke(main, ["sweep", "--config", str(toml)])
    assert r.exit_code == 0, r.output
    assert "guided round 1: next, lr " in r.stderr and "three times it" in r.stderr
    shown = CliRunner().invoke(main, ["studies", "show", "p", "--storage", url])
    assert "round 1 next: lr " in " ".join(shown.stdout.split())


def test_failures_window_each_optimizers_rates_and_later_trials_keep_to_them(tmp_path: Path) -> None:
    """Momentum and Adam on wine with rates from 1e-4 to 30: Adam fails at large rates where momentum
    still trains, and both fail at the largest. Round 1's plan gives a family its own window of rates
    (or drops an optimizer), and every trial of round 2 draws inside it, through Optuna's full choices."""
    from sweepdoctor.sweep import Choice

    space = dataclasses.replace(SPACE, lr=FloatRange(1e-4, 30.0, log=True), optimizer=Choice(("momentum", "adam")))
    url = f"sqlite:///{tmp_path / 'w.db'}"
    plans: list[object] = []
    sweep.run(dataclasses.replace(_config(url, trials=16), space=space), sweep.load_builtin("wine"),
              on_plan=lambda i, p: plans.append(p))
    (plan,) = plans
    planned: SearchSpace = plan.space  # type: ignore[attr-defined]
    windows = [e for e in plan.edits if e.param.startswith("lr (")]  # type: ignore[attr-defined]
    assert windows and all(e.trials and set(e.codes) <= {"divergence", "optimization_failure", "oscillation",
                                                         "critical_point"} for e in windows)
    assert planned.optimizer_lr
    trials = optuna.load_study(study_name="g", storage=url).trials
    for t in trials[8:]:
        opt = t.params.get("optimizer", getattr(planned.optimizer, "value", None))
        lr = planned.lr_for(opt)
        assert isinstance(lr, FloatRange) and lr.low * (1 - 1e-9) <= t.params["lr"] <= lr.high * (1 + 1e-9)
        assert t.distributions["optimizer"].choices == ("momentum", "adam")  # Optuna's choices never change
    assert any(not (planned.lr_for(t.params["optimizer"]).low <= t.params["lr"]  # type: ignore[union-attr]
                    <= planned.lr_for(t.params["optimizer"]).high) for t in trials[:8])  # type: ignore[union-attr]
