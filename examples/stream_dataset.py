"""Sweep a CNN over your own torch ``Dataset``, read on demand: data larger than memory.

    python examples/stream_dataset.py            # a minute or two on one core
    python examples/stream_dataset.py --quick    # seconds (what CI runs)

The dataset draws image ``i`` when it is asked for it (a bright square or a bar at a
seeded place, in noise): nothing holds them all, as with a folder of photos or a
memory-mapped file. ``sweep.run(dataset=...)`` reads the batches each fold needs through a
``DataLoader`` with worker processes, the folds are index sets, and each fold's scaler is
fit in one pass over its training rows. The labels come from the dataset's ``targets``
(torchvision's convention); without them, give ``y=`` or let one pass read them.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from sweepdoctor import sweep


class Shapes(torch.utils.data.Dataset):
    """``n`` grey images ``(1, side, side)``: class 0 a bright square, class 1 a bright bar."""

    def __init__(self, n: int, side: int = 28) -> None:
        self.n, self.side = n, side
        self.targets = [i % 2 for i in range(n)]  # known without drawing an image

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        rng = np.random.default_rng(i)
        x = rng.normal(0.0, 0.4, size=(1, self.side, self.side)).astype(np.float32)
        r, c = rng.integers(0, self.side - 6, size=2)
        if i % 2 == 0:
            x[0, r:r + 6, c:c + 6] += 1.0
        else:
            x[0, r:r + 2, :] += 1.0
        return torch.from_numpy(x), i % 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny budgets (seconds)")
    ap.add_argument("--out", type=Path, default=None, help="where the study database goes (default: a temp dir)")
    args = ap.parse_args()
    n, side, trials, epochs = (300, 16, 2, 2) if args.quick else (6000, 28, 12, 6)
    out = args.out or Path(tempfile.mkdtemp())
    result = sweep.run(
        dataset=Shapes(n, side),
        space=sweep.SearchSpace(model=sweep.Fixed("cnn"), conv_blocks=sweep.Choice((1, 2)),
                                channels=sweep.Choice((8, 16))),
        n_trials=trials, epochs=epochs, folds=3, seed=0,
        storage=f"sqlite:///{out / 'stream.db'}", study_name="shapes-stream",
    )
    print(f"streamed CNN: best CV accuracy {result.best_value:.4g} over {result.n_complete} trials "
          f"({result.training_path}); study in {out / 'stream.db'}")


if __name__ == "__main__":
    main()
