"""Small, fast sweep settings shared by the sweep tests."""

from __future__ import annotations

from dataclasses import replace

from sweepdoctor.sweep import Choice, Fixed, FloatRange, SearchSpace, StudyConfig, SweepConfig, TrainConfig

SMALL_SPACE = SearchSpace(
    lr=FloatRange(1e-3, 3e-2, log=True),
    batch_size=Choice((16, 32)),
    optimizer=Choice(("adam", "momentum")),
    schedule=Choice(("constant", "cosine")),
    weight_decay=Fixed(0.0),
    dropout=Fixed(0.0),
    patience=Fixed(0),
    depth=Fixed(1),
    width=Fixed(16),
)


def small_config(
    url: str, name: str = "t", *, trials: int = 3, epochs: int = 3, folds: int = 3, **study: object
) -> SweepConfig:
    return SweepConfig(
        train=TrainConfig(folds=folds, epochs=epochs, baselines=False, threads=1),
        study=replace(StudyConfig(name=name, storage=url, trials=trials, pruner="none"), **study),  # type: ignore[arg-type]
        space=SMALL_SPACE,
    )
