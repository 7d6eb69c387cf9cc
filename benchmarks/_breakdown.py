"""One run of the default ``sweepdoctor sweep`` command with timers around its parts (for bench_command).

``python -m benchmarks._breakdown --dataset digits --trials 30 --folds 5 --epochs 20 --storage URL``
runs the command in this process (its JSON output discarded) and prints one JSON line:
seconds per part, measured in wall time on the sweep's main process; what runs on the
measuring helper (the baselines' MLPs, the epochs' measurements) shows only where the
main process waits for it. The caller adds interpreter start-up and exit.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

T_START = time.perf_counter()
SPENT: dict[str, float] = defaultdict(float)


def timer(owner: Any, name: str, label: str) -> None:
    """Wrap ``owner.name`` so that its wall time adds to ``SPENT[label]`` (outermost call only)."""
    inner: Callable[..., Any] = getattr(owner, name)
    depth = [0]

    @functools.wraps(inner)
    def timed(*args: Any, **kwargs: Any) -> Any:
        depth[0] += 1
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                SPENT[label] += time.perf_counter() - t0

    setattr(owner, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser()
    for opt in ("--dataset", "--trials", "--folds", "--epochs", "--storage"):
        ap.add_argument(opt, required=True)
    args = ap.parse_args()
    t0 = time.perf_counter()
    import optuna  # noqa: F401 - what the sweep command imports, timed as one part
    import sklearn.model_selection  # noqa: F401
    import sqlalchemy  # noqa: F401
    import torch  # noqa: F401

    from sweepdoctor.cli import _sweep  # noqa: F401
    from sweepdoctor.cli import main as cli
    from sweepdoctor.sweep.search import _baselines, _coordinator, _runner, _trials

    SPENT["imports (torch, scikit-learn, optuna, sqlalchemy, ours)"] = time.perf_counter() - t0
    timer(_runner, "fold_tensors", "set-up: folds, data, helper start, study")
    timer(_runner, "start_helper", "set-up: folds, data, helper start, study")
    timer(_runner, "open_sweep", "set-up: folds, data, helper start, study")
    timer(_trials, "fit_folds", "training (and measuring the epochs not sent to the helper)")
    timer(_coordinator.TrialCoordinator, "next_trial", "claiming trials (ask, heartbeat, budget)")
    timer(_coordinator.TrialCoordinator, "suggest", "sampling parameters (TPE, one write each)")
    timer(_coordinator.TrialCoordinator, "store_run", "recording trials (curves + attributes: one write)")
    timer(_coordinator.TrialCoordinator, "finish", "telling Optuna the result")
    timer(_baselines.Baselines, "get", "baselines: linear fit here, waiting for the helper's MLPs, storing")
    argv = ["sweep", "--dataset", args.dataset, "--trials", args.trials, "--folds", args.folds,
            "--epochs", args.epochs, "--storage", args.storage, "--json"]
    t_run = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            cli.main(argv, standalone_mode=False)
        except SystemExit as e:
            if e.code:
                raise
    run = time.perf_counter() - t_run
    SPENT["other: data loading, CLI, summary, closing"] = run - sum(
        v for k, v in SPENT.items() if not k.startswith("imports"))
    SPENT["in the script"] = time.perf_counter() - T_START
    print(json.dumps(SPENT))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # as the console script exits after a sweep (sweepdoctor.cli.entry): no teardown
