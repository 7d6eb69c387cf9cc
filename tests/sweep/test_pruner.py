"""WarmupMedianPruner: MedianPruner's verdicts, reading the study once per trial."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweepdoctor.sweep.search._pruners import WarmupMedianPruner


def _study() -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for i in range(7):  # complete trials with curves rising at different rates
        curve = {step: 0.5 + 0.05 * step * (1 + i / 3) for step in range(10)}
        study.add_trial(create_trial(value=curve[9], intermediate_values=curve))
    return study


def _running(number: int, values: dict[int, float]) -> FrozenTrial:
    t = create_trial(state=TrialState.RUNNING, intermediate_values=values)
    t.number = number
    return t


@pytest.mark.parametrize("rate", [0.5, 1.0, 2.5, 4.0])
def test_verdicts_are_median_pruners(rate: float) -> None:
    study = _study()
    ours = WarmupMedianPruner(n_startup_trials=5, n_warmup_steps=3)
    optunas = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3)
    values: dict[int, float] = {}
    verdicts = []
    for step in range(10):
        values[step] = 0.5 + 0.05 * step * rate
        trial = _running(100, dict(values))
        assert ours.prune(study, trial) == optunas.prune(study, trial), step
        verdicts.append(ours.prune(study, trial))
    assert any(verdicts) == (rate < 2)  # slow curves are pruned, fast ones kept


def test_the_study_is_read_once_per_trial_and_not_in_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    study = _study()
    reads = 0
    real = study.get_trials

    def counting(*args: object, **kwargs: object) -> list[FrozenTrial]:
        nonlocal reads
        reads += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(study, "get_trials", counting)
    pruner = WarmupMedianPruner(n_startup_trials=5, n_warmup_steps=3)
    for number in (100, 101):
        values: dict[int, float] = {}
        for step in range(10):
            values[step] = 0.9
            pruner.prune(study, _running(number, dict(values)))
    assert reads == 2


def test_a_trial_completed_meanwhile_counts_from_the_next_trial_on() -> None:
    study = optuna.create_study(direction="maximize")
    for _ in range(5):
        study.add_trial(create_trial(value=0.5, intermediate_values={s: 0.5 for s in range(5)}))
    pruner = WarmupMedianPruner(n_startup_trials=5, n_warmup_steps=1)
    assert not pruner.prune(study, _running(50, {0: 0.6, 1: 0.6}))
    for _ in range(6):  # the median at step 2 rises to 0.9
        study.add_trial(create_trial(value=0.9, intermediate_values={s: 0.9 for s in range(5)}))
    assert not pruner.prune(study, _running(50, {0: 0.6, 1: 0.6, 2: 0.6}))  # still compared with the first five
    assert pruner.prune(study, _running(51, {0: 0.6, 1: 0.6, 2: 0.6}))  # a new trial sees them
