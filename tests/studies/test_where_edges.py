"""Edges of the ``--where`` / ``--sort`` grammar that mutation testing found untested.

Each test kills mutants of ``studies/query/_where.py`` that survived ``tests/studies/
test_where.py``: the quotes an empty value is written with, operators doubled after
``<`` or ``!``, names that start with a letter ``X``, non-numeric text against numeric
choices, and how choices and the expected kind of value are named in messages.
"""

from __future__ import annotations

import pytest

from sweepdoctor.errors import ConfigError
from sweepdoctor.studies import Condition, Op, parse_sort, parse_where
from sweepdoctor.studies.query._where import choice_indices, numeric_value


@pytest.mark.parametrize("text", ["optimizer=''", 'optimizer=""'])
def test_an_empty_quoted_value_is_no_value(text: str) -> None:
    with pytest.raises(ConfigError, match="no value"):
        parse_where(text)


def test_only_quotes_are_taken_off() -> None:
    assert parse_where("name=XadamX") == Condition("name", Op.EQ, "XadamX")
    assert parse_where("name='a'") == Condition("name", Op.EQ, "a")
    assert parse_where("name='") == Condition("name", Op.EQ, "'")  # one quote is the value itself


@pytest.mark.parametrize("text", ["lr<<3", "lr=!3", "lr>>3", "lr!=!3"])
def test_a_doubled_operator_is_unknown(text: str) -> None:
    with pytest.raises(ConfigError, match="unknown operator"):
        parse_where(text)


def test_sort_keeps_the_name_after_the_minus() -> None:
    assert parse_sort("Xlr") == ("Xlr", False)
    assert parse_sort("-X-rate") == ("X-rate", True)


def test_text_is_no_numeric_choice() -> None:
    with pytest.raises(ConfigError, match="'fast' is not a choice of 'batch_size'; choices: 16, 32"):
        choice_indices(parse_where("batch_size=fast"), (16, 32))


def test_choices_are_named_as_written() -> None:
    with pytest.raises(ConfigError, match="choices: none, true, false, relu$"):
        choice_indices(parse_where("act=tanh"), (None, True, False, "relu"))
    assert choice_indices(parse_where("flag=false"), (True, False)) == [1]
    assert choice_indices(parse_where("flag=FALSE"), (True, False)) == [1]


def test_the_message_names_the_kind_of_value() -> None:
    with pytest.raises(ConfigError, match="'number' takes an integer, got 'x'"):
        numeric_value(parse_where("number=x"), integer=True)
    with pytest.raises(ConfigError, match="'lr' takes a number, got 'x'"):
        numeric_value(parse_where("lr=x"))
