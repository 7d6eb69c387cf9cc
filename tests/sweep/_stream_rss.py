"""Run in a fresh process by test_stream.py: a sweep over an image folder (read as ``[data] images``
with ``stream = "auto"`` under the memory limit the caller sets); prints its peak RSS in MB.

Usage: python _stream_rss.py FOLDER DB
"""

from __future__ import annotations

import json
import resource
import sys
from dataclasses import replace

from sweepdoctor import sweep
from sweepdoctor.sweep.config import DataConfig, Fixed, SearchSpace, SweepConfig
from sweepdoctor.sweep.data import is_stream, load_dataset


def main(folder: str, db: str) -> None:
    space = SearchSpace(lr=Fixed(3e-3), batch_size=Fixed(256), optimizer=Fixed("adam"), model=Fixed("mlp"),
                        depth=Fixed(1), width=Fixed(16), schedule=Fixed("constant"), weight_decay=Fixed(0.0),
                        dropout=Fixed(0.0), patience=Fixed(0))
    config = replace(SweepConfig(), data=DataConfig(images=folder), space=space)
    config = config.with_overrides("train", baselines=False)
    ds = load_dataset(config.data)
    result = sweep.run(config, ds, n_trials=1, epochs=1, folds=2, seed=0, storage=f"sqlite:///{db}",
                       study_name="rss")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak, "streamed": is_stream(ds.X), "n_complete": result.n_complete}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
