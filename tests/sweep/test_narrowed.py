"""NarrowedSampler: draws stay inside a guided plan's space while Optuna's distributions never change."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from sweepdoctor.sweep import Choice, FloatRange, SearchSpace
from sweepdoctor.sweep.search._samplers import FALLBACK_ATTR, REDRAWS, NarrowedSampler, allows

CHOICES = ["sgd", "momentum", "adam"]
WIDE = SearchSpace(lr=FloatRange(1e-5, 1.0, log=True), optimizer=Choice(tuple(CHOICES)))


def _objective(trial: optuna.Trial) -> float:
    opt = trial.suggest_categorical("optimizer", CHOICES)
    lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)  # the same distribution in every trial
    return {"sgd": 1.0, "momentum": 0.5, "adam": 0.0}[opt] + lr  # TPE would favour sgd and large rates


def test_tpe_keeps_to_the_plan_and_still_learns_from_every_trial() -> None:
    """After narrowing (sgd dropped, Adam's rates windowed), no draw leaves the plan, although TPE
    favours exactly what was dropped; Optuna's distributions stay the study's."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = NarrowedSampler(optuna.samplers.TPESampler(seed=0, n_startup_trials=5), seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_objective, n_trials=12)
    assert {t.params["optimizer"] for t in study.trials} == set(CHOICES)  # not narrowed yet: all drawn
    plan = WIDE.with_lr_window(["adam"], FloatRange(1e-4, 1e-3, log=True))
    sampler.narrow(SearchSpace(lr=plan.lr, optimizer=Choice(("momentum", "adam")), optimizer_lr=plan.optimizer_lr))
    study.optimize(_objective, n_trials=30)
    later = study.trials[12:]
    assert {t.params["optimizer"] for t in later} == {"momentum", "adam"}
    assert all(1e-4 <= t.params["lr"] <= 1e-3 for t in later if t.params["optimizer"] == "adam")
    assert max(t.params["lr"] for t in later if t.params["optimizer"] == "momentum") > 1e-3  # not windowed
    assert all(t.distributions["optimizer"].choices == tuple(CHOICES) for t in study.trials)
    assert len({(t.distributions["lr"].low, t.distributions["lr"].high) for t in study.trials}) == 1


def test_without_narrowing_tpe_would_draw_what_the_plan_drops() -> None:
    """The control for the test above: the same study unwrapped keeps drawing sgd."""
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=5))
    study.optimize(_objective, n_trials=42)
    assert sum(t.params["optimizer"] == "sgd" for t in study.trials[12:]) >= 10


class _Stubborn(optuna.samplers.RandomSampler):
    """Always proposes the first choice and the top of a range: the wrapper must draw on its own."""

    calls = 0

    def sample_independent(self, study: Any, trial: Any, name: str, dist: Any) -> Any:
        type(self).calls += 1
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            return dist.choices[0]
        return dist.high


def test_a_sampler_that_keeps_proposing_outside_the_plan_is_overruled_reproducibly() -> None:
    picks = []
    for _ in range(2):
        sampler = NarrowedSampler(_Stubborn(seed=1), seed=3)
        sampler.narrow(SearchSpace(lr=FloatRange(1e-3, 1e-2, log=True), optimizer=Choice(("momentum", "adam"))))
        study = optuna.create_study(direction="maximize", sampler=sampler)
        _Stubborn.calls = 0
        study.optimize(_objective, n_trials=8)
        picks.append([(t.params["optimizer"], t.params["lr"]) for t in study.trials])
        assert _Stubborn.calls == 8 * 2 * REDRAWS
        # each of its own draws is recorded on the trial (bench_guided counts them)
        assert [sorted(t.system_attrs[FALLBACK_ATTR]) for t in study.trials] == [["lr", "optimizer"]] * 8
    assert picks[0] == picks[1]
    assert all(o in ("momentum", "adam") and 1e-3 <= lr <= 1e-2 for o, lr in picks[0])


class _RelativeStubborn(optuna.samplers.RandomSampler):
    """Proposes every parameter jointly (like multivariate TPE), always sgd at the top rate."""

    relative_calls = 0

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {"optimizer": optuna.distributions.CategoricalDistribution(CHOICES),
                "lr": optuna.distributions.FloatDistribution(1e-5, 1.0, log=True)}

    def sample_relative(self, study: Any, trial: Any, search_space: dict[str, Any]) -> dict[str, Any]:
        type(self).relative_calls += 1
        return {"optimizer": "sgd", "lr": 1.0}


def test_a_joint_proposal_outside_the_plan_is_refused_whole() -> None:
    sampler = NarrowedSampler(_RelativeStubborn(seed=0), seed=0)
    sampler.narrow(SearchSpace(lr=FloatRange(1e-5, 1.0, log=True), optimizer=Choice(("adam",))))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_objective, n_trials=5)
    assert _RelativeStubborn.relative_calls == 5 * REDRAWS
    assert {t.params["optimizer"] for t in study.trials} == {"adam"}
    assert not any(FALLBACK_ATTR in t.system_attrs for t in study.trials)  # the independent draws fit: none of its own
    sampler.narrow(None)  # no plan: the joint proposal goes through
    study.optimize(_objective, n_trials=2)
    assert [t.params["optimizer"] for t in study.trials[5:]] == ["sgd", "sgd"]


@pytest.mark.parametrize(("name", "value", "params", "ok"), [
    ("optimizer", "sgd", {}, False),
    ("optimizer", "adam", {}, True),
    ("lr", 0.05, {"optimizer": "adam"}, False),  # outside Adam's window
    ("lr", 0.05, {"optimizer": "momentum"}, True),
    ("use_weight_decay", True, {}, True),  # flags are not narrowed
])
def test_allows(name: str, value: Any, params: dict[str, Any], ok: bool) -> None:
    plan = SearchSpace(lr=FloatRange(1e-4, 0.3, log=True), optimizer=Choice(("momentum", "adam")))
    plan = plan.with_lr_window(["adam"], FloatRange(1e-4, 1e-2, log=True))
    assert allows(plan, name, value, params) is ok
