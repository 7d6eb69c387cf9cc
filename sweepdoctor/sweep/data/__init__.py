"""The data of a sweep: built-in, generated, CSV and npz datasets, image folders, the folds, fold tensors.

May import: numpy, scikit-learn and Pillow (inside the functions that need them), torch (fold tensors),
:mod:`sweepdoctor.diagnostics` (the ``Task`` enum), :mod:`sweepdoctor.errors` and the
``config`` room. Never Optuna, the database, or the ``engine``/``search`` rooms.
"""

from __future__ import annotations

from sweepdoctor.sweep.data._datasets import BUILTIN_DATASETS, Dataset, from_arrays, load_builtin, load_csv
from sweepdoctor.sweep.data._files import load_npz
from sweepdoctor.sweep.data._folds import Split, make_splits, splits_hash
from sweepdoctor.sweep.data._images import load_image_folder
from sweepdoctor.sweep.data._load import load_dataset
from sweepdoctor.sweep.data._tensors import FoldData, channel_axis, pick_device, prepare_folds, scaler_stats

__all__ = [
    "BUILTIN_DATASETS",
    "Dataset",
    "FoldData",
    "Split",
    "channel_axis",
    "from_arrays",
    "load_builtin",
    "load_csv",
    "load_dataset",
    "load_image_folder",
    "load_npz",
    "make_splits",
    "pick_device",
    "prepare_folds",
    "scaler_stats",
    "splits_hash",
]
