"""The small grammar of ``--where`` and ``--sort``, and how a value is read against a parameter.

A condition is ``NAME OP VALUE`` with ``OP`` one of ``= != < <= > >=``; the value may
be quoted (``optimizer='adam'``). Nothing here builds SQL: the query layer binds what
these functions return (numbers, or indices into a categorical parameter's choices) as
parameters.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, NamedTuple

from sweepdoctor.errors import ConfigError

__all__ = ["Condition", "Op", "SortKey", "choice_indices", "numeric_value", "parse_sort", "parse_where"]


class Op(str, Enum):
    """A comparison operator of the grammar."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="

    def compare(self, a: Any, b: Any) -> Any:
        """``a OP b``: a bool for Python values, a bound SQL expression for a column."""
        return _OPERATORS[self](a, b)

    def apply(self, a: Any, b: Any) -> bool:
        """``a OP b`` in Python (used to pick categorical choices)."""
        return bool(self.compare(a, b))


_OPERATORS: dict[Op, Callable[[Any, Any], Any]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
}

# The name is anything up to the first operator character (Optuna allows spaces in names).
_WHERE_RE = re.compile(r"^\s*(?P<name>[^<>=!]*?)\s*(?P<op><=|>=|!=|=|<|>)\s*(?P<value>.*?)\s*$", re.DOTALL)
_OPS_TEXT = " ".join(op.value for op in Op)


class Condition(NamedTuple):
    """One parsed ``--where`` condition; ``value`` is the text with one level of quotes removed."""

    name: str
    op: Op
    value: str

    def __str__(self) -> str:
        return f"{self.name}{self.op.value}{self.value}"


class SortKey(NamedTuple):
    """A ``--sort`` key: a name, descending when written with a leading ``-``."""

    name: str
    descending: bool


def parse_where(text: str) -> Condition:
    """Parse ``NAME OP VALUE``; a malformed expression is a one-line :class:`ConfigError`."""
    m = _WHERE_RE.match(text)
    if m is None:
        raise ConfigError(
            f"--where: {text!r} is not NAME OP VALUE with OP one of {_OPS_TEXT} (e.g. optimizer=adam, lr>=1e-3)"
        )
    name, value = m.group("name"), _unquote(m.group("value"))
    if not name:
        raise ConfigError(f"--where: {text!r} has no name before {m.group('op')!r} (e.g. lr>=1e-3)")
    if not value:
        raise ConfigError(f"--where: {text!r} has no value after {m.group('op')!r} (e.g. lr>=1e-3)")
    if m.group("value").startswith(("=", "<", ">", "!")):
        raise ConfigError(f"--where: {text!r} has an unknown operator; use one of {_OPS_TEXT}")
    return Condition(name=name, op=Op(m.group("op")), value=value)


def parse_sort(text: str) -> SortKey:
    """Parse ``NAME`` or ``-NAME`` (descending)."""
    name = text.strip()
    descending = name.startswith("-")
    name = name.lstrip("-").strip()
    if not name:
        raise ConfigError(f"--sort: {text!r} names nothing (e.g. value, -value, number, lr)")
    return SortKey(name=name, descending=descending)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def numeric_value(cond: Condition, *, integer: bool = False) -> float:
    """The condition's value as a finite number (an integer when ``integer``)."""
    try:
        number = float(cond.value)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"--where {cond}: {cond.name!r} takes {kind}, got {cond.value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"--where {cond}: the value must be a finite number, got {cond.value!r}")
    if integer and not number.is_integer():
        raise ConfigError(f"--where {cond}: {cond.name!r} takes an integer, got {cond.value!r}")
    return number


def choice_indices(cond: Condition, choices: Sequence[Any]) -> list[int]:
    """Indices of the categorical choices that satisfy the condition.

    ``=`` and ``!=`` compare with the choice as written (``adam``, ``32``, ``true``,
    ``none``); ``< <= > >=`` need numeric choices. A value that is none of the choices
    is an error naming them (a typo would otherwise silently match nothing).
    """
    shown = ", ".join(_choice_text(c) for c in choices)
    if cond.op in (Op.EQ, Op.NE):
        same = [i for i, c in enumerate(choices) if _same_choice(c, cond.value)]
        if not same:
            raise ConfigError(f"--where {cond}: {cond.value!r} is not a choice of {cond.name!r}; choices: {shown}")
        return same if cond.op is Op.EQ else [i for i in range(len(choices)) if i not in same]
    if not all(_is_number(c) for c in choices):
        raise ConfigError(
            f"--where {cond}: {cond.name!r} has non-numeric choices ({shown}); use = or != with one of them"
        )
    target = numeric_value(cond)
    return [i for i, c in enumerate(choices) if cond.op.apply(float(c), target)]


def _is_number(c: Any) -> bool:
    return isinstance(c, (int, float)) and not isinstance(c, bool)


def _choice_text(c: Any) -> str:
    if c is None:
        return "none"
    if isinstance(c, bool):
        return "true" if c else "false"
    return str(c)


def _same_choice(choice: Any, text: str) -> bool:
    if isinstance(choice, str):
        return choice == text
    if _choice_text(choice).lower() == text.lower():
        return True
    if _is_number(choice):
        try:
            return float(choice) == float(text)
        except ValueError:
            return False
    return False
