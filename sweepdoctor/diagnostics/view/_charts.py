"""The curves of one run beside its references: terminal rows and a PNG.

Four panels: training loss, validation loss, gradient norm and learning rate per epoch
(fold means). In the terminal each panel is one sparkline per run on a shared scale
(logarithmic when the values span more than 10x), the run first, its references
below; the PNG draws the same four panels with matplotlib's Agg canvas (no pyplot).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table
from rich.text import Text

from sweepdoctor.diagnostics import _curves as c
from sweepdoctor.diagnostics._history import RunHistory
from sweepdoctor.diagnostics._report import sparkline
from sweepdoctor.diagnostics.view._fit import fitted_table
from sweepdoctor.errors import ConfigError

__all__ = ["PANELS", "curve_rows", "write_curves_png"]

PANELS: tuple[tuple[str, str], ...] = (
    ("train_loss", "training loss"),
    ("val_loss", "validation loss"),
    ("grad_norm", "gradient norm"),
    ("lr", "learning rate"),
)


def _series(run: RunHistory, field: str) -> list[float | None]:
    values = c.mean_curve(run, field)
    return [v if v is not None and math.isfinite(v) else None for v in values]


def _scale(curves: Sequence[Sequence[float | None]]) -> tuple[float, float, bool] | None:
    known = [v for curve in curves for v in curve if v is not None]
    if not known:
        return None
    positive = [v for v in known if v > 0]
    lo, hi = min(known), max(known)
    log = bool(positive) and lo > 0 and hi / lo > 10
    return lo, hi, log


def curve_rows(run: RunHistory, references: Sequence[RunHistory], *, width: int = 40,
               available: int = 200) -> Table:
    """One row per panel and run: name, sparkline (one character per epoch, 1..E), first → last (min).

    Names and numbers wrap whole at a narrow terminal; the sparkline keeps to one line.
    """
    rows: list[tuple[str, str, Text, Text | str]] = []
    for field, label in PANELS:
        series = [(run.name, _series(run, field))] + [(r.name, _series(r, field)) for r in references]
        series = [(n, s) for n, s in series if c.finite(s) and len(s) > 1 or n == run.name]
        scale = _scale([s for _, s in series])
        if scale is None:
            rows.append((label, run.name, Text("not recorded", style="dim"), ""))
            continue
        lo, hi, log = scale
        for i, (name, s) in enumerate(series):
            known = c.finite(s)
            line = sparkline(s, lo=lo, hi=hi, width=width, log=log) if known else "not recorded"
            style = "cyan" if name == run.name else "dim"
            ends = f"{known[0]:.4g} → {known[-1]:.4g} ({min(known):.4g})" if known else ""
            rows.append((f"{label}{' (log)' if log else ''}" if i == 0 else "", name, Text(line, style=style),
                         Text(ends, style="dim")))
    header = ["curve", "run", f"epoch 1..{max(len(f.epochs) for f in run.folds)}", "first → last (min)"]
    return fitted_table(header, rows, available=available, whole=(False, False, True, False))


def write_curves_png(run: RunHistory, references: Sequence[RunHistory], path: str | Path) -> Path:
    """The four panels as a PNG at ``path``: the run solid, each reference dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    out = Path(path)
    fig = Figure(figsize=(10, 7), constrained_layout=True)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2).ravel()
    for ax, (field, label) in zip(axes, PANELS):
        for i, r in enumerate((run, *references)):
            s = _series(r, field)
            xs = [k + 1 for k, v in enumerate(s) if v is not None]
            ys = [v for v in s if v is not None]
            if not ys:
                continue
            if len(s) == 1:  # one converged fit (the linear model): a level, not a curve
                ax.axhline(ys[0], color=f"C{i}", linestyle=":", linewidth=1, label=f"{r.name} (converged fit)")
                continue
            solid = r is run
            ax.plot(xs, ys, "-" if solid else "--", color=f"C{i}", label=r.name, linewidth=2 if solid else 1)
        scale = _scale([_series(r, field) for r in (run, *references)])
        if scale is not None and scale[2]:
            ax.set_yscale("log")
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs 1..E: whole numbers
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:  # no run recorded it (a history without gradient norms): say so, not an empty legend
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes, color="grey")
    fig.suptitle(f"{run.name} ({run.state or 'run'}) beside its references")
    try:
        fig.savefig(out, dpi=100)
    except OSError as e:
        raise ConfigError(f"--png: cannot write {str(out)!r}: {e.strerror}; pick a writable path") from None
    return out
