"""Sweep convolutional nets on images and sequences, then load the best one and predict.

    python examples/cnn_sweep.py            # a few minutes on one core
    python examples/cnn_sweep.py --quick    # seconds (what CI runs)

Three sweeps on scikit-learn's digits (nothing is downloaded):

1. the built-in CNN on the digits as 1x8x8 images (the default model for images), its
   conv blocks and channels searched beside the optimizer and learning rate;
2. your own conv net (``model_fn``) on the same images: folds train in lockstep
   (``torch.func.vmap``) where torch can vectorize the model, else one after another;
3. a 1-D conv net on the digits as sequences: 8 channels (the rows) of 8 steps.

Then the best configuration of sweep 1 is trained on all the data (``sweep.refit``) and
loaded back with ``sweep.load_model`` to predict.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from torch import nn

from sweepdoctor import sweep


def my_cnn(hp: sweep.TrialParams, shape: tuple[int, ...], n_out: int) -> nn.Module:
    """``shape`` is one sample's (C, H, W); ``hp`` the trial's parameters (dropout, width...)."""
    return nn.Sequential(
        nn.Conv2d(shape[0], 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(hp.dropout), nn.LazyLinear(n_out),
    )


def my_conv1d(hp: sweep.TrialParams, shape: tuple[int, ...], n_out: int) -> nn.Module:
    """``shape`` is one sample's (C, L): 8 channels of 8 steps."""
    return nn.Sequential(nn.Conv1d(shape[0], 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                         nn.Dropout(hp.dropout), nn.Linear(32, n_out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets, for CI")
    parser.add_argument("--out", type=Path, help="folder for the study database and the model [a new temporary one]")
    args = parser.parse_args()
    trials, epochs, folds = (2, 2, 3) if args.quick else (20, 10, 5)

    X, y = load_digits(return_X_y=True)
    if args.quick:
        X, y = X[::4], y[::4]
    images = (X / 16.0).reshape(-1, 1, 8, 8)  # (n, C, H, W)
    sequences = (X / 16.0).reshape(-1, 8, 8)  # (n, C, L)
    work = args.out or Path(tempfile.mkdtemp(prefix="sweepdoctor-cnn-"))
    work.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{work / 'cnn.db'}"

    builtin = sweep.run(
        X=images, y=y, n_trials=trials, epochs=epochs, folds=folds, storage=url, study_name="digits-cnn",
        space=sweep.SearchSpace(conv_blocks=sweep.Choice((1, 2)), channels=sweep.Choice((8, 16, 32))),
    )
    print(f"built-in CNN: best CV accuracy {builtin.best_value:.4f} ({builtin.training_path} folds)")

    own = sweep.run(model_fn=my_cnn, X=images, y=y, n_trials=trials, epochs=epochs, folds=folds, storage=url,
                    study_name="digits-my-cnn")
    print(f"my CNN:       best CV accuracy {own.best_value:.4f} ({own.training_path} folds)")

    seq = sweep.run(model_fn=my_conv1d, X=sequences, y=y, n_trials=trials, epochs=epochs, folds=folds, storage=url,
                    study_name="digits-conv1d")
    print(f"1-D conv net: best CV accuracy {seq.best_value:.4f} ({seq.training_path} folds)")

    assert builtin.best_params is not None
    ds = sweep.from_arrays(images, y)
    saved = sweep.refit(ds, builtin.best_params, epochs=epochs, loss="cross_entropy", metric="accuracy",
                        out_dir=work / "model")
    model = sweep.load_model(saved)
    accuracy = float(np.mean(model.predict(images) == y))
    print(f"refit model in {saved}: accuracy {accuracy:.4f} on the data it was trained on")
    print(f"the studies are in {url}: sweepdoctor diagnose --study digits-cnn --storage {url}")


if __name__ == "__main__":
    main()
