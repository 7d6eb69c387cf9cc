"""The ``--where`` / ``--sort`` grammar and how values are read against choices (pure)."""

from __future__ import annotations

import pytest

from sweepdoctor.errors import ConfigError, SweepdoctorError
from sweepdoctor.studies import Condition, Op, parse_sort, parse_where
from sweepdoctor.studies.query._where import choice_indices, numeric_value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("optimizer=adam", Condition("optimizer", Op.EQ, "adam")),
        ("lr>=1e-3", Condition("lr", Op.GE, "1e-3")),
        ("  lr <= 0.1 ", Condition("lr", Op.LE, "0.1")),
        ("batch_size!=32", Condition("batch_size", Op.NE, "32")),
        ("value<0.5", Condition("value", Op.LT, "0.5")),
        ("number>3", Condition("number", Op.GT, "3")),
        ("optimizer='adam'", Condition("optimizer", Op.EQ, "adam")),
        ('optimizer="adam"', Condition("optimizer", Op.EQ, "adam")),
        ("n units l0=64", Condition("n units l0", Op.EQ, "64")),
        ("optimizer='; DROP TABLE trials; --", Condition("optimizer", Op.EQ, "'; DROP TABLE trials; --")),
    ],
)
def test_parse_where(text: str, expected: Condition) -> None:
    assert parse_where(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("optimizer", "NAME OP VALUE"),
        ("=adam", "no name"),
        ("lr>=", "no value"),
        ("lr=>3", "unknown operator"),
        ("lr==3", "unknown operator"),
    ],
)
def test_parse_where_errors_are_one_line(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as e:
        parse_where(text)
    assert isinstance(e.value, SweepdoctorError) and "\n" not in str(e.value)


def test_parse_sort() -> None:
    assert parse_sort("value") == ("value", False)
    assert parse_sort("-lr") == ("lr", True)
    with pytest.raises(ConfigError, match="names nothing"):
        parse_sort("-")


def test_choice_indices_by_text_and_number() -> None:
    assert choice_indices(parse_where("optimizer=adam"), ("sgd", "adam", "rmsprop")) == [1]
    assert choice_indices(parse_where("optimizer!=adam"), ("sgd", "adam", "rmsprop")) == [0, 2]
    assert choice_indices(parse_where("batch_size=32"), (16, 32, 64)) == [1]
    assert choice_indices(parse_where("batch_size=32.0"), (16, 32, 64)) == [1]
    assert choice_indices(parse_where("batch_size>=32"), (16, 32, 64)) == [1, 2]
    assert choice_indices(parse_where("batch_size>100"), (16, 32, 64)) == []
    assert choice_indices(parse_where("flag=true"), (True, False)) == [0]
    assert choice_indices(parse_where("act=none"), (None, "relu")) == [0]


def test_choice_typo_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="choices: sgd, adam") as e:
        choice_indices(parse_where("optimizer=adamm"), ("sgd", "adam"))
    assert "'adamm'" in str(e.value)


def test_ordering_needs_numeric_choices() -> None:
    with pytest.raises(ConfigError, match="non-numeric choices"):
        choice_indices(parse_where("optimizer>adam"), ("sgd", "adam"))


def test_numeric_value() -> None:
    assert numeric_value(parse_where("lr>=1e-3")) == 1e-3
    with pytest.raises(ConfigError, match="takes a number"):
        numeric_value(parse_where("lr>=fast"))
    with pytest.raises(ConfigError, match="finite"):
        numeric_value(parse_where("lr>=inf"))
    with pytest.raises(ConfigError, match="integer"):
        numeric_value(parse_where("number=1.5"), integer=True)
