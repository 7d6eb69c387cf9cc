"""The configuration refuses each bad value with a ConfigError naming where it stands.

``[space] optimizer_lr`` windows are named ``space.optimizer_lr.<optimizer>.<key>``
(never ``space.lr``), their flags must be TOML booleans, and the same classes of bad
value (text for a number, a string for a boolean, NaN/inf, zero or negative where a
positive value is needed, low > high, unknown keys) are refused in every table.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep import Fixed, FloatRange, IntRange, SearchSpace, SweepConfig, load_config


def _load(tmp_path: Path, text: str) -> SweepConfig:
    p = tmp_path / "sweep.toml"
    p.write_text(text, encoding="utf-8")
    return load_config(p)


WINDOW = "[space]\noptimizer = ['adam', 'sgd']\nlr = {low = 1e-5, high = 0.3, log = true}\noptimizer_lr = "


@pytest.mark.parametrize(
    "window, where, value",
    [
        ("{adam = {low = 'abc', high = 1e-2}}", "space.optimizer_lr.adam.low", "'abc'"),
        ("{adam = {low = 1e-4, high = '1e-2'}}", "space.optimizer_lr.adam.high", "'1e-2'"),
        ("{adam = {low = 1e-4, high = 1e-2, log = 'no'}}", "space.optimizer_lr.adam.log", "'no'"),
        ("{adam = {low = 1e-4, high = 1e-2, log = 1}}", "space.optimizer_lr.adam.log", "1"),
        ("{sgd = {low = 1e-2, high = 1e-4}}", "space.optimizer_lr.sgd.low", "low=0.01"),
        ("{adam = {low = -1e-3, high = 1e-2}}", "space.optimizer_lr.adam.low", "-0.001"),
        ("{adam = {low = 0.0, high = 1e-2, log = true}}", "space.optimizer_lr.adam.low", "low=0.0"),
        ("{adam = {low = nan, high = 1e-2}}", "space.optimizer_lr.adam.low", "nan"),
        ("{adam = {low = 1e-4, high = inf}}", "space.optimizer_lr.adam.high", "inf"),
        ("{adam = {low = 1e-4, high = 1e-2, include_zero = true}}", "space.optimizer_lr.adam.include_zero", "0"),
        ("{adam = {low = 1e-4, high = 1e-2, step = 2}}", "space.optimizer_lr.adam", "'step'"),
        ("{adam = {low = 1e-4}}", "space.optimizer_lr.adam", "'low': 0.0001"),
        ("{adam = 0.01}", "space.optimizer_lr.adam", "0.01"),
        ("{lion = {low = 1e-4, high = 1e-2}}", "space.optimizer_lr", "'lion'"),
        ("{adam = {low = 1.0, high = 2.0}}", "space.optimizer_lr.adam", "1..2"),
    ],
)
def test_a_bad_window_is_named_with_its_value(tmp_path: Path, window: str, where: str, value: str) -> None:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, WINDOW + window + "\n")
    message = str(e.value)
    assert message.startswith(where), message
    assert value in message and "space.lr" not in message.replace("space.lr ", ""), message
    assert ";" in message or "like" in message, f"no fix offered: {message}"


def test_a_good_window_loads_and_narrows_lr(tmp_path: Path) -> None:
    cfg = _load(tmp_path, WINDOW + "{adam = {low = 1e-4, high = 1e-2, log = true}, sgd = {low = 1e-2, high = 1}}\n")
    assert cfg.space.optimizer_lr == (("sgd", FloatRange(1e-2, 1.0)), ("adam", FloatRange(1e-4, 1e-2, log=True)))
    assert cfg.space.lr_for("adam") == FloatRange(1e-4, 1e-2, log=True)
    assert cfg.space.lr_for("sgd") == FloatRange(1e-2, 0.3, log=True)


@pytest.mark.parametrize("flag", ["log", "include_zero"])
@pytest.mark.parametrize("text", ["'no'", "'false'", "0", "'true'"])
def test_range_flags_must_be_toml_booleans(tmp_path: Path, flag: str, text: str) -> None:
    with pytest.raises(ConfigError, match=rf"^space\.weight_decay\.{flag} must be true or false"):
        _load(tmp_path, f"[space]\nweight_decay = {{low = 1e-5, high = 1e-2, {flag} = {text}}}\n")


@pytest.mark.parametrize(
    "text, where",
    [
        ("[space]\nlr = {low = '1e-4', high = 0.1}\n", "space.lr.low"),
        ("[space]\ndropout = {low = 0.1, high = 'half'}\n", "space.dropout.high"),
        ("[space]\nlr = {low = true, high = 0.1}\n", "space.lr.low"),
        ("[space]\nlr = {low = 1e-4, high = 1979-05-27}\n", "space.lr.high"),
        ("[space]\nlr = {low = [1], high = 0.1}\n", "space.lr.low"),
        ("[space]\nlr = {low = 1e-4, high = 1" + "0" * 400 + "}\n", "space.lr.high"),  # beyond a float
        ("[space]\ndepth = {low = 4, high = 1}\n", "space.depth.low"),
        ("[space]\ndepth = {low = 1, high = 4, include_zero = true}\n", "space.depth.include_zero"),
        ("[space]\nlr = {low = 1e-4, high = 0.1, include_zero = true}\n", "space.lr.include_zero"),
        ("[space]\nwidth = 0\n", "space.width"),
        ("[space]\nbatch_size = -16\n", "space.batch_size"),
        ("[space]\nlr = 0\n", "space.lr"),
        ("[space]\nlr = -inf\n", "space.lr"),
        ("[space]\nbatch_norm = 'yes'\n", "space.batch_norm"),
        ("[space]\ndepth = 99999999999999999999999\n", "space.depth"),
        ("[space]\ndepth = [2, 1" + "0" * 400 + "]\n", "space.depth"),
        ("[data]\ndataset = 'irsi'\n", "data.dataset"),
        ("[data]\ndataset = 'classification'\nn_samples = 0\n", "data.n_samples"),
        ("[data]\ndataset = 'classification'\nn_features = -1\n", "data.n_features"),
        ("[data]\nn_samples = '100'\n", "data.n_samples"),
        ("[train]\nfolds = 1\n", "train.folds"),
        ("[train]\nepochs = 0\n", "train.epochs"),
        ("[train]\nbaselines = 'no'\n", "train.baselines"),
        ("[study]\ntrials = -3\n", "study.trials"),
        ("[study]\ntimeout = nan\n", "study.timeout"),
        ("[study]\ntimeout = 0\n", "study.timeout"),
        ("[study]\nheartbeat_interval = inf\n", "study.heartbeat_interval"),
        ("[study]\nguided = 'true'\n", "study.guided"),
        ("[study]\nseed = -1\n", "study.seed"),
        ("[guide]\nmin_lr = 0.5\nmax_lr = 0.1\n", "guide.min_lr"),
        ("[guide]\nmax_dropout = nan\n", "guide.max_dropout"),
        ("[guide]\nmax_depth = 0\n", "guide.max_depth"),
        ("[thresholds]\noverfit_val_rise = 'high'\n", "thresholds.overfit_val_rise"),
        ("[thresholds]\noverfit_val_rise = inf\n", "thresholds.overfit_val_rise"),
    ],
)
def test_every_table_refuses_bad_values_by_name(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, text)
    assert where in str(e.value), str(e.value)
    assert len(str(e.value)) < 300 and "\n" not in str(e.value)


def test_integral_float_bounds_of_an_integer_key_make_an_integer_range() -> None:
    assert SearchSpace.from_mapping({"depth": {"low": 1.0, "high": 4.0}}).depth == IntRange(1, 4)
    with pytest.raises(ConfigError, match="space.depth.low: expected an integer"):
        SearchSpace.from_mapping({"depth": {"low": 1.5, "high": 4}})


@pytest.mark.parametrize(
    "space, where",
    [
        (dict(lr=0.01), "space.lr must be a Fixed"),
        (dict(lr=FloatRange("a", 1.0)), "space.lr.low: expected a number"),  # type: ignore[arg-type]
        (dict(lr=FloatRange(1e-3, 0.1, log="no")), "space.lr.log must be true or false"),  # type: ignore[arg-type]
        (dict(lr=FloatRange(1e-3, math.nan)), "space.lr.high: nan is not a finite number"),
        (dict(depth=IntRange(1, 2.5)), "space.depth.high: expected an integer"),  # type: ignore[arg-type]
        (dict(optimizer_lr={"adam": FloatRange(1e-4, 1e-2)}), "space.optimizer_lr must be"),
        (dict(optimizer_lr=(("adam", FloatRange(0.1, 0.01)),)), "space.optimizer_lr.adam.low: low must be <= high"),
        (dict(optimizer_lr=(("adam", Fixed(0.01)),)), "space.optimizer_lr.adam: must be a range"),
    ],
)
def test_python_spaces_are_checked_by_name(space: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError, match="^" + where.replace(".", r"\.")):
        SearchSpace(**space).validate()
