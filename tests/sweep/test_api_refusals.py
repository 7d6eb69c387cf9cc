"""The Python API refuses bad arguments up front: nothing is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sweepdoctor import diagnostics, sweep
from sweepdoctor.errors import ConfigError, StorageError
from sweepdoctor.sweep import SearchSpace, StudyConfig, SweepConfig

X = np.random.default_rng(0).normal(size=(40, 3))
Y = (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"model_fn": 42}, ConfigError, "model_fn must be a callable"),
        ({"sampler": 3}, ConfigError, "sampler must be"),
        ({"seed": -1}, ConfigError, "study.seed must be an integer from 0"),
        ({"n_trials": 0}, ConfigError, "study.trials"),
        ({"study_name": ""}, ConfigError, "study.name must be a non-empty string"),
        ({"config": SweepConfig(thresholds={"nope": 1.0})}, ConfigError, "thresholds: unknown key 'nope'"),
        ({"config": 42}, ConfigError, "config= takes a SweepConfig or the path of a TOML file"),
        ({"config": "missing.toml"}, ConfigError, "cannot read 'missing.toml'"),
        ({"space": ["lr"]}, ConfigError, "space= takes a SearchSpace or a mapping"),
        ({"space": {"lr": {"low": "a", "high": 1}}}, ConfigError, "space.lr"),
        ({"on_trial": 5}, ConfigError, "on_trial must be a callable"),
        ({"on_plan": "x"}, ConfigError, "on_plan must be a callable"),
    ],
)
def test_refused_before_the_database_exists(tmp_path: Path, kwargs: dict, error: type, match: str) -> None:
    db = tmp_path / "s.db"
    with pytest.raises(error, match=match):
        sweep.run(X=X, y=Y, storage=f"sqlite:///{db}", epochs=1, folds=2, **kwargs)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"X": X}, "X= needs its labels"),
        ({"y": Y}, "y= goes with X="),
        ({"data": X}, "data= takes a sweepdoctor Dataset"),
        ({"X": X, "y": Y, "storage": 42}, "storage= takes a database URL"),
        ({"X": X, "y": Y, "storage": 4.5}, "storage= takes a database URL"),
    ],
)
def test_data_and_storage_arguments_are_refused_by_name(tmp_path: Path, monkeypatch, kwargs: dict,
                                                        match: str) -> None:
    monkeypatch.chdir(tmp_path)  # the default database would be created here
    with pytest.raises(ConfigError, match=match):
        sweep.run(epochs=1, folds=2, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_a_config_path_and_a_space_mapping_are_read_as_the_cli_reads_them(tmp_path: Path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text('[train]\nfolds = 2\nepochs = 1\nbaselines = false\n[study]\ntrials = 1\n')
    r = sweep.run(toml, X=X, y=Y, storage=f"sqlite:///{tmp_path}/a.db", space={"optimizer": "adam", "lr": 0.01})
    assert r.n_complete == 1 and r.best_params is not None
    assert r.best_params.optimizer == "adam" and r.best_params.lr == 0.01


def test_read_only_storage_is_refused_by_name(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    db.write_bytes(b"")
    db.chmod(0o444)
    with pytest.raises(StorageError, match="is read-only, but a sweep writes"):
        sweep.run(X=X, y=Y, storage=f"sqlite:///{db}", epochs=1, folds=2, n_trials=1)
    with pytest.raises(StorageError, match=r"read-only \(mode=ro\)"):
        sweep.run(X=X, y=Y, storage=f"sqlite:///file:{db}?mode=ro&uri=true", epochs=1, folds=2, n_trials=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"] and db.stat().st_size == 0


def test_a_writable_file_uri_is_accepted(tmp_path: Path) -> None:
    """``file:`` URIs name the file after ``file:`` (the check used to look for a folder called 'file:/...')."""
    from sweepdoctor.studies import check_writable

    check_writable(f"sqlite:///file:{tmp_path}/s.db?uri=true")  # no error: writable folder, no mode=ro


def test_diagnose_takes_a_history_not_a_dict() -> None:
    with pytest.raises(TypeError, match="diagnose\\(\\) takes a History, got dict; .*History.from_dict"):
        diagnostics.diagnose({"format": "sweepdoctor.history/1"})  # type: ignore[arg-type]


def test_space_and_study_config_still_valid_by_default() -> None:
    """The new checks let the defaults through."""
    SweepConfig(study=StudyConfig(seed=2**32 - 1, name="x"), space=SearchSpace()).validate()
