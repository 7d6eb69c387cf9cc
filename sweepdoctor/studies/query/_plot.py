"""Pictures of stored studies: terminal charts (rich renderables) and PNG files (matplotlib Agg).

Nothing here prints: :class:`CurveChart` and :func:`importance_bars` are renderables
that the CLI hands to its console; :func:`write_curves_png` draws on a matplotlib
``Figure`` with the Agg canvas (no pyplot, no global backend switch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from sweepdoctor.errors import SweepdoctorError
from sweepdoctor.studies.query._records import CurvePoint, Curves

__all__ = ["CurveChart", "importance_bars", "write_curves_png"]

_TRAIN, _VAL = "*", "o"  # mean markers
_TRAIN_BAND, _VAL_BAND = "·", "░"  # min-max over folds
_STYLES = {_TRAIN: "bold cyan", _VAL: "bold magenta", _TRAIN_BAND: "cyan", _VAL_BAND: "magenta", "#": "bold"}


def _interpolate(ys: Sequence[float | None], x: float) -> float | None:
    """The value at fractional index ``x`` on the straight line between its neighbours."""
    lo, hi = math.floor(x), math.ceil(x)
    a, b = ys[lo], ys[hi]
    if a is None or b is None:
        return a if x - lo < 0.5 else b
    return a + (b - a) * (x - lo)


class CurveChart:
    """Mean train and validation loss per epoch, with the min-max band over folds."""

    def __init__(self, curves: Curves, *, width: int = 64, height: int = 14) -> None:
        if width < 8 or height < 4:
            raise ValueError(f"a chart needs width >= 8 and height >= 4, got {width}x{height}")
        self.curves, self.width, self.height = curves, width, height

    def _series(self, attr: str) -> list[float | None]:
        return [getattr(p, attr) for p in self.curves.points]

    def lines(self) -> list[Text]:
        """The chart as lines of styled text (plain text with ``Text.plain``)."""
        pts: Sequence[CurvePoint] = self.curves.points
        values = [v for a in ("train_min", "train_max", "val_min", "val_max") for v in self._series(a) if v is not None]
        if not values:
            return [Text("(no finite losses stored for this run)")]
        lo, hi = min(values), max(values)
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        w, h = self.width, self.height
        grid = [[" "] * w for _ in range(h)]

        def row(y: float) -> int:
            return min(h - 1, max(0, round((hi - y) / (hi - lo) * (h - 1))))

        layers = (
            (_TRAIN_BAND, "train_min", "train_max"),
            (_VAL_BAND, "val_min", "val_max"),
            (_TRAIN, "train_mean", None),
            (_VAL, "val_mean", None),
        )
        for mark, a, b in layers:
            ys_a, ys_b = self._series(a), self._series(b) if b else None
            for c in range(w):
                x = 0.0 if len(pts) == 1 else c * (len(pts) - 1) / (w - 1)
                ya = _interpolate(ys_a, x)
                if ya is None:
                    continue
                yb = _interpolate(ys_b, x) if ys_b is not None else ya
                r0, r1 = sorted((row(ya), row(yb if yb is not None else ya)))
                for r in range(r0, r1 + 1):
                    old = grid[r][c]
                    grid[r][c] = "#" if {old, mark} == {_TRAIN, _VAL} else mark
        labels = {0: f"{hi:.3g}", (h - 1) // 2: f"{(hi + lo) / 2:.3g}", h - 1: f"{lo:.3g}"}
        margin = max(len(s) for s in labels.values())
        out = []
        for r, cells in enumerate(grid):
            line = Text(f"{labels.get(r, ''):>{margin}} │")
            for ch in cells:
                line.append(ch, style=_STYLES.get(ch))
            out.append(line)
        out.append(Text(" " * margin + " └" + "─" * w))
        first, last = str(pts[0].epoch), f"epoch {pts[-1].epoch}"
        out.append(Text(" " * (margin + 2) + first + " " * max(1, w - len(first) - len(last)) + last))
        folds = max(p.n_folds for p in pts)
        legend = Text(" " * (margin + 2))
        legend.append(f"{_TRAIN} train", style=_STYLES[_TRAIN]).append(f" ({_TRAIN_BAND} fold range)   ")
        legend.append(f"{_VAL} validation", style=_STYLES[_VAL]).append(f" ({_VAL_BAND} fold range)")
        legend.append(f"   mean over {folds} fold{'s' if folds != 1 else ''}")
        out.append(legend)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines()


def importance_bars(importance: Mapping[str, float], *, width: int = 30) -> Table:
    """A table of parameters with a bar per importance (largest first)."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("parameter", style="bold")
    table.add_column("bar")
    table.add_column("importance", justify="right")
    top = max(importance.values(), default=0.0) or 1.0
    for name, value in sorted(importance.items(), key=lambda kv: -kv[1]):
        n = value / top * width
        bar = "█" * int(n) + ("▌" if n - int(n) >= 0.5 else "")
        table.add_row(name, Text(bar or "▏", style="green"), f"{value:.1%}")
    return table


def write_curves_png(curves: Curves, path: str | Path, *, dpi: int = 120) -> Path:
    """Write the curves (means, with the fold min-max band shaded) as a PNG; returns its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    out = Path(path)
    epochs = [p.epoch for p in curves.points]
    fig = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, prefix, color in (("train", "train", "tab:blue"), ("validation", "val", "tab:red")):
        mean = [_nan(getattr(p, f"{prefix}_mean")) for p in curves.points]
        lo = [_nan(getattr(p, f"{prefix}_min")) for p in curves.points]
        hi = [_nan(getattr(p, f"{prefix}_max")) for p in curves.points]
        ax.fill_between(epochs, lo, hi, color=color, alpha=0.2, linewidth=0)
        ax.plot(epochs, mean, color=color, label=f"{label} (mean, fold range shaded)")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs 1..E: whole numbers
    ax.set_ylabel("loss")
    what = curves.run if curves.trial_number is None else f"trial {curves.trial_number}"
    ax.set_title(f"{curves.study}: {what}")
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=dpi, format="png")
    except OSError as e:
        raise SweepdoctorError(f"--png: cannot write {str(out)!r}: {e.strerror or e}") from None
    return out


def _nan(x: float | None) -> float:
    return math.nan if x is None else x
