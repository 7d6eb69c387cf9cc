"""A small study built the way the sweep builds one: plain Optuna trials + our sd_* rows.

Trials (minimize validation loss; accuracy is the score):

    number  optimizer  lr      batch_size  state     value
    0       adam       1e-3    32          complete  0.30
    1       adam       1e-2    64          complete  0.25   <- best
    2       sgd        1e-1    32          complete  0.50
    3       sgd        1e-3    16          complete  0.90
    4       rmsprop    3e-3    64          complete  0.40
    5       adam       3e-4    16          pruned    -
    6       sgd        3e-1    32          fail      -

Findings: overfitting on trials 1 and 4, divergence on 6, one study-level finding.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from sweepdoctor.diagnostics import (
    EpochRecord,
    Finding,
    FindingCode,
    FoldHistory,
    Role,
    RunHistory,
    Severity,
    Task,
)
from sweepdoctor.studies import Store

OPTIMIZERS = ("sgd", "adam", "rmsprop")
DISTS = {
    "optimizer": CategoricalDistribution(OPTIMIZERS),
    "lr": FloatDistribution(1e-4, 1.0, log=True),
    "batch_size": CategoricalDistribution((16, 32, 64)),
}
TRIALS = [
    ("adam", 1e-3, 32, TrialState.COMPLETE, 0.30),
    ("adam", 1e-2, 64, TrialState.COMPLETE, 0.25),
    ("sgd", 1e-1, 32, TrialState.COMPLETE, 0.50),
    ("sgd", 1e-3, 16, TrialState.COMPLETE, 0.90),
    ("rmsprop", 3e-3, 64, TrialState.COMPLETE, 0.40),
    ("adam", 3e-4, 16, TrialState.PRUNED, None),
    ("sgd", 3e-1, 32, TrialState.FAIL, None),
]
N_FOLDS, N_EPOCHS = 3, 5
EVIL = "'; DROP TABLE trials; --"


@contextmanager
def _opened(url: str) -> Iterator[optuna.storages.RDBStorage]:
    storage = optuna.storages.RDBStorage(url)
    try:
        yield storage
    finally:
        storage.remove_session()
        storage.engine.dispose()


def plain_study(url: str, name: str, *, storage: optuna.storages.RDBStorage | None = None) -> list[FrozenTrial]:
    """The trials above, written by plain Optuna only (no sd_* rows); returns them."""
    if storage is None:
        with _opened(url) as storage:
            return plain_study(url, name, storage=storage)
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize")
    study.set_user_attr("task", "classification")
    study.set_user_attr("metric", "accuracy")
    for i, (opt, lr, bs, state, value) in enumerate(TRIALS):
        attrs: dict[str, object] = {}
        if state is TrialState.COMPLETE:
            scores = [1 - value + d for d in (-0.02, 0.0, 0.02 * (i + 1))]
            attrs = {f"split{k}_score": s for k, s in enumerate(scores)}
            attrs["mean_score"] = sum(scores) / len(scores)
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=value,
                params={"optimizer": opt, "lr": lr, "batch_size": bs},
                distributions=DISTS,
                user_attrs=attrs,
                intermediate_values={0: 1.0, 1: 0.8} if state is TrialState.PRUNED else None,
            )
        )
    return study.get_trials(deepcopy=False)


def evil_study(url: str, name: str, *, storage: optuna.storages.RDBStorage | None = None) -> None:
    """Three trials of a categorical parameter ``note`` whose second choice is SQL text."""
    if storage is None:
        with _opened(url) as storage:
            return evil_study(url, name, storage=storage)
    study = optuna.create_study(study_name=name, storage=storage)
    dists = {"note": CategoricalDistribution(("plain", EVIL)), "x": FloatDistribution(0, 1)}
    for i, note in enumerate(("plain", EVIL, "plain")):
        study.add_trial(
            optuna.trial.create_trial(value=float(i), params={"note": note, "x": i / 4}, distributions=dists)
        )
    return None


def build_all(url: str) -> None:
    """digits-mlp (full), plain, doomed (full, for the delete test) and evil in one database."""
    with _fast_sqlite(url) as fast:
        with _opened(fast) as storage:
            full_study(fast, "digits-mlp", storage=storage)
            plain_study(fast, "plain", storage=storage)
            full_study(fast, "doomed", storage=storage)
            evil_study(fast, "evil", storage=storage)


def build_plain(url: str) -> None:
    """Only the plain Optuna study (no sd_* tables at all)."""
    with _fast_sqlite(url) as fast:
        plain_study(fast, "plain")


@contextmanager
def _fast_sqlite(url: str) -> Iterator[str]:
    """For a SQLite file, build in memory-backed /dev/shm (no fsync per commit), then copy it in place."""
    prefix = "sqlite:///"
    shm = Path("/dev/shm")
    if not url.startswith(prefix) or not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield url
        return
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        fast = Path(tmp) / "build.db"
        yield f"{prefix}{fast}"
        shutil.copy(fast, url[len(prefix):])


def _run(number: int, value: float | None, state: str, *, diverge: bool = False) -> RunHistory:
    base = 1.0 if value is None else value
    folds = []
    for f in range(N_FOLDS):
        epochs = []
        for e in range(N_EPOCHS):
            train = base * (1.5 - 0.2 * e) + 0.01 * f
            val = base * (1.4 - 0.1 * e) + 0.02 * f
            if diverge:
                train, val = 10.0 ** e, float("nan") if e == N_EPOCHS - 1 else 10.0 ** (e + 1)
            epochs.append(EpochRecord(epoch=e, train_loss=train, val_loss=val, grad_norm=1.0, lr=1e-3))
        folds.append(FoldHistory(epochs=tuple(epochs)))
    opt, lr, bs, _, _ = TRIALS[number] if number >= 0 else ("-", 0.0, 0, None, None)
    return RunHistory(
        name=f"trial-{number}" if number >= 0 else "linear",
        role=Role.CANDIDATE if number >= 0 else Role.BASELINE,
        folds=tuple(folds),
        depth=2 if number >= 0 else 0,
        n_params=1000 * (number + 1) if number >= 0 else 650,
        hyperparameters={"optimizer": opt, "lr": lr, "batch_size": bs},
        state=state,
    )


def full_study(url: str, name: str, *, storage: optuna.storages.RDBStorage | None = None) -> None:
    """The plain study plus what the sweep and diagnose store: runs, curves, folds, findings."""
    if storage is None:
        with _opened(url) as storage:
            return full_study(url, name, storage=storage)
    trials = plain_study(url, name, storage=storage)
    store = Store(url)
    try:
        sid = store.study_id(name)
        run_ids: dict[str, int] = {}
        for t in trials:
            value = TRIALS[t.number][4]
            run = _run(t.number, value, t.state.name.lower(), diverge=t.state is TrialState.FAIL)
            run_ids[run.name] = store.add_run(
                study_id=sid,
                run=run,
                task=Task.CLASSIFICATION,
                loss="cross_entropy",
                trial_id=t._trial_id,
                trial_number=t.number,
                fold_scores=[t.user_attrs.get(f"split{k}_score") for k in range(N_FOLDS)],
                fail_reason="diverged" if t.state is TrialState.FAIL else None,
            )
        baseline = _run(-1, 0.6, "complete")
        run_ids[baseline.name] = store.add_run(
            study_id=sid, run=baseline, task=Task.CLASSIFICATION, loss="cross_entropy"
        )
        findings = [
            _finding(FindingCode.OVERFITTING, "trial-1"),
            _finding(FindingCode.OVERFITTING, "trial-4"),
            _finding(FindingCode.DIVERGENCE, "trial-6"),
            _finding(FindingCode.SLOW_CONVERGENCE, None),
        ]
        store.replace_findings(study_id=sid, findings=findings, run_ids=run_ids)
    finally:
        store.engine.dispose()
    return None


def _finding(code: FindingCode, run: str | None) -> Finding:
    return Finding(
        code=code,
        severity=Severity.WARNING,
        rule=f"RULES.md#{code.value}",
        summary=f"{code.value} on {run or 'the study'}",
        advice="see RULES.md",
        evidence={"gap": 0.1},
        run=run,
    )
