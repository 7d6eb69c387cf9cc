"""A finding's confidence weighs how many folds agree.

Every scenario has all its folds showing the problem, so a confidence that ignored
the folds would pass them all. Here the overfitting scenario's run (a 128x128 MLP on
60 rows, 150 epochs: every fold's validation loss rises) is set beside the same run
with its second fold replaced by a real fold of a regularized linear model trained on
the same split, which does not overfit. One fold of two agrees: the confidence must
fall at least in that proportion, since the remaining evidence (the rise of the mean
validation curve) is weaker too.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sklearn.datasets import make_classification

from sweepdoctor.diagnostics import FindingCode, Report, diagnose
from tests.diagnostics import scenarios
from tests.diagnostics._training import Config, history, train_run
from tests.diagnostics.conftest import Lazy

REGULARIZED = Config(depth=0, optimizer="adam", lr=1e-2, weight_decay=0.1, epochs=150)


@pytest.fixture(scope="module")
def report(problems: Lazy[str, tuple[scenarios.Scenario, Report]]) -> Report:
    s, _ = problems["overfitting"]
    h = s.history
    every = next(r for r in h.runs if r.name == s.run)
    data = scenarios._cls(*make_classification(120, 20, n_informative=5, flip_y=0.1, random_state=0))
    calm, _ = train_run("calm", data, REGULARIZED, loss="cross_entropy", seed=0)  # the same folds (seed 0)
    some = replace(every, name="some", folds=(every.folds[0], calm.folds[1]))
    return diagnose(history(data, h.loss, [replace(every, name="every"), some, calm, *h.baselines]))


def _overfitting(report: Report, run: str) -> tuple[float, int, float]:
    (f,) = [f for f in report.for_run(run) if f.code is FindingCode.OVERFITTING]
    return f.confidence, int(f.evidence["folds_agree"]), float(f.evidence["val_rise"])


def test_the_substituted_fold_is_a_real_fold_that_does_not_overfit(report: Report) -> None:
    assert FindingCode.OVERFITTING not in {f.code for f in report.for_run("calm")}


def test_fewer_agreeing_folds_give_proportionally_lower_confidence(report: Report) -> None:
    conf_every, agree_every, rise_every = _overfitting(report, "every")
    conf_some, agree_some, rise_some = _overfitting(report, "some")
    assert (agree_every, agree_some) == (2, 1)
    assert rise_some <= rise_every  # the rest of the evidence is no stronger with one fold calm
    assert conf_some < conf_every
    assert conf_some <= conf_every * agree_some / agree_every + 0.01, (conf_some, conf_every)
