"""The thresholds' validation and overrides (``_thresholds.py``), at the limits they state, in milliseconds.

Every threshold is a finite number > 0; the fractions are <= 1; the vanishing gradient ratio
is at most the kept one; overrides parse strings and keep whole numbers whole. Each error
names the key and the value (the messages are what a user reads, so they are compared whole).
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from sweepdoctor.diagnostics import Thresholds
from sweepdoctor.errors import ConfigError

FRACTIONS = ("steady_down_fraction", "pattern_min_precision", "pattern_min_coverage", "large_vs_first_epoch",
             "bounce_up_fraction", "pattern_min_lift", "grad_vs_reference", "no_progress", "error_confidence")


def _error(**values: object) -> str:
    with pytest.raises(ConfigError) as e:
        Thresholds(**values)  # type: ignore[arg-type]
    return str(e.value)


@pytest.mark.parametrize("value", [True, "0.3", None, math.nan, math.inf, -math.inf])
def test_a_threshold_must_be_a_finite_number(value: object) -> None:
    assert _error(overfit_val_rise=value) == f"thresholds: overfit_val_rise must be a finite number, got {value!r}"


@pytest.mark.parametrize("value", [0, 0.0, -1e-9, -3])
def test_a_threshold_must_be_positive(value: float) -> None:
    assert _error(mismatch_ratio=value) == f"thresholds: mismatch_ratio must be > 0, got {value!r}"


def test_the_smallest_positive_values_pass() -> None:
    t = Thresholds(mismatch_ratio=1e-9, tail_min_epochs=1)
    assert t.mismatch_ratio == 1e-9 and t.tail_min_epochs == 1


@pytest.mark.parametrize("name", FRACTIONS)
def test_fractions_are_at_most_one(name: str) -> None:
    assert getattr(Thresholds.from_mapping({name: 1.0}), name) == 1.0  # exactly 1 passes
    assert _error(**{name: 1.01}) == f"thresholds: {name} must be <= 1, got 1.01"


def test_other_thresholds_may_exceed_one() -> None:
    assert Thresholds(grad_kept_ratio=1.5, overfit_val_rise=2.0, mismatch_min_gap=5.0).grad_kept_ratio == 1.5


def test_the_vanishing_ratio_is_at_most_the_kept_one() -> None:
    assert Thresholds(grad_vanished_ratio=0.5, grad_kept_ratio=0.5).grad_vanished_ratio == 0.5
    assert _error(grad_vanished_ratio=0.51, grad_kept_ratio=0.5) == (
        "thresholds: grad_vanished_ratio must be <= grad_kept_ratio, got grad_vanished_ratio=0.51, "
        "grad_kept_ratio=0.5")


def test_overrides_parse_strings_and_keep_whole_numbers_whole() -> None:
    t = Thresholds.from_mapping({"overfit_val_rise": "0.35", "tail_min_epochs": "4.0", "confident_epochs": 7})
    assert t.overfit_val_rise == 0.35 and type(t.overfit_val_rise) is float
    assert t.tail_min_epochs == 4 and type(t.tail_min_epochs) is int
    assert t.confident_epochs == 7 and type(t.confident_epochs) is int
    assert type(Thresholds.from_mapping({"mismatch_ratio": 3}).mismatch_ratio) is float
    assert t.mismatch_ratio == Thresholds().mismatch_ratio  # the rest stays
    assert Thresholds.from_mapping({"mismatch_ratio": 3}, base=t).overfit_val_rise == 0.35


@pytest.mark.parametrize(("values", "message"), [
    ({"tail_min_epochs": 2.5}, "thresholds: tail_min_epochs must be a whole number, got 2.5"),
    ({"tail_min_epochs": "2.5"}, "thresholds: tail_min_epochs must be a whole number, got '2.5'"),
    ({"overfit_val_rise": True}, "thresholds: overfit_val_rise must be a number, got True"),
    ({"overfit_val_rise": None}, "thresholds: overfit_val_rise must be a number, got None"),
    ({"overfit_val_rise": "lots"}, "thresholds: overfit_val_rise must be a number, got 'lots'"),
    ({"mismatch_ratio": "-1"}, "thresholds: mismatch_ratio must be > 0, got -1.0"),
])
def test_bad_overrides_name_the_key_and_the_value(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        Thresholds.from_mapping(values)
    assert str(e.value) == message


def test_an_unknown_key_lists_the_valid_ones_sorted() -> None:
    with pytest.raises(ConfigError) as e:
        Thresholds.from_mapping({"overfit_val_rise": 0.3, "nope": 1})
    names = sorted(f.name for f in dataclasses.fields(Thresholds))
    assert str(e.value) == f"thresholds: unknown key 'nope'; valid keys: {', '.join(names)}"


def test_as_dict_holds_every_threshold() -> None:
    d = Thresholds(overfit_val_rise=0.3).as_dict()
    assert d == {f.name: getattr(Thresholds(overfit_val_rise=0.3), f.name) for f in dataclasses.fields(Thresholds)}
    assert d["overfit_val_rise"] == 0.3 and d["tail_min_epochs"] == 3 and len(d) == 29
