"""A sweep worker with a user model, for the fault tests: ``python -m tests.sweep._worker_script URL STUDY N EPOCHS``.

With ``SWEEPDOCTOR_TEST_HANG=<file>`` in its environment the worker writes its pid to
that file when its first trial builds its model, then sleeps there (mid-trial, heartbeat
still beating) until the test kills it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

from sweepdoctor.sweep import SearchSpace, StudyConfig, SweepConfig, TrainConfig, TrialParams, load_builtin, run
from sweepdoctor.sweep.config import Choice, Fixed, FloatRange

_built = [0]


def model(hp: TrialParams, n_in: int, n_out: int) -> torch.nn.Module:
    _built[0] += 1
    hang = os.environ.get("SWEEPDOCTOR_TEST_HANG")
    if hang and _built[0] > 1:  # the first model is the check before the first trial: hang in a trial
        Path(hang).write_text(str(os.getpid()))
        time.sleep(600)
    return torch.nn.Sequential(torch.nn.Linear(n_in, 8), torch.nn.Tanh(), torch.nn.Linear(8, n_out))


def main(argv: list[str]) -> None:
    url, study, trials, epochs = argv[0], argv[1], int(argv[2]), int(argv[3])
    space = SearchSpace(
        lr=FloatRange(1e-3, 3e-2, log=True), batch_size=Choice((16, 32)), optimizer=Choice(("adam", "momentum")),
        schedule=Fixed("constant"), weight_decay=Fixed(0.0), dropout=Fixed(0.0), patience=Fixed(0),
        depth=Fixed(1), width=Fixed(8),
    )
    cfg = SweepConfig(
        train=TrainConfig(folds=2, epochs=epochs, baselines=False, threads=1),
        study=StudyConfig(name=study, storage=url, trials=trials, pruner="none"),
        space=space,
    )
    result = run(cfg, load_builtin("iris"), model_fn=model)
    print(f"done {result.n_complete} {result.n_pruned} {result.n_failed} interrupted={result.interrupted}")


if __name__ == "__main__":
    main(sys.argv[1:])
