"""Value by trial at any size: every complete trial counted, the points thinned in the database.

:func:`value_series` reads the (number, value) of the study's complete trials in one
SELECT and makes one pass over them, whatever their number:

- the points: every trial up to ``max_points``; past that, the trials grouped into
  buckets of consecutive numbers, each drawn by its lowest and highest value (the
  extremes and the shape survive, a 100k-trial study travels as ~2000 points);
- the best so far: exactly the trials that improved on every earlier one, over all of
  them, so the line ends at the study's best.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from sweepdoctor.studies.db import o_trial_values, o_trials, trial_state
from sweepdoctor.studies.query._catalog import StudyRef

__all__ = ["MAX_POINTS", "ValueBucket", "ValueSeries", "value_series"]

MAX_POINTS = 2000  # past this many complete trials, buckets of consecutive trials (2 points each)


@dataclass(frozen=True)
class ValueBucket:
    """Complete trials numbered ``first``..``last`` (``n`` of them): their lowest and highest value."""

    first: int
    last: int
    n: int
    low: float
    high: float


@dataclass(frozen=True)
class ValueSeries:
    """A study's values by trial number, thinned for drawing, and its best so far.

    ``width`` is the trial numbers per bucket (1: each bucket is one trial, nothing thinned);
    ``best`` holds ``(number, value)`` of each trial that improved on all earlier ones.
    """

    study: str
    direction: str
    n_complete: int
    width: int
    buckets: tuple[ValueBucket, ...]
    best: tuple[tuple[int, float], ...]

    @property
    def thinned(self) -> bool:
        return self.width > 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "direction": self.direction,
            "n_complete": self.n_complete,
            "width": self.width,
            "buckets": [[b.first, b.last, b.n, b.low, b.high] for b in self.buckets],
            "best": [list(p) for p in self.best],
        }


def value_series(s: Session, ref: StudyRef, *, max_points: int = MAX_POINTS) -> ValueSeries:
    """The study's complete values by number: all of them up to ``max_points``, else bucketed.

    One SELECT of (number, value) over the study's complete trials, then one pass: a
    scan costs what an aggregate costs on SQLite, and it gives the exact best so far.
    """
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    t, v = o_trials, o_trial_values
    q = (
        select(t.c.number, v.c.value)
        .select_from(t.join(v, and_(v.c.trial_id == t.c.trial_id, v.c.objective == 0)))
        .where(t.c.study_id == ref.study_id, trial_state == "COMPLETE", v.c.value.is_not(None))
    )
    points: list[tuple[int, float]] = sorted(tuple(r) for r in s.execute(q).all())  # type: ignore[misc]
    direction = "maximize" if ref.maximize else "minimize"
    if not points:
        return ValueSeries(ref.name, direction, 0, 1, (), ())
    span = points[-1][0] - points[0][0] + 1
    width = 1 if len(points) <= max_points else -(-span // (max_points // 2))
    return ValueSeries(ref.name, direction, len(points), width, _buckets(points, width),
                       _improvements(points, maximize=ref.maximize))


def _buckets(points: list[tuple[int, float]], width: int) -> tuple[ValueBucket, ...]:
    """Consecutive numbers in groups of ``width`` (from the first number): count, lowest, highest."""
    origin = points[0][0]
    out = []
    for _k, group in groupby(points, key=lambda p: (p[0] - origin) // width):
        g = list(group)
        values = [x for _n, x in g]
        out.append(ValueBucket(int(g[0][0]), int(g[-1][0]), len(g), float(min(values)), float(max(values))))
    return tuple(out)


def _improvements(points: list[tuple[int, float]], *, maximize: bool) -> tuple[tuple[int, float], ...]:
    """The trials better than every earlier one, in number order."""
    out: list[tuple[int, float]] = []
    for number, value in points:
        if not out or (value > out[-1][1] if maximize else value < out[-1][1]):
            out.append((number, value))
    return tuple(out)
