"""The figures of the pages, as plotly figure data (plain dicts; plotly's bundle draws them).

- the study: every complete trial's value by number (thinned on the server: the lowest and
  highest of each bucket) with the best so far over all of them, and the value against each
  hyper-parameter that varies (the latest complete trials; each plot says how many);
- a trial: train and validation loss per fold with the reference baselines beside them,
  the gradient norm per fold, the learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sweepdoctor.diagnostics import RunHistory
from sweepdoctor.service._html import plot
from sweepdoctor.studies import TrialRecord, ValueSeries

__all__ = ["param_plots", "trial_plots", "value_label", "value_plot", "varying_params"]

_DASHES = ("dash", "dot", "dashdot", "longdash")


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


# Metrics that are better when higher; a value axis names the metric only when the study's
# direction agrees with it (a minimized value of a study whose attribute says accuracy is not accuracy).
_MAXIMIZED_METRICS = frozenset({"accuracy", "r2"})


def value_label(metric: str | None, direction: str) -> str:
    """The value axis: ``accuracy (maximize)``; ``value (minimize)`` when the metric is unknown or
    its own direction disagrees with the study's."""
    if metric and (metric in _MAXIMIZED_METRICS) == (direction == "maximize"):
        return f"{metric} ({direction})"
    return f"value ({direction})"


def _title(text: str, note: str) -> dict[str, Any]:
    """A title left-aligned above the plot, with a smaller line under it (clear of plotly's toolbar)."""
    return {"text": f"{text}<br><span style=\"font-size:11px;color:#777\">{note}</span>", "x": 0.01,
            "xanchor": "left", "y": 0.97, "yanchor": "top", "font": {"size": 14}}


def value_plot(series: ValueSeries, *, metric: str | None) -> str:
    """Every complete trial's value by number (thinned on the server past ``MAX_POINTS``), and the
    best so far over all of them."""
    n = series.n_complete
    if series.thinned:
        note = (f"all {n:,} complete trials: the lowest and highest value of each {series.width} "
                f"consecutive trials ({2 * len(series.buckets):,} points)")
        mid = [(b.first + b.last) / 2 for b in series.buckets]
        span = [f"trials {b.first}–{b.last} ({b.n} complete)" for b in series.buckets]
        data = [
            {"type": "scatter", "mode": "markers", "name": f"highest of {series.width}", "x": mid,
             "y": [b.high for b in series.buckets], "text": span, "marker": {"size": 4, "color": "#4a7fb5"}},
            {"type": "scatter", "mode": "markers", "name": f"lowest of {series.width}", "x": mid,
             "y": [b.low for b in series.buckets], "text": span, "marker": {"size": 4, "color": "#9a6fc0"}},
        ]
    else:
        note = f"all {n:,} complete trials"
        data = [{"type": "scatter", "mode": "markers", "name": "trial", "x": [b.first for b in series.buckets],
                 "y": [b.low for b in series.buckets], "marker": {"size": 5, "color": "#4a7fb5"}}]
    if series.best:
        last = max(series.buckets[-1].last, series.best[-1][0])
        xs = [num for num, _v in series.best] + [last]
        ys = [v for _num, v in series.best] + [series.best[-1][1]]
        data.append({"type": "scatter", "mode": "lines", "name": "best so far", "x": xs, "y": ys,
                     "line": {"color": "#d55", "shape": "hv"}})
    layout = {"title": _title("value by trial", note if n else "no complete trial yet"),
              "margin": {"l": 60, "r": 10, "t": 60, "b": 45}, "xaxis": {"title": {"text": "trial"}},
              "yaxis": {"title": {"text": value_label(metric, series.direction)}}}
    return plot("plot-values", data, layout, wide=True)


def varying_params(trials: Sequence[TrialRecord]) -> tuple[list[str], dict[str, Any]]:
    """The parameters that take more than one value among ``trials`` (sorted), and the fixed ones."""
    values: dict[str, set[str]] = {}
    first: dict[str, Any] = {}
    for t in trials:
        for k, v in t.params.items():
            values.setdefault(k, set()).add(repr(v))
            first.setdefault(k, v)
    varying = sorted(k for k, seen in values.items() if len(seen) > 1)
    return varying, {k: first[k] for k in sorted(values) if k not in varying}


