"""The measuring process: the same numbers as measuring in place, and a sweep that survives it failing."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from sweepdoctor.sweep import FitResult, fit_folds, from_arrays, make_splits, prepare_folds, run
from sweepdoctor.sweep.config import TrialParams
from sweepdoctor.sweep.data import FoldData
from sweepdoctor.sweep.engine._measurer import Measurer, _main_module_hidden, start_measurer
from sweepdoctor.sweep.engine._pipeline import OVERLAP_ENV, measure_in_background
from sweepdoctor.sweep.search import _setup
from sweepdoctor.sweep.search._reporter import StudyReporter

from .helpers import small_config, trial_params


def _data(task: str = "classification", test: bool = False) -> FoldData:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6)).astype(np.float32)
    if task == "classification":
        y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    else:
        y = (X[:, 0] - 2 * X[:, 3] + rng.normal(scale=0.3, size=150)).astype(np.float32)
    extra = {"X_test": X[:40] + 0.1, "y_test": y[:40]} if test else {}
    ds = from_arrays(X, y, task=task, **extra)  # type: ignore[arg-type]
    return prepare_folds(ds, make_splits(ds.y, ds.task, n_splits=3, seed=1), torch.device("cpu"))


def _hp(**kw: object) -> TrialParams:
    return trial_params(**{"dropout": 0.2, "width": 16, "beta1": 0.9, "beta2": 0.999, **kw})


@pytest.fixture(scope="module")
def classification() -> FoldData:
    return _data()


@pytest.fixture(scope="module")
def measurer(classification: FoldData) -> Iterator[Measurer]:
    m = Measurer(classification, loss="cross_entropy", metric="accuracy")
    assert m.wait_until_available(60), "the measuring process did not start"
    yield m
    m.close()


def _fit(data: FoldData, hp: TrialParams, measurer: Measurer | None = None, *, loss: str = "cross_entropy",
         metric: str = "accuracy", **kw: object) -> FitResult:
    return fit_folds(data, hp, epochs=6, loss=loss, metric=metric, seed=5, measurer=measurer, **kw)  # type: ignore[arg-type]


def _assert_identical(a: FitResult, b: FitResult) -> None:
    """Bit for bit: curves, scores, verdict and final weights."""
    assert (a.status, a.reason, a.best_epoch) == (b.status, b.reason, b.best_epoch)
    assert a.fold_scores == b.fold_scores
    assert a.test_losses == b.test_losses
    for ca, cb in zip(a.curves, b.curves, strict=True):
        assert [(e.train_loss, e.grad_norm, e.val_loss, e.val_metric, e.lr) for e in ca] == [
            (e.train_loss, e.grad_norm, e.val_loss, e.val_metric, e.lr) for e in cb
        ]
    for sa, sb in zip(a.fold_state_dicts(), b.fold_state_dicts(), strict=True):
        assert sa.keys() == sb.keys()
        assert all(torch.allclose(sa[k], sb[k], rtol=0, atol=0, equal_nan=True) for k in sa)  # NaN once diverged


@pytest.mark.parametrize(
    "hp",
    [
        _hp(),  # all epochs
        _hp(patience=2, lr=0.3, schedule="constant"),  # early stopping: the verdict comes one epoch late
        _hp(optimizer="sgd", lr=1e4, schedule="constant", dropout=0.0),  # diverges
        _hp(optimizer="adagrad", activation="tanh", batch_size=32),
    ],
    ids=["complete", "early-stopping", "diverged", "adagrad-tanh"],
)
def test_measured_in_the_helper_is_measured_in_place(classification: FoldData, measurer: Measurer,
                                                     hp: TrialParams) -> None:
    before = measurer.measured
    helped = _fit(classification, hp, measurer)
    assert measurer.measured > before  # the helper did measure
    assert (helped.status == "fail") == (hp.lr > 100)  # the diverging case does diverge
    _assert_identical(helped, _fit(classification, hp))
    walls = [e.wall_time for e in helped.curves[0]]
    assert walls == sorted(walls) and walls[-1] <= helped.train_seconds  # when each epoch had trained


def test_a_pruned_trial_goes_back_to_the_epoch_it_was_pruned_at(classification: FoldData,
                                                                  measurer: Measurer) -> None:
    seen: list[int] = []

    def prune_at_2(epoch: int, value: float, stored: bool) -> bool:
        seen.append(epoch)
        return epoch == 2

    helped = _fit(classification, _hp(), measurer, on_epoch=prune_at_2)
    assert helped.status == "pruned" and seen == [0, 1, 2]
    assert len(helped.curves[0]) == 3
    _assert_identical(helped, _fit(classification, _hp(), on_epoch=lambda e, v, s: e == 2))


def test_regression_with_a_test_set_is_measured_alike() -> None:
    data = _data("regression", test=True)
    with Measurer(data, loss="mse", metric="rmse") as m:
        assert m.wait_until_available(60)
        helped = _fit(data, _hp(), m, loss="mse", metric="rmse")
        assert m.measured == 6
    alone = _fit(data, _hp(), loss="mse", metric="rmse")
    assert all(t is not None for t in alone.test_losses)
    _assert_identical(helped, alone)


def test_a_helper_that_dies_is_replaced_by_measuring_in_place(classification: FoldData,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    m = Measurer(classification, loss="cross_entropy", metric="accuracy")
    assert m.wait_until_available(60)
    calls = 0

    def kill_after_2(epoch: int, value: float, stored: bool) -> bool:
        nonlocal calls
        calls += 1
        if epoch == 1:
            m._proc.kill()
            m._proc.join(10)
        return False

    with caplog.at_level(logging.WARNING, logger="sweepdoctor"):
        helped = _fit(classification, _hp(), m, on_epoch=kill_after_2)
    m.close()
    assert calls == 6 and helped.status == "complete"
    assert "measuring process failed" in caplog.text
    assert not m.available
    _assert_identical(helped, _fit(classification, _hp()))


def _study_snapshot(url: str) -> list[tuple[object, ...]]:
    study = optuna.load_study(study_name="t", storage=url)
    return [(t.number, t.state, t.value, t.params, t.intermediate_values, t.user_attrs.get("mean_score"))
            for t in study.get_trials()]


def test_a_sweep_stores_the_same_study_with_and_without_the_helper(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    helpers: list[Measurer] = []

    def started_and_up(data: FoldData, **kw: object) -> Measurer | None:
        m = start_measurer(data, **kw)  # type: ignore[arg-type]
        assert m is not None and m.wait_until_available(60)  # so that every epoch goes through it
        helpers.append(m)
        return m

    monkeypatch.setattr(_setup, "start_measurer", started_and_up)
    urls = {}
    for overlap in (True, False):
        url = urls[overlap] = f"sqlite:///{tmp_path / f'{overlap}.db'}"
        cfg = small_config(url, trials=8, epochs=6, pruner="median")
        cfg = cfg.with_overrides("train", overlap_eval=overlap)
        res = run(X=X, y=y, config=cfg)
        assert res.n_complete + res.n_pruned == 8
    assert len(helpers) == 1 and helpers[0].measured >= 8 * 3  # the helper measured (and reported) the sweep
    with_helper, without = _study_snapshot(urls[True]), _study_snapshot(urls[False])
    assert with_helper == without
    assert any(t[1] == optuna.trial.TrialState.PRUNED for t in without)  # the pruner had its say
    assert all(len(t[4]) > 0 for t in without)  # every trial reported its epochs


def test_a_script_without_a_main_guard_is_not_run_again(tmp_path: Path) -> None:
    """spawn re-runs the caller's main script in a child unless told otherwise."""
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(f"""
        import numpy as np
        from sweepdoctor.sweep import SweepConfig, StudyConfig, TrainConfig, run
        from sweepdoctor.sweep.search import _setup as _runner
        print("SCRIPT RUNS", flush=True)
        start = _runner.start_measurer
        def start_and_wait(data, **kw):  # a short sweep must not end before the helper is up
            m = start(data, **kw)
            assert m.wait_until_available(60)
            return m
        _runner.start_measurer = start_and_wait
        rng = np.random.default_rng(0)
        X = rng.normal(size=(90, 4)).astype(np.float32)
        y = (X[:, 0] > 0).astype(np.int64)
        cfg = SweepConfig(train=TrainConfig(folds=3, epochs=3, baselines=False, overlap_eval=True),
                          study=StudyConfig(trials=2, storage="sqlite:///{tmp_path / 's.db'}"))
        res = run(X=X, y=y, config=cfg)
        print("TRIALS", res.n_complete + res.n_pruned, flush=True)
    """))
    env = {**os.environ, OVERLAP_ENV: ""}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("SCRIPT RUNS") == 1
    assert "TRIALS 2" in out.stdout
    assert "measuring process failed" not in out.stderr


