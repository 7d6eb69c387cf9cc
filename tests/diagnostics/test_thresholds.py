"""Thresholds: named, validated, overridable from a config mapping."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from sweepdoctor.diagnostics import FindingCode, Thresholds, diagnose
from sweepdoctor.diagnostics import _thresholds as module
from sweepdoctor.errors import ConfigError
from tests.diagnostics.test_scenarios import Problems


def test_every_threshold_has_a_comment_saying_why() -> None:
    """Each field, or the group of consecutive fields it belongs to, sits under a comment."""
    source = [line.strip() for line in inspect.getsource(module.Thresholds).splitlines()]
    names = {f.name for f in dataclasses.fields(Thresholds)}
    for f in dataclasses.fields(Thresholds):
        i = next(i for i, text in enumerate(source) if text.startswith(f"{f.name}:"))
        while source[i - 1].split(":")[0] in names:
            i -= 1
        assert source[i - 1].startswith("#") and len(source[i - 1]) > 20, f.name


def test_from_mapping_overrides_and_parses_strings() -> None:
    t = Thresholds.from_mapping({"overfit_val_rise": "0.35", "tail_min_epochs": 4})
    assert t.overfit_val_rise == 0.35 and t.tail_min_epochs == 4
    assert Thresholds.from_mapping({}) == Thresholds()
    assert Thresholds.from_mapping({"mismatch_ratio": 3}, base=t).overfit_val_rise == 0.35


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"overfit_rise": 0.3}, "unknown key 'overfit_rise'"),
        ({"overfit_val_rise": "lots"}, "overfit_val_rise must be a number, got 'lots'"),
        ({"overfit_val_rise": True}, "overfit_val_rise must be a number"),
        ({"tail_min_epochs": 2.5}, "tail_min_epochs must be a whole number"),
        ({"mismatch_ratio": -1}, "mismatch_ratio must be > 0, got -1"),
        ({"mismatch_ratio": float("nan")}, "mismatch_ratio must be a finite number"),
        ({"steady_down_fraction": 1.5}, "steady_down_fraction must be <= 1"),
        ({"grad_vanished_ratio": 0.9}, "grad_vanished_ratio must be <= grad_kept_ratio"),
    ],
)
def test_bad_values_name_the_key(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Thresholds.from_mapping(values)


def test_unknown_key_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as e:
        Thresholds.from_mapping({"nope": 1})
    assert "overfit_val_rise" in str(e.value) and "\n" not in str(e.value)


def test_an_override_changes_the_verdict(problems: Problems) -> None:
    s, report = problems["overfitting"]
    assert FindingCode.OVERFITTING in {f.code for f in report.for_run(s.run)}
    lenient = Thresholds.from_mapping({"overfit_val_rise": 100, "overfit_vs_reference": 100})
    assert FindingCode.OVERFITTING not in {f.code for f in diagnose(s.history, thresholds=lenient).for_run(s.run)}
    assert diagnose(s.history, thresholds=lenient).thresholds.overfit_val_rise == 100
