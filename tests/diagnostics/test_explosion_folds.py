"""An explosion of the training loss weighs by the folds it happened in: every fold blowing up is an
error with high confidence; one fold of three is less sure (rules.md §4)."""

from __future__ import annotations

from sweepdoctor.diagnostics import (
    EpochRecord,
    FindingCode,
    FoldHistory,
    History,
    Role,
    RunHistory,
    Severity,
    Task,
    diagnose,
)


def _fold(losses: list[float]) -> FoldHistory:
    return FoldHistory(epochs=tuple(
        EpochRecord(epoch=i, train_loss=v, val_loss=v * 1.1, grad_norm=1.0, lr=5.0, val_metric=0.3)
        for i, v in enumerate(losses)))


def _divergence(run: RunHistory):  # noqa: ANN202
    report = diagnose(History(task=Task.CLASSIFICATION, loss="cross_entropy", runs=(run,)))
    return next(f for f in report.runs[0].findings if f.code is FindingCode.DIVERGENCE)


def test_an_explosion_in_every_fold_is_surer_than_in_one() -> None:
    every = RunHistory(name="trial-0", role=Role.CANDIDATE, hyperparameters={"lr": 5.0},
                       folds=(_fold([1.2e6, 9e5]), _fold([5.8e5, 4e5]), _fold([2.8e5, 2e5])))
    one = RunHistory(name="trial-1", role=Role.CANDIDATE, hyperparameters={"lr": 5.0},
                     folds=(_fold([1.2e6, 9e5]), _fold([1.0, 0.9]), _fold([1.1, 0.95])))
    a, b = _divergence(every), _divergence(one)
    assert a.severity is Severity.ERROR and a.confidence > b.confidence
    assert a.confidence >= 0.6
