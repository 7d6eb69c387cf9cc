from pathlib import Path

import numpy as np
import pytest

from sweepdoctor.diagnostics import Task
from sweepdoctor.errors import ConfigError, DataError
from sweepdoctor.sweep import DataConfig, from_arrays, load_builtin, load_csv, load_dataset


@pytest.mark.parametrize(
    "name,task,classes",
    [("iris", Task.CLASSIFICATION, 3), ("wine", Task.CLASSIFICATION, 3), ("breast_cancer", Task.CLASSIFICATION, 2),
     ("digits", Task.CLASSIFICATION, 10), ("diabetes", Task.REGRESSION, 0)],
)
def test_builtin_datasets(name: str, task: Task, classes: int) -> None:
    ds = load_builtin(name)
    assert ds.task is task and ds.n_classes == classes
    assert ds.X.dtype == np.float32 and len(ds.X) == len(ds.y)


def test_generated_datasets_have_the_asked_size() -> None:
    ds = load_builtin("classification", n_samples=300, n_features=7)
    assert ds.X.shape == (300, 7) and ds.task is Task.CLASSIFICATION
    assert load_builtin("regression", n_samples=200, n_features=5).task is Task.REGRESSION


def _csv(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_with_string_labels(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i * 2 % 7},{'cat' if i % 2 else 'dog'}" for i in range(20))
    ds = load_csv(_csv(tmp_path, "a,b,label\n" + rows), target="label")
    assert ds.task is Task.CLASSIFICATION and ds.classes == ("cat", "dog") and ds.X.shape == (20, 2)


def test_csv_regression_inferred(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i * 0.37 + 0.01}" for i in range(50))
    assert load_csv(_csv(tmp_path, "x,y\n" + rows), target="y").task is Task.REGRESSION


@pytest.mark.parametrize(
    "text,target,match",
    [
        ("a,b\n1,2\n", "label", "no column 'label'; columns: a, b"),
        ("a,color,label\n" + "\n".join(f"{i},red,{i % 2}" for i in range(12)), "label", "column 'color'.*not numeric"),
        ("a,label\n1,0\n2\n", "label", "line 3 has 1 fields"),
        ("", "label", "is empty"),
        ("a,label\n" + "\n".join(f",{i % 2}" for i in range(12)), "label", "column 'a'"),
    ],
)
def test_csv_errors_name_the_problem(tmp_path: Path, text: str, target: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_csv(_csv(tmp_path, text), target=target)


def test_missing_csv_file() -> None:
    with pytest.raises(DataError, match="cannot read"):
        load_csv("/nonexistent/x.csv", target="y")


def test_test_set_classes_must_be_known() -> None:
    X = np.random.default_rng(0).normal(size=(30, 2))
    y = np.array([0, 1] * 15)
    with pytest.raises(DataError, match="classes not in the training data"):
        from_arrays(X, y, X_test=X[:4], y_test=np.array([0, 1, 2, 0]))


def test_data_config_rules() -> None:
    with pytest.raises(ConfigError, match="either a dataset name or a CSV"):
        load_dataset(DataConfig(dataset="iris", csv="x.csv", target="y"))
    with pytest.raises(DataError, match="unknown dataset"):
        load_builtin("mnist")


@pytest.mark.parametrize(
    "text,match",
    [
        ("a,b,y\n", "has no data rows"),
        ("y\n" + "\n".join(str(i % 2) for i in range(20)), "no feature columns besides the target 'y'"),
        ("f1,y,f2,y\n" + "\n".join(f"{i},{i % 2},{i},{i % 2}" for i in range(20)),
         "two columns named 'y' .*leak the answer into the features"),
        ("f,f,y\n" + "\n".join(f"{i},{i},{i % 2}" for i in range(20)), "two columns named 'f'"),
        ("a,,y\n" + "\n".join(f"{i},{i},{i % 2}" for i in range(20)), "a column without a name"),
    ],
)
def test_csv_structure_is_refused_before_any_training(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_csv(_csv(tmp_path, text), target="y")


def test_the_same_columns_once_each_load(tmp_path: Path) -> None:
    ds = load_csv(_csv(tmp_path, "f1,y,f2\n" + "\n".join(f"{i},{i % 2},{i}" for i in range(20))), target="y")
    assert ds.X.shape == (20, 2)


@pytest.mark.parametrize(
    "name,n_samples,n_features,match",
    [("classification", 0, 20, "n_samples.*>= 10, got 0"), ("regression", 100, 0, "n_features.*>= 1, got 0"),
     ("classification", 100, 1, "n_features.*>= 2, got 1")],
)
def test_generated_sizes_are_checked(name: str, n_samples: int, n_features: int, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_builtin(name, n_samples=n_samples, n_features=n_features)


def test_small_generated_datasets_work() -> None:
    """Two and three features used to fail inside scikit-learn (two redundant features by default)."""
    assert load_builtin("classification", n_samples=50, n_features=2).X.shape == (50, 2)
    assert load_builtin("classification", n_samples=50, n_features=3).X.shape == (50, 3)


def test_arrays_without_features_or_with_nan_targets() -> None:
    with pytest.raises(DataError, match="X has no features"):
        from_arrays(np.zeros((20, 0)), np.arange(20) % 2)
    y = np.linspace(0, 1, 20)
    y[3] = np.nan
    with pytest.raises(DataError, match="y contains NaN"):
        from_arrays(np.zeros((20, 2)), y, task="regression")
    with pytest.raises(DataError, match="task must be"):
        from_arrays(np.zeros((20, 2)), y, task="ranking")
