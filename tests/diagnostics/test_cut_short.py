"""A curve cut short is judged as one: compared with the references at its own last epoch, and a
loss still falling fast is never "optimization failure" or "model bias" (issue 21, item 5)."""

from __future__ import annotations

import dataclasses
import functools

from sweepdoctor.diagnostics import FindingCode, History, RunHistory, diagnose
from sweepdoctor.diagnostics._evidence import gather
from sweepdoctor.diagnostics._thresholds import Thresholds
from tests.diagnostics._training import Config, baselines, history, train_run
from tests.diagnostics.scenarios import digits

# A 2 x 32 MLP with Adam at lr 1e-3 on digits: slow at first (2%, 3%, 4% per epoch), healthy at the end.
SLOW_START = Config(depth=2, width=32, optimizer="adam", lr=1e-3)
_FAILED = {FindingCode.OPTIMIZATION_FAILURE, FindingCode.MODEL_BIAS}


@functools.lru_cache(maxsize=None)
def _history(epochs: int) -> History:
    data = digits()
    run, _ = train_run("candidate", data, dataclasses.replace(SLOW_START, epochs=epochs), loss="cross_entropy")
    return history(data, "cross_entropy", [run, *baselines(data, loss="cross_entropy")])


def _codes(h: History) -> set[FindingCode]:
    return {f.code for f in diagnose(h).for_run("candidate")}


def _with_state(h: History, state: str | None) -> History:
    runs = tuple(dataclasses.replace(r, state=state) if r.name == "candidate" else r for r in h.runs)
    return dataclasses.replace(h, runs=runs)


def _candidate(h: History) -> RunHistory:
    return next(r for r in h.runs if r.name == "candidate")


def test_a_short_run_still_falling_is_not_a_failure_and_the_full_run_agrees() -> None:
    short, full = _history(4), _history(30)
    baseline_epochs = max(len(f.epochs) for r in short.baselines for f in r.folds)
    assert len(_candidate(short).folds[0].epochs) == 4 < baseline_epochs
    ev = gather(_candidate(short), short, Thresholds())
    assert ev.cut_short and ev.falling_fast
    # compared like with like: the references at epoch 4, never the converged linear fit
    assert ev.references and all(r.epoch == 3 for r in ev.references)
    for state in (None, "complete", "pruned", "running"):  # a --history file, a stopped or live trial
        assert not _codes(_with_state(short, state)) & _FAILED, state
    assert _codes(full) == {FindingCode.HEALTHY}  # trained to the end, it was fine


def test_without_the_rule_the_short_run_would_be_called_a_failure() -> None:
    """The same short curve judged as if finished (no references longer than it): a failure."""
    short = _history(4)
    cut = [dataclasses.replace(b, folds=tuple(dataclasses.replace(f, epochs=f.epochs[:4]) for f in b.folds))
           for b in short.baselines]
    finished = dataclasses.replace(short, runs=(_candidate(short), *cut))
    assert not gather(_candidate(finished), finished, Thresholds()).cut_short
    assert _codes(finished) & _FAILED


def test_a_short_run_that_stalled_is_still_a_failure() -> None:
    """Cut short is no excuse for a curve that stopped falling: ten sigmoid layers with plain SGD."""
    data = digits()
    cfg = Config(depth=10, width=16, activation="sigmoid", optimizer="sgd", lr=1e-2, epochs=6)
    run, _ = train_run("candidate", data, cfg, loss="cross_entropy")
    h = history(data, "cross_entropy", [run, *baselines(data, loss="cross_entropy")])
    ev = gather(_candidate(h), h, Thresholds())
    assert ev.cut_short and not ev.falling_fast
    assert FindingCode.OPTIMIZATION_FAILURE in _codes(h)
