import numpy as np
import pytest
import torch
from sklearn.preprocessing import StandardScaler

from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep import load_builtin, make_splits, prepare_folds, splits_hash


@pytest.mark.parametrize("name,k", [("iris", 5), ("digits", 3), ("diabetes", 4)])
def test_every_sample_is_validated_exactly_once(name: str, k: int) -> None:
    ds = load_builtin(name)
    splits = make_splits(ds.y, ds.task, n_splits=k, seed=3)
    counts = np.zeros(len(ds.y), dtype=int)
    for s in splits:
        counts[s.val] += 1
        assert not set(s.train) & set(s.val)
        assert len(s.train) + len(s.val) == len(ds.y)
    assert (counts == 1).all()


def test_classification_folds_are_stratified() -> None:
    ds = load_builtin("iris")
    for s in make_splits(ds.y, ds.task, n_splits=5, seed=0):
        assert np.bincount(ds.y[s.val]).tolist() == [10, 10, 10]


def test_splits_are_fixed_by_the_seed() -> None:
    ds = load_builtin("wine")
    a = splits_hash(make_splits(ds.y, ds.task, n_splits=5, seed=1))
    assert a == splits_hash(make_splits(ds.y, ds.task, n_splits=5, seed=1))
    assert a != splits_hash(make_splits(ds.y, ds.task, n_splits=5, seed=2))


def test_repeats_multiply_the_folds() -> None:
    ds = load_builtin("iris")
    assert len(make_splits(ds.y, ds.task, n_splits=3, n_repeats=2, seed=0)) == 6


def test_too_many_folds_is_a_clear_error() -> None:
    ds = load_builtin("iris")
    with pytest.raises(ConfigError, match="smallest class"):
        make_splits(ds.y, ds.task, n_splits=51)
    with pytest.raises(ConfigError, match="at least 2"):
        make_splits(ds.y, ds.task, n_splits=1)


def test_scaler_never_sees_validation_rows() -> None:
    ds = load_builtin("wine")
    splits = make_splits(ds.y, ds.task, n_splits=3, seed=0)
    data = prepare_folds(ds, splits, torch.device("cpu"))
    for f, s in enumerate(splits):
        ref = StandardScaler().fit(ds.X[s.train])
        expected = ref.transform(ds.X)
        everyone = torch.arange(len(ds.y))[None].expand(data.n_folds, -1)
        np.testing.assert_allclose(data.rows(everyone)[f].numpy(), expected, rtol=1e-4, atol=1e-4)
        # and the validation rows did not shift the scaler: a scaler fit on all rows differs
        everything = StandardScaler().fit(ds.X)
        assert not np.allclose(everything.mean_, ref.mean_)
        assert set(data.val_idx[f][data.val_mask[f] > 0].tolist()) == set(s.val.tolist())
