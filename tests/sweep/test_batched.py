"""Several trials as one stack: each trial trains as it would alone, and the sweep loop keeps its promises."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState

from sweepdoctor.sweep import Fixed, fit_folds, load_builtin, run_sweep
from sweepdoctor.sweep._batched import TrialBatch, fit_together
from sweepdoctor.sweep._config import SweepConfig
from sweepdoctor.sweep._fit import FitTracker
from tests.sweep.helpers import SMALL_SPACE, small_config
from tests.sweep.test_lockstep import _assert_same_curves, _data, _hp

MIXED = [
    dict(optimizer="adam", lr=0.02, schedule="cosine"),
    dict(optimizer="sgd", lr=0.05, schedule="step"),
    dict(optimizer="momentum", lr=0.01, schedule="warmup", weight_decay=0.0),
    dict(optimizer="rmsprop", lr=0.003, schedule="exponential"),
    dict(optimizer="adagrad", lr=0.05, schedule="constant"),
    dict(optimizer="adamw", lr=0.01, schedule="cosine", beta1=0.9),
    dict(optimizer="nesterov", lr=0.02, schedule="constant", momentum=0.5),
]


def test_trials_trained_together_match_each_trained_alone() -> None:
    data = _data(n=125)  # unequal folds: padded last batches too
    hps = [_hp(**kw) for kw in MIXED]  # type: ignore[arg-type]
    together = fit_together(data, hps, epochs=3, loss="cross_entropy", metric="accuracy", seed=3)
    for hp, res in zip(hps, together):
        alone = fit_folds(data, hp, epochs=3, loss="cross_entropy", metric="accuracy", seed=3)
        assert res.path == "batched" and res.status == "complete"
        _assert_same_curves(res, alone)
        for got, want in zip(res.fold_state_dicts(), alone.fold_state_dicts()):
            for name in want:
                torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6)


def test_a_trial_joining_later_and_one_leaving_early_still_match() -> None:
    data = _data()
    first, second = _hp(**MIXED[0]), _hp(**MIXED[3])  # type: ignore[arg-type]
    batch = TrialBatch(data, first, loss="cross_entropy", metric="accuracy", epochs=3, seed=3)
    trackers = {0: FitTracker(data.n_folds, first), 1: FitTracker(data.n_folds, second)}
    batch.add(0, first)
    joined = {0: 0, 1: 1}  # trial 1 starts while trial 0 is at its second epoch
    for epoch in range(4):
        if epoch == 1:
            batch.add(1, second)
        lrs, stats = batch.run_epoch(), batch.evaluate()
        for key in [m.key for m in batch.members]:
            trackers[key].record(epoch - joined[key], stats[key].numpy(), lrs[key], 0.0)
        if epoch == 2:
            batch.remove(0)  # done after its 3 epochs; trial 1 goes on alone in the stack
    for key, hp in ((0, first), (1, second)):
        got = trackers[key].result(path="batched", n_params=0, depth=2, stacks=[], train_seconds=0.0)
        alone = fit_folds(data, hp, epochs=3, loss="cross_entropy", metric="accuracy", seed=3)
        _assert_same_curves(got, alone)


def test_pruning_and_divergence_are_per_trial() -> None:
    data = _data()
    hps = [_hp(), _hp(optimizer="sgd", lr=1e4, schedule="constant"), _hp(optimizer="momentum")]
    res = fit_together(data, hps, epochs=4, loss="cross_entropy", metric="accuracy",
                       on_epoch=[None, None, lambda epoch, value, stored: epoch == 1])
    assert [r.status for r in res] == ["complete", "failed", "pruned"]
    assert [len(r.curves[0]) for r in res][::2] == [4, 2]
    assert res[1].reason is not None and res[1].reason.startswith("diverged")


def _batched_config(url: str, name: str, **study: object) -> SweepConfig:
    cfg = small_config(url, name, trials=5, epochs=3, **study)
    return cfg.with_overrides("train", trials_per_step=3)


def test_sweep_with_several_trials_per_step_runs_the_budget_exactly(sqlite_url: str) -> None:
    res = run_sweep(_batched_config(sqlite_url, "b"), load_builtin("iris"))
    assert res.n_complete == 5 and res.training_path == "batched"
    study = optuna.load_study(study_name="b", storage=sqlite_url)
    assert len(study.trials) == 5 and all(t.state == TrialState.COMPLETE for t in study.trials)
    for t in study.trials:
        assert t.user_attrs["training_path"] == "batched" and t.user_attrs["epochs_trained"] == 3
        assert t.value == pytest.approx(np.mean([t.user_attrs[f"split{i}_score"] for i in range(3)]))


def test_sweep_with_several_trials_per_step_prunes_per_trial(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sweepdoctor.sweep._study as study_mod

    monkeypatch.setattr(
        study_mod, "make_pruner", lambda name, epochs: optuna.pruners.ThresholdPruner(lower=1.01, n_warmup_steps=1)
    )
    res = run_sweep(_batched_config(sqlite_url, "bp", pruner="median"), load_builtin("iris"))
    assert res.n_pruned == 5
    study = optuna.load_study(study_name="bp", storage=sqlite_url)
    assert all(t.state == TrialState.PRUNED and sorted(t.intermediate_values) == [0, 1] for t in study.trials)


def test_same_seed_same_values_with_several_trials_per_step(tmp_path: Path) -> None:
    space = replace(SMALL_SPACE, dropout=Fixed(0.2))
    values = []
    for run in range(2):
        cfg = _batched_config(f"sqlite:///{tmp_path}/r{run}.db", "r")
        res = run_sweep(replace(cfg, space=space), load_builtin("iris"))
        study = optuna.load_study(study_name="r", storage=res.storage)
        values.append([t.value for t in study.trials])
    assert values[0] == values[1]