def test_the_main_module_is_left_as_it_was() -> None:
    main = sys.modules["__main__"]
    before = (getattr(main, "__file__", None), getattr(main, "__spec__", None))
    with _main_module_hidden():
        assert getattr(main, "__spec__", None) is None and getattr(main, "__file__", None) is None
    assert (getattr(main, "__file__", None), getattr(main, "__spec__", None)) == before


def test_when_epochs_are_measured_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    from sweepdoctor.sweep.engine import _pipeline

    monkeypatch.delenv(OVERLAP_ENV, raising=False)
    monkeypatch.setattr(_pipeline, "available_cores", lambda: 2)
    assert measure_in_background(None, device="cpu", workers=1, threads=1)
    assert not measure_in_background(None, device="cpu", workers=2, threads=1)  # every core trains
    assert not measure_in_background(None, device="cpu", workers=1, threads=2)
    assert not measure_in_background(None, device="cuda", workers=1, threads=1)
    assert measure_in_background(True, device="cuda", workers=4, threads=1)  # asked for
    monkeypatch.setenv(OVERLAP_ENV, "0")
    assert not measure_in_background(None, device="cpu", workers=1, threads=1)
    assert measure_in_background(True, device="cpu", workers=1, threads=1)  # the setting wins over the env


def test_the_helper_writes_the_reported_values_to_the_study(classification: FoldData, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="t", storage=url, direction="maximize")
    trial = study.ask()
    seen: list[tuple[int, float, bool]] = []

    def on_epoch(epoch: int, value: float, stored: bool) -> bool:
        seen.append((epoch, value, stored))
        return False

    reporter = functools.partial(StudyReporter, url)
    with Measurer(classification, loss="cross_entropy", metric="accuracy", reporter=reporter) as m:
        assert m.wait_until_available(60)
        _fit(classification, _hp(), m, on_epoch=on_epoch, report_to=trial._trial_id)
        assert [s for _, _, s in seen] == [True] * 6
        diverging = study.ask()
        failed = _fit(classification, _hp(optimizer="sgd", lr=1e4, schedule="constant", dropout=0.0), m,
                      on_epoch=on_epoch, report_to=diverging._trial_id)
    assert failed.status == "fail"
    trials = optuna.load_study(study_name="t", storage=url).trials
    assert trials[0].intermediate_values == {e: v for e, v, _ in seen[:6]}
    # The epoch that diverged is not reported: the sweep stops such a trial before reporting.
    assert len(trials[1].intermediate_values) == len(seen) - 6 == len(failed.curves[0]) - 1


