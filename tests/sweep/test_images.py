"""Images and sequences: data held once, per-channel scaling without leaks, the built-in CNN in lockstep,
users' conv nets, refit and load_model."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from sweepdoctor import sweep
from sweepdoctor.errors import ConfigError, DataError
from sweepdoctor.sweep.engine import StackedCNN, build_cnn, fit_folds

ARCH = dict(conv_blocks=2, channels=4, kernel_size=3, pooling="max", batch_norm=True, depth=1, width=16,
            activation="relu", dropout=0.0)


@pytest.fixture(scope="module")
def digits_images() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    keep = np.arange(0, len(y), 3)  # 599 images: small and fast
    return (X[keep] / 16.0).reshape(-1, 1, 8, 8).astype(np.float32), y[keep]


def _folds(X: np.ndarray, y: np.ndarray, *, k: int = 3, scale: str = "auto") -> sweep.FoldData:
    ds = sweep.from_arrays(X, y)
    return sweep.prepare_folds(ds, sweep.make_splits(ds.y, ds.task, n_splits=k), torch.device("cpu"), scale=scale)


def _hp(**kw: object) -> sweep.TrialParams:
    base = dict(lr=1e-2, batch_size=32, optimizer="adam", schedule="constant", weight_decay=0.0, dropout=0.0,
                patience=0, depth=1, width=16, activation="relu", model="cnn", conv_blocks=2, channels=4)
    return sweep.TrialParams(**{**base, **kw})  # type: ignore[arg-type]


# --- data held once, scaled per fold without leaks -------------------------------------------


def test_the_samples_are_held_once_and_folds_are_index_sets(digits_images) -> None:
    X, y = digits_images
    data = _folds(X, y, k=5)
    assert tuple(data.X.shape) == X.shape  # one copy, not one per fold
    assert data.train_idx.shape[0] == 5 and data.train_idx.dtype == torch.long
    assert data.subset([1, 3]).X.data_ptr() == data.X.data_ptr()
    held = sum(t.numel() * t.element_size() for t in vars(data).values() if isinstance(t, torch.Tensor))
    assert held < 1.2 * X.nbytes + 5 * len(y) * 8 * 2 + 4096  # the samples once, plus indices and labels


def test_channel_scaling_is_fit_on_training_rows_only(digits_images) -> None:
    X, y = digits_images
    X3 = np.concatenate([X, 2 * X + 1, X**2], axis=1)  # three channels with different statistics
    data = _folds(X3, y, k=3)
    assert tuple(data.mu.shape) == (3, 3, 1, 1)  # one mean per (fold, channel)
    splits = sweep.make_splits(y, data.task, n_splits=3)
    for f, s in enumerate(splits):
        train = X3[s.train]
        np.testing.assert_allclose(data.mu[f, :, 0, 0].numpy(), train.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(data.sd[f, :, 0, 0].numpy(), train.std(axis=(0, 2, 3)), rtol=1e-4)
    # Poison every validation row of fold 0: its scaler and its scaled training rows do not move.
    poisoned = X3.copy()
    poisoned[splits[0].val] = 1e6
    other = _folds(poisoned, y, k=3)
    assert torch.equal(other.mu[0], data.mu[0]) and torch.equal(other.sd[0], data.sd[0])
    rows = data.train_idx[:1, : data.train_n[0]]
    assert torch.equal(other.rows(rows)[0], data.rows(rows)[0])
    assert not torch.equal(other.mu[1], data.mu[1])  # fold 1 trains on those rows: its scaler sees them


@pytest.mark.parametrize(("scale", "stat_shape"), [("feature", (1, 8, 8)), ("channel", (1, 1, 1)),
                                                   ("none", (1, 1, 1))])
def test_scale_modes(digits_images, scale: str, stat_shape: tuple[int, ...]) -> None:
    X, y = digits_images
    data = _folds(X, y, scale=scale)
    assert tuple(data.mu.shape[1:]) == stat_shape
    scaled = data.rows(data.train_idx[:, : min(data.train_n)])
    if scale == "none":
        assert torch.equal(scaled[0], data.X[data.train_idx[0, : min(data.train_n)]])
    else:  # standardized on the fold's own training rows
        assert abs(float(scaled[0].mean())) < 0.05


def test_sequences_scale_along_the_shorter_axis() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 20, 3)).astype(np.float32) * np.array([1.0, 10.0, 100.0], dtype=np.float32)
    data = _folds(X, np.arange(60) % 2, k=2)
    assert tuple(data.mu.shape) == (2, 1, 3)  # (n, L, C): the 3 channels are the last axis


# --- the built-in CNN as a fold stack --------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 8, 8), (3, 12)])
def test_stacked_cnn_is_each_fold_network_side_by_side(shape: tuple[int, ...]) -> None:
    stack = StackedCNN(shape, 5, seeds=[11, 12, 13], device=torch.device("cpu"), **ARCH)
    x = torch.randn(3, 7, *shape)
    for mode in (True, False):
        stack.train(mode)
        out = stack.forward(x)
        assert out.shape == (3, 7, 5)
        for f in range(3):
            net = build_cnn(shape, 5, **ARCH)
            net.load_state_dict(stack.fold_state_dict(f))
            net.train(mode)
            torch.testing.assert_close(out[f], net(x[f]), rtol=1e-4, atol=1e-5)
    # a fold's network is the same whether it trains alone or with others
    alone = StackedCNN(shape, 5, seeds=[12], device=torch.device("cpu"), **ARCH)
    fresh = StackedCNN(shape, 5, seeds=[11, 12, 13], device=torch.device("cpu"), **ARCH)
    for name, t in alone.fold_state_dict(0).items():
        assert torch.equal(t, fresh.fold_state_dict(1)[name]), name


def test_cnn_folds_in_lockstep_train_as_they_would_one_by_one(digits_images) -> None:
    X, y = digits_images
    data = _folds(X, y)
    hp = _hp()
    together = fit_folds(data, hp, epochs=3, loss="cross_entropy", metric="accuracy", seed=3)
    alone = fit_folds(data, hp, epochs=3, loss="cross_entropy", metric="accuracy", seed=3, vectorize=False)
    assert (together.path, alone.path) == ("vectorized", "sequential")
    for a, b in zip(together.curves, alone.curves):
        assert a[0].train_loss == pytest.approx(b[0].train_loss, rel=1e-2)
        assert a[-1].val_loss == pytest.approx(b[-1].val_loss, rel=5e-2)
    assert together.score > 0.6  # far above chance (0.1) after 3 short epochs


def test_the_cnn_trains_in_lockstep_where_that_is_faster(digits_images) -> None:
    from sweepdoctor.sweep.engine import lockstep_pays

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    # images (channels-last grouped convolutions): up to larger maps than sequences
    assert lockstep_pays((1, 8, 8), 128, cpu) and lockstep_pays((1, 28, 28), 128, cpu)
    assert lockstep_pays((3, 32, 32), 32, cpu) and not lockstep_pays((3, 32, 32), 64, cpu)
    assert lockstep_pays((3, 32, 32), 128, gpu)
    assert lockstep_pays((32, 2), 64, cpu) and not lockstep_pays((2, 256), 64, cpu)  # (L, C) and (C, L)
    assert lockstep_pays((2, 256), 64, gpu)  # launch-bound small kernels: lockstep pays on a GPU
    X, y = digits_images
    big = np.repeat(np.repeat(X, 2, axis=2), 2, axis=3)  # 1x16x16
    assert fit_folds(_folds(big, y), _hp(batch_size=64), epochs=1, loss="cross_entropy",
                     metric="accuracy").path == "vectorized"  # 16 x 16 x 64 = 16,384: past sequences' 4,096
    seqs = _folds(X.reshape(len(X), 1, 64), y)  # (C, L) = (1, 64): 64 positions
    assert fit_folds(seqs, _hp(batch_size=64), epochs=1, loss="cross_entropy", metric="accuracy").path == "vectorized"
    assert fit_folds(seqs, _hp(batch_size=128), epochs=1, loss="cross_entropy", metric="accuracy").path == "sequential"


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize("shape", [(2, 8, 8), (3, 12), (1, 7, 9)])
def test_stacked_cnn_gradients_are_each_fold_networks(shape: tuple[int, ...], pooling: str, activation: str) -> None:
    # the stack runs images channels-last and max pooling before ReLU: each fold still gets its own gradients
    arch = {**ARCH, "pooling": pooling, "activation": activation}
    stack = StackedCNN(shape, 5, seeds=[21, 22, 23], device=torch.device("cpu"), **arch)
    x = torch.randn(3, 6, *shape)
    stack.forward(x).square().sum().backward()
    grads = StackedCNN.shell(stack.spec, {n: t.grad if t.grad is not None else t.detach()
                                          for n, t in stack.tensors().items()})
    for f in range(3):
        net = build_cnn(shape, 5, **arch)
        net.load_state_dict(stack.fold_state_dict(f))
        net(x[f]).square().sum().backward()
        want = grads.fold_state_dict(f)
        for name, p in net.named_parameters():
            torch.testing.assert_close(want[name], p.grad, rtol=1e-4, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")


def test_a_diverging_cnn_fails_and_a_healthy_one_learns(digits_images) -> None:
    X, y = digits_images
    data = _folds(X, y)
    bad = fit_folds(data, _hp(optimizer="sgd", lr=1e4, batch_norm=False), epochs=5, loss="cross_entropy",
                    metric="accuracy")
    assert bad.status == "fail" and "diverged" in (bad.reason or "")
    good = fit_folds(data, _hp(), epochs=5, loss="cross_entropy", metric="accuracy")
    assert good.status == "complete" and good.score > 0.7


# --- sweeps of images and sequences ----------------------------------------------------------


def test_a_sweep_of_images_uses_the_builtin_cnn(tmp_path, digits_images) -> None:
    X, y = digits_images
    url = f"sqlite:///{tmp_path / 's.db'}"
    r = sweep.run(X=X, y=y, n_trials=2, epochs=2, folds=3, storage=url, seed=0,
                  space=sweep.SearchSpace(batch_size=sweep.Choice((16, 32))))
    assert r.study_name == "arrays-cnn" and r.training_path == "vectorized"
    assert r.best_params is not None and r.best_params.as_dict()["model"] == "cnn"
    assert r.n_complete + r.n_pruned == 2


def _user_cnn(hp: sweep.TrialParams, shape: tuple[int, ...], n_out: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(shape[0], 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.LazyLinear(n_out))


def _user_cnn_bn(hp: sweep.TrialParams, shape: tuple[int, ...], n_out: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(shape[0], 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * shape[1] * shape[2], n_out))


def _user_conv1d(hp: sweep.TrialParams, shape: tuple[int, ...], n_out: int) -> nn.Module:
    return nn.Sequential(nn.Conv1d(shape[0], 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                         nn.Linear(6, n_out))


@pytest.mark.parametrize(("model_fn", "path"), [(_user_cnn, "vectorized"), (_user_cnn_bn, "sequential")])
def test_a_users_conv_net_trains_in_lockstep_where_vmap_can(tmp_path, digits_images, model_fn, path) -> None:
    X, y = digits_images
    r = sweep.run(model_fn=model_fn, X=X, y=y, n_trials=1, epochs=2, folds=3, storage=f"sqlite:///{tmp_path}/u.db",
                  space=sweep.SearchSpace(optimizer=sweep.Fixed("adam"), lr=sweep.Fixed(3e-3)))
    assert r.training_path == path and r.custom_model
    assert r.best_value > 0.5


def test_a_1d_conv_net_sweeps_sequences(tmp_path, digits_images) -> None:
    X, y = digits_images
    seq = X.reshape(-1, 8, 8)  # (n, C=8 rows, L=8 columns)
    r = sweep.run(model_fn=_user_conv1d, X=seq, y=y, n_trials=1, epochs=2, folds=3,
                  storage=f"sqlite:///{tmp_path}/q.db", space=sweep.SearchSpace(optimizer=sweep.Fixed("adam"),
                                                                                lr=sweep.Fixed(3e-2)))
    assert r.training_path == "vectorized" and r.best_value > 0.2  # chance: 0.1
    builtin = sweep.run(X=seq, y=y, n_trials=1, epochs=2, folds=3, storage=f"sqlite:///{tmp_path}/q.db",
                        study_name="seq-cnn")
    assert builtin.best_params is not None and builtin.best_params.model == "cnn"


def test_the_cnn_on_a_table_is_refused_before_anything_is_written(tmp_path) -> None:
    X, y = load_digits(return_X_y=True)
    with pytest.raises(ConfigError, match="space.model"):
        sweep.run(X=X, y=y, n_trials=1, epochs=1, storage=f"sqlite:///{tmp_path}/t.db",
                  space=sweep.SearchSpace(model=sweep.Fixed("cnn")))
    assert not (tmp_path / "t.db").exists()


def test_refit_and_load_model_round_trip(tmp_path, digits_images) -> None:
    X, y = digits_images
    ds = sweep.from_arrays(X, y * 10)  # labels 0, 10, ..., 90: predictions come back as the labels given
    out = sweep.refit(ds, _hp(), epochs=4, loss="cross_entropy", metric="accuracy", out_dir=tmp_path / "m")
    model = sweep.load_model(out)
    pred = model.predict(X)
    assert set(np.unique(pred)) <= set(range(0, 100, 10))
    assert float(np.mean(pred == y * 10)) > 0.8
    proba = model.predict_proba(X[:5])
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    # the same numbers as the saved module on samples scaled by hand with the stored scaler
    net = build_cnn((1, 8, 8), 10, **{**ARCH, "channels": 4})
    net.load_state_dict(torch.load(out / "model.pt", weights_only=True))
    net.train(False)
    by_hand = net(torch.from_numpy((X[:5] - model.mean) / model.scale)).detach().numpy()
    np.testing.assert_allclose(model.outputs(X[:5]), by_hand, rtol=1e-5, atol=1e-6)


def test_load_model_refuses_other_shapes_and_missing_folders(tmp_path, digits_images) -> None:
    X, y = digits_images
    out = sweep.refit(sweep.from_arrays(X, y), _hp(), epochs=1, loss="cross_entropy", metric="accuracy",
                      out_dir=tmp_path / "m")
    with pytest.raises(DataError, match="shape"):
        sweep.load_model(out).predict(X.reshape(len(X), -1))
    with pytest.raises(ConfigError, match="no refit model"):
        sweep.load_model(tmp_path / "nothing")


# --- the measuring process measures the CNN as in place --------------------------------------


@pytest.mark.parametrize("hp_kw", [dict(dropout=0.2), dict(patience=1, lr=0.3, optimizer="sgd"),
                                   dict(optimizer="sgd", lr=1e4, batch_norm=False)],
                         ids=["complete", "early-stopping", "diverged"])
def test_the_measuring_process_measures_the_cnn_as_in_place(digits_images, hp_kw) -> None:
    from sweepdoctor.sweep.engine import Measurer

    X, y = digits_images
    data = _folds(X, y)
    with Measurer(data, loss="cross_entropy", metric="accuracy") as m:
        assert m.wait_until_available(60), "the measuring process did not start"
        hp = _hp(**hp_kw)
        helped = fit_folds(data, hp, epochs=4, loss="cross_entropy", metric="accuracy", seed=2, measurer=m)
        assert m.measured > 0
    alone = fit_folds(data, hp, epochs=4, loss="cross_entropy", metric="accuracy", seed=2)
    assert (helped.status, helped.reason, helped.best_epoch) == (alone.status, alone.reason, alone.best_epoch)
    for a, b in zip(helped.curves, alone.curves, strict=True):
        assert [(e.train_loss, e.grad_norm, e.val_loss, e.val_metric) for e in a] == [
            (e.train_loss, e.grad_norm, e.val_loss, e.val_metric) for e in b]
    for sa, sb in zip(helped.fold_state_dicts(), alone.fold_state_dicts(), strict=True):
        assert all(torch.equal(sa[k], sb[k]) or torch.isnan(sa[k]).any() for k in sa), "final weights differ"


def test_the_builtin_cnn_reads_sequences_with_channels_last() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 16, 2)).astype(np.float32)  # (n, L=16 steps, C=2 channels)
    y = (X[:, :8, 0].mean(1) > X[:, 8:, 1].mean(1)).astype(np.int64)
    data = _folds(X, y)
    fit = fit_folds(data, _hp(conv_blocks=1, channels=4), epochs=2, loss="cross_entropy", metric="accuracy")
    net = build_cnn((16, 2), 2, **{**ARCH, "conv_blocks": 1})
    assert type(net[0]).__name__ == "ChannelsFirst" and net[1].in_channels == 2
    net.load_state_dict(fit.fold_state_dicts()[0])
    x = data.rows(data.val_idx[:1, :5])[0]
    stack = fit.stacks[0]
    stack.train(False)
    net.train(False)
    torch.testing.assert_close(stack.forward(data.rows(data.val_idx[:, :5]))[0], net(x), rtol=1e-4, atol=1e-5)


def test_large_data_are_scaled_chunk_by_chunk_to_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    from sweepdoctor.sweep.data import _tensors

    rng = np.random.default_rng(2)
    X = rng.normal(3.0, 2.0, size=(500, 3, 6, 6)).astype(np.float32)
    rows = np.sort(rng.choice(500, 300, replace=False))
    at_once = {s: _tensors.scaler_stats(X, s, rows=rows) for s in ("feature", "channel")}
    monkeypatch.setattr(_tensors, "_CHUNK_ELEMENTS", 500)  # 4 rows a chunk
    for s, (mu, sd) in at_once.items():
        cmu, csd = _tensors.scaler_stats(X, s, rows=rows)
        np.testing.assert_allclose(cmu, mu, rtol=1e-6)
        np.testing.assert_allclose(csd, sd, rtol=1e-6)
        np.testing.assert_allclose(cmu.reshape(-1)[:1], X[rows].mean(axis=(0, 2, 3) if s == "channel" else 0)
                                   .reshape(-1)[:1], rtol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_images_sweep_on_a_gpu(tmp_path, digits_images) -> None:  # pragma: no cover - needs a GPU
    X, y = digits_images
    cfg = sweep.SweepConfig(train=sweep.TrainConfig(device="cuda", folds=3, epochs=2))
    r = sweep.run(cfg, X=X, y=y, n_trials=2, storage=f"sqlite:///{tmp_path}/g.db")
    assert r.training_path == "vectorized" and r.best_value > 0.3


@pytest.mark.parametrize("y", [np.array([0.0, 1.0, np.nan] * 10), np.array([0, 1, None] * 10, dtype=object),
                               np.array([0.0, 1.0, np.inf] * 10)], ids=["nan", "none", "inf"])
def test_missing_labels_are_refused_not_made_a_class(y: np.ndarray) -> None:
    with pytest.raises(DataError, match="y contains NaN, None or infinite values .10 of them, first in row 2"):
        sweep.from_arrays(np.zeros((30, 1, 2, 2)), y, task="classification")


def test_a_sequences_channel_axis_can_be_given() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 4, 16)).astype(np.float32) * np.linspace(1, 5, 16, dtype=np.float32)
    y = (X[:, :, 0].mean(1) > 0).astype(np.int64)
    ds = sweep.from_arrays(X, y)
    splits = sweep.make_splits(ds.y, ds.task, n_splits=3)
    auto = sweep.prepare_folds(ds, splits, torch.device("cpu"))
    last = sweep.prepare_folds(ds, splits, torch.device("cpu"), channels="last")
    assert tuple(auto.mu.shape) == (3, 4, 1) and not auto.channels_last  # the shorter axis: 4 channels
    assert tuple(last.mu.shape) == (3, 1, 16) and last.channels_last  # (L=4 steps, C=16 channels)
    fit = fit_folds(last, _hp(conv_blocks=1), epochs=1, loss="cross_entropy", metric="accuracy")
    net = build_cnn((4, 16), 2, **{**ARCH, "conv_blocks": 1}, channels_last=True)
    assert type(net[0]).__name__ == "ChannelsFirst" and net[1].in_channels == 16
    net.load_state_dict(fit.fold_state_dicts()[0])
    with pytest.raises(ConfigError, match="data.channels"):
        sweep.SweepConfig(data=sweep.DataConfig(channels="middle")).validate()


def _returns_a_function(hp, n_in, n_out):  # noqa: ANN001, ANN202
    return lambda x: x


def _wrong_head(hp, n_in, n_out):  # noqa: ANN001, ANN202
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 12))


@pytest.mark.parametrize(("model_fn", "says"), [
    (_returns_a_function, "model_fn must return a torch.nn.Module, got function"),
    (_wrong_head, "model's output for 2 samples is (2, 12), expected (2, 10)"),
])
def test_a_model_fn_that_cannot_work_is_refused_before_anything_is_written(tmp_path, digits_images, model_fn,
                                                                         says) -> None:
    X, y = digits_images
    db = tmp_path / "m.db"
    with pytest.raises(ConfigError, match=re.escape(says)):
        sweep.run(model_fn=model_fn, X=X, y=y, n_trials=2, epochs=1, folds=3, storage=f"sqlite:///{db}",
                  study_name="m")
    assert not db.exists()


def _wrong_head_when_wide(hp, n_in, n_out):  # noqa: ANN001, ANN202
    return nn.Sequential(nn.Flatten(), nn.Linear(64, n_out if hp.width < 32 else n_out + 2))


def test_a_model_fn_wrong_for_some_points_fails_those_trials_saying_why(tmp_path, digits_images) -> None:
    """The check before the first trial builds one point of the space; a model wrong at another point
    fails the trials that draw it, with the reason stored."""
    import optuna

    X, y = digits_images
    url = f"sqlite:///{tmp_path}/m.db"
    space = sweep.SearchSpace(width=sweep.Choice((16, 64)), optimizer=sweep.Fixed("adam"))
    sweep.run(model_fn=_wrong_head_when_wide, X=X, y=y, space=space, n_trials=6, epochs=1, folds=3, storage=url,
              study_name="m", sampler="random", seed=1)
    trials = optuna.load_study(study_name="m", storage=url).trials
    wide = [t for t in trials if t.params.get("width") == 64]
    assert wide and all(t.state.name == "FAIL" for t in wide)
    assert all("expected (2, 10)" in str(t.user_attrs.get("fail_reason")) for t in wide)
    assert all(t.state.name == "COMPLETE" for t in trials if t.params.get("width") == 16)
