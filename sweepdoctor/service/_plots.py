"""The figures of the pages, as plotly figure data (plain dicts; plotly's bundle draws them).

- the study: each trial's value by number with the best so far, and the value against
  each hyper-parameter (the latest complete trials);
- a trial: train and validation loss per fold with the reference baselines beside them,
  the gradient norm per fold, the learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sweepdoctor.diagnostics import RunHistory
from sweepdoctor.service._html import plot
from sweepdoctor.studies import TrialRecord

__all__ = ["param_plots", "trial_plots", "value_plot"]

_DASHES = ("dash", "dot", "dashdot", "longdash")


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def value_plot(trials: Sequence[TrialRecord], *, maximize: bool, metric: str | None) -> str:
    """Value by trial number, and the best value so far."""
    done = sorted((t for t in trials if _finite(t.value) is not None), key=lambda t: t.number)
    best: list[float] = []
    for t in done:
        v = float(t.value)  # type: ignore[arg-type]
        best.append(v if not best else (max(best[-1], v) if maximize else min(best[-1], v)))
    data = [
        {"type": "scatter", "mode": "markers", "name": "trial", "x": [t.number for t in done],
         "y": [t.value for t in done], "marker": {"size": 5, "color": "#4a7fb5"}},
        {"type": "scatter", "mode": "lines", "name": "best so far", "x": [t.number for t in done], "y": best,
         "line": {"color": "#d55", "shape": "hv"}},
    ]
    layout = {"title": {"text": "value by trial"}, "xaxis": {"title": {"text": "trial"}},
              "yaxis": {"title": {"text": metric or "value"}}}
    return plot("plot-values", data, layout, wide=True)


def param_plots(trials: Sequence[TrialRecord], *, metric: str | None) -> str:
    """The value against each hyper-parameter: one small scatter per parameter."""
    done = [t for t in trials if _finite(t.value) is not None]
    names = sorted({k for t in done for k in t.params})
    out = []
    for i, name in enumerate(names):
        xs = [t.params.get(name) for t in done]
        numeric = all(_finite(x) is not None for x in xs if x is not None)
        positive = numeric and all(x is not None and x > 0 for x in xs)
        spread = positive and max(xs) / min(xs) > 50  # type: ignore[type-var,operator]
        data = [{"type": "scatter", "mode": "markers", "x": xs if numeric else [str(x) for x in xs],
                 "y": [t.value for t in done], "text": [f"trial {t.number}" for t in done],
                 "marker": {"size": 5, "opacity": 0.7, "color": "#4a7fb5"}, "name": name}]
        layout = {"title": {"text": name}, "yaxis": {"title": {"text": metric or "value"}},
                  "xaxis": {"type": "log" if spread else ("linear" if numeric else "category")}, "showlegend": False}
        out.append(plot(f"plot-param-{i}", data, layout))
    return "".join(out)


def _mean_curve(run: RunHistory, field: str) -> tuple[list[int], list[float | None]]:
    by_epoch: dict[int, list[float]] = {}
    for fold in run.folds:
        for e in fold.epochs:
            v = _finite(getattr(e, field))
            if v is not None:
                by_epoch.setdefault(e.epoch, []).append(v)
    epochs = sorted(by_epoch)
    return epochs, [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs]


def _per_fold(run: RunHistory, field: str, *, color: str, label: str, legend: bool = True) -> list[dict[str, Any]]:
    return [
        {"type": "scatter", "mode": "lines", "name": f"{label} (each fold)", "legendgroup": label,
         "showlegend": legend and i == 0, "x": [e.epoch for e in fold.epochs],
         "y": [_finite(getattr(e, field)) for e in fold.epochs], "line": {"color": color, "width": 1.5}}
        for i, fold in enumerate(run.folds)
    ]


def trial_plots(run: RunHistory, baselines: Sequence[RunHistory]) -> str:
    """Loss per fold beside the baselines; gradient norm per fold; learning rate."""
    loss = _per_fold(run, "train_loss", color="#4a7fb5", label="train") + _per_fold(
        run, "val_loss", color="#e08a2c", label="validation")
    for j, b in enumerate(baselines):
        epochs, mean = _mean_curve(b, "val_loss")
        if len(epochs) == 1:  # a closed-form baseline: one value, drawn across the trial's epochs
            last = max((e.epoch for f in run.folds for e in f.epochs), default=1)
            epochs, mean = [epochs[0], last], [mean[0], mean[0]]
        loss.append({"type": "scatter", "mode": "lines", "name": f"{b.name} (validation)", "x": epochs,
                     "y": mean, "line": {"color": "#777", "dash": _DASHES[j % len(_DASHES)], "width": 1.5}})
    out = [plot("plot-loss", loss, {"title": {"text": "loss per fold"}, "xaxis": {"title": {"text": "epoch"}},
                                    "yaxis": {"title": {"text": "loss"}, "type": "log"}}, wide=True)]
    grad = _per_fold(run, "grad_norm", color="#6a5", label="gradient norm")
    out.append(plot("plot-grad", grad, {"title": {"text": "gradient norm per fold"}, "yaxis": {"type": "log"},
                                        "xaxis": {"title": {"text": "epoch"}}}))
    epochs, lr = _mean_curve(run, "lr")
    top = max((v for v in lr if v is not None), default=1.0) * 1.15 or 1.0
    out.append(plot("plot-lr", [{"type": "scatter", "mode": "lines+markers", "name": "lr", "x": epochs, "y": lr}],
                    {"title": {"text": "learning rate"}, "xaxis": {"title": {"text": "epoch"}},
                     "yaxis": {"range": [0, top], "exponentformat": "e"}}))
    return "".join(out)