def test_no_measuring_process_where_shared_memory_is_short(classification: FoldData,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from sweepdoctor.sweep.engine import _measurer

    monkeypatch.setattr(_measurer, "_shared_memory_free", lambda: 1 << 20)  # 1 MB free: a full /dev/shm
    assert start_measurer(classification, loss="cross_entropy", metric="accuracy") is None
    monkeypatch.setattr(_measurer, "_shared_memory_free", lambda: None)  # no /dev/shm to ask (macOS)
    m = start_measurer(classification, loss="cross_entropy", metric="accuracy")
    assert m is not None
    m.close()


def test_no_measuring_process_off_the_cpu(classification: FoldData) -> None:
    import dataclasses

    elsewhere = dataclasses.replace(classification, X=classification.X.to("meta"))
    assert start_measurer(elsewhere, loss="cross_entropy", metric="accuracy") is None


def test_closing_a_helper_that_is_still_starting_does_not_wait(classification: FoldData) -> None:
    import time

    m = Measurer(classification, loss="cross_entropy", metric="accuracy")
    t0 = time.perf_counter()
    m.close()
    assert time.perf_counter() - t0 < 0.5 and not m._proc.is_alive() and not m.available


def test_a_bad_storage_fails_fast_with_the_helper_started(tmp_path: Path) -> None:
    from sweepdoctor.errors import StorageError

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    cfg = small_config(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}").with_overrides("train", overlap_eval=True)
    with pytest.raises(StorageError):
        run(X=X, y=y, config=cfg)


def _mean_x(data: FoldData) -> float:
    return float(data.X.mean())


def _raises(data: FoldData) -> float:
    raise ValueError("no good")


def test_the_first_job_comes_back_before_the_helper_measures(classification: FoldData) -> None:
    with Measurer(classification, loss="cross_entropy", metric="accuracy", first_job=_mean_x) as m:
        assert m.first_job_result() == (True, _mean_x(classification))  # computed there, on the same data
        assert m.wait_until_available(60)
        fit = _fit(classification, _hp(), m)
        assert m.measured > 0 and fit.status == "complete"  # then it measures as before


def test_a_first_job_that_fails_says_why_and_the_helper_still_measures(classification: FoldData) -> None:
    with Measurer(classification, loss="cross_entropy", metric="accuracy", first_job=_raises) as m:
        assert m.first_job_result() == (False, "ValueError: no good")
        assert m.wait_until_available(60)


def test_without_a_first_job_there_is_no_result(classification: FoldData) -> None:
    with Measurer(classification, loss="cross_entropy", metric="accuracy") as m:
        done, why = m.first_job_result()
        assert not done and "no job" in why


def test_the_helper_trains_the_same_baselines_as_the_sweep_would(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: the baselines train in the helper, off the critical path, to the same numbers."""
    from sweepdoctor.diagnostics import Role
    from sweepdoctor.studies import Store

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    y = (X[:, 0] - X[:, 2] > 0).astype(np.int64)
    answers: list[tuple[bool, object]] = []
    original = Measurer.first_job_result

    def spy(self: Measurer) -> tuple[bool, object]:
        answers.append(original(self))
        return answers[-1]

    monkeypatch.setattr(Measurer, "first_job_result", spy)
    stored = {}
    for overlap in (True, False):
        url = f"sqlite:///{tmp_path / f'{overlap}.db'}"
        cfg = small_config(url, trials=2, epochs=4).with_overrides("train", overlap_eval=overlap, baselines=True)
        run(X=X, y=y, config=cfg)
        store = Store(url)
        runs = store.load_runs(store.study_id("t"), role=Role.BASELINE)
        stored[overlap] = [(r.name, r.n_params, [[(e.train_loss, e.val_loss, e.val_metric) for e in f.epochs]
                                                  for f in r.folds]) for r in runs]
    assert [done for done, _ in answers] == [True]  # the helper's answer was used, once
    assert [name for name, *_ in stored[True]] == ["baseline-linear", "baseline-shallow", "baseline-wide"]
    assert stored[True] == stored[False]


def _no_baselines(data: FoldData) -> object:
    raise RuntimeError("out of memory")


def test_when_the_helper_cannot_train_the_baselines_the_sweep_does(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from sweepdoctor.diagnostics import Role
    from sweepdoctor.studies import Store

    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 4)).astype(np.float32)
    y = (X[:, 1] > 0).astype(np.int64)
    monkeypatch.setattr(_setup, "reference_job", lambda **kw: _no_baselines)
    answers: list[tuple[bool, object]] = []
    original = Measurer.first_job_result
    monkeypatch.setattr(Measurer, "first_job_result",
                        lambda self: answers.append(original(self)) or answers[-1])
    url = f"sqlite:///{tmp_path / 's.db'}"
    cfg = small_config(url, trials=2, epochs=3).with_overrides("train", overlap_eval=True, baselines=True)
    res = run(X=X, y=y, config=cfg)
    assert res.n_complete == 2
    store = Store(url)
    runs = store.load_runs(store.study_id("t"), role=Role.BASELINE)
    assert [r.name for r in runs] == ["baseline-linear", "baseline-shallow", "baseline-wide"]
    assert answers == [(False, "RuntimeError: out of memory")]  # the helper said why
    assert all(len(f.epochs) == 3 for r in runs[1:] for f in r.folds)  # trained here instead, fully
