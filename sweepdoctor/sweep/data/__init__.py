"""The data of a sweep: built-in, generated, CSV and npz datasets, image folders, the folds, fold tensors.

May import: numpy, scikit-learn and Pillow (inside the functions that need them), torch (fold tensors),
:mod:`sweepdoctor.diagnostics` (the ``Task`` enum), :mod:`sweepdoctor.errors` and the
``config`` room. Never Optuna, the database, or the ``engine``/``search`` rooms.
"""

from __future__ import annotations

from sweepdoctor.sweep.data._datasets import BUILTIN_DATASETS, Dataset, from_arrays, load_builtin, load_csv, with_labels
from sweepdoctor.sweep.data._files import load_npz
from sweepdoctor.sweep.data._folds import Split, make_splits, splits_hash
from sweepdoctor.sweep.data._images import load_image_folder
from sweepdoctor.sweep.data._load import load_dataset
from sweepdoctor.sweep.data._stream import (
    MEMORY_ENV,
    SampleSource,
    SampleStream,
    default_workers,
    is_stream,
    memory_budget,
    should_stream,
)
from sweepdoctor.sweep.data._tensors import (
    FoldData,
    Samples,
    channel_axis,
    pick_device,
    prepare_folds,
    scaler_stats,
    stream_stats,
)
from sweepdoctor.sweep.data._torch_data import TorchSource, from_dataset

__all__ = [
    "BUILTIN_DATASETS",
    "MEMORY_ENV",
    "Dataset",
    "FoldData",
    "SampleSource",
    "SampleStream",
    "Samples",
    "Split",
    "TorchSource",
    "channel_axis",
    "default_workers",
    "from_arrays",
    "from_dataset",
    "is_stream",
    "load_builtin",
    "load_csv",
    "load_dataset",
    "load_image_folder",
    "load_npz",
    "make_splits",
    "memory_budget",
    "pick_device",
    "prepare_folds",
    "scaler_stats",
    "should_stream",
    "splits_hash",
    "stream_stats",
    "with_labels",
]
