"""Small, fast sweep settings shared by the sweep tests."""

from __future__ import annotations

from dataclasses import replace

from sweepdoctor.sweep import Choice, Fixed, FloatRange, SearchSpace, StudyConfig, SweepConfig, TrainConfig, TrialParams

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


def trial_params(**kw: object) -> TrialParams:
    """A small trial's hyper-parameters (2 x 8 ReLU, Adam, cosine schedule); ``kw`` overrides."""
    base: dict[str, object] = dict(
        lr=0.02, batch_size=16, optimizer="adam", schedule="cosine", weight_decay=1e-3, dropout=0.0, patience=0,
        depth=2, width=8, activation="relu", momentum=0.9, beta1=0.85, beta2=0.99,
    )
    base.update(kw)
    return TrialParams(**base)  # type: ignore[arg-type]
