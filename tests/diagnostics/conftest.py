"""Scenario runs are trained once per session (lazily) and shared by the tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import pytest
import torch

from sweepdoctor.diagnostics import History, Report, diagnose
from tests.diagnostics import scenarios

K = TypeVar("K")
V = TypeVar("V")


class Lazy(Generic[K, V]):
    """A dict that computes each value on first access."""

    def __init__(self, make: Callable[[K], V]) -> None:
        self._make = make
        self._done: dict[K, V] = {}

    def __getitem__(self, key: K) -> V:
        if key not in self._done:
            self._done[key] = self._make(key)
        return self._done[key]


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> Iterator[None]:
    """Two shared cores: more torch threads than that only oversubscribe."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def problems() -> Lazy[str, tuple[scenarios.Scenario, Report]]:
    def make(name: str) -> tuple[scenarios.Scenario, Report]:
        s = scenarios.PROBLEMS[name](0)
        return s, diagnose(s.history)

    return Lazy(make)


@pytest.fixture(scope="session")
def healthy_runs() -> Lazy[str, tuple[History, Report]]:
    def make(name: str) -> tuple[History, Report]:
        h = scenarios.healthy(name)
        return h, diagnose(h)

    return Lazy(make)