def param_plots(trials: Sequence[TrialRecord], *, metric: str | None, direction: str) -> str:
    """The value against each hyper-parameter that varies: one small scatter per parameter."""
    done = [t for t in trials if _finite(t.value) is not None]
    names, _fixed = varying_params(done)
    label = value_label(metric, direction)
    out = []
    for i, name in enumerate(names):
        xs = [t.params.get(name) for t in done]
        numeric = all(_finite(x) is not None for x in xs if x is not None)
        positive = numeric and all(x is not None and x > 0 for x in xs)
        spread = positive and max(xs) / min(xs) > 50  # type: ignore[type-var,operator]
        data = [{"type": "scatter", "mode": "markers", "x": xs if numeric else [str(x) for x in xs],
                 "y": [t.value for t in done], "text": [f"trial {t.number}" for t in done],
                 "marker": {"size": 5, "opacity": 0.7, "color": "#4a7fb5"}, "name": name}]
        layout = {"title": _title(name, f"{len(done):,} trials"), "margin": {"l": 55, "r": 10, "t": 55, "b": 40},
                  "yaxis": {"title": {"text": label}},
                  "xaxis": {"type": "log" if spread else ("linear" if numeric else "category")}, "showlegend": False}
        out.append(plot(f"plot-param-{i}", data, layout))
    return "".join(out)


def _mean_curve(run: RunHistory, field: str) -> tuple[list[int], list[float | None]]:
    by_epoch: dict[int, list[float]] = {}
    for fold in run.folds:
        for e in fold.epochs:
            v = _finite(getattr(e, field))
            if v is not None:
                by_epoch.setdefault(e.epoch + 1, []).append(v)  # epochs 1..E, as every view numbers them
    epochs = sorted(by_epoch)
    return epochs, [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs]


def _per_fold(run: RunHistory, field: str, *, color: str, label: str, legend: bool = True) -> list[dict[str, Any]]:
    return [
        {"type": "scatter", "mode": "lines", "name": f"{label} (each fold)", "legendgroup": label,
         "showlegend": legend and i == 0, "x": [e.epoch + 1 for e in fold.epochs],
         "y": [_finite(getattr(e, field)) for e in fold.epochs], "line": {"color": color, "width": 1.5}}
        for i, fold in enumerate(run.folds)
    ]


def _epoch_axis(run: RunHistory) -> dict[str, Any]:
    """An x axis of epochs 1..E with whole-number ticks (every epoch while there are few)."""
    n = max((len(f.epochs) for f in run.folds), default=1)
    return {"title": {"text": "epoch"}, "tickformat": "d", **({"dtick": 1} if n <= 20 else {})}


def trial_plots(run: RunHistory, baselines: Sequence[RunHistory]) -> str:
    """Loss per fold beside the baselines; gradient norm per fold; learning rate (epochs 1..E)."""
    axis = _epoch_axis(run)
    loss = _per_fold(run, "train_loss", color="#4a7fb5", label="train") + _per_fold(
        run, "val_loss", color="#e08a2c", label="validation")
    for j, b in enumerate(baselines):
        epochs, mean = _mean_curve(b, "val_loss")
        if len(epochs) == 1:  # a closed-form baseline: one value, drawn across the trial's epochs
            last = max((e.epoch + 1 for f in run.folds for e in f.epochs), default=1)
            epochs, mean = [epochs[0], last], [mean[0], mean[0]]
        loss.append({"type": "scatter", "mode": "lines", "name": f"{b.name} (validation)", "x": epochs,
                     "y": mean, "line": {"color": "#777", "dash": _DASHES[j % len(_DASHES)], "width": 1.5}})
    out = [plot("plot-loss", loss, {"title": {"text": "loss per fold"}, "xaxis": axis,
                                    "yaxis": {"title": {"text": "loss"}, "type": "log"}}, wide=True)]
    grad = _per_fold(run, "grad_norm", color="#6a5", label="gradient norm")
    out.append(plot("plot-grad", grad, {"title": {"text": "gradient norm per fold"}, "yaxis": {"type": "log"},
                                        "xaxis": axis}))
    epochs, lr = _mean_curve(run, "lr")
    top = max((v for v in lr if v is not None), default=1.0) * 1.15 or 1.0
    out.append(plot("plot-lr", [{"type": "scatter", "mode": "lines+markers", "name": "lr", "x": epochs, "y": lr}],
                    {"title": {"text": "learning rate"}, "xaxis": axis,
                     "yaxis": {"range": [0, top], "exponentformat": "e"}}))
    return "".join(out)
