"""Rendering a :class:`Report` in the terminal with rich (the report never prints itself).

``Console().print(report)`` shows the counts per finding, where in the search space
they occur, the study-level findings, then each candidate (or the worst N) with its
findings and a loss-curve sparkline of train and validation loss per epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sweepdoctor.diagnostics import _curves as c
from sweepdoctor.diagnostics._findings import Finding, Severity
from sweepdoctor.diagnostics._history import RunHistory

if TYPE_CHECKING:
    from sweepdoctor.diagnostics._diagnose import Report, RunReport

__all__ = ["render", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"
_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "green"}
_HP_SHOWN = ("lr", "optimizer", "batch_size", "schedule", "depth", "width", "weight_decay", "dropout")


def _resample(values: Sequence[float | None], width: int) -> list[float | None]:
    """At most ``width`` points: the mean of each bucket (``None`` if a bucket has a non-finite value)."""
    if len(values) <= width:
        return list(values)
    out: list[float | None] = []
    for i in range(width):
        bucket = values[i * len(values) // width : (i + 1) * len(values) // width]
        out.append(None if any(v is None for v in bucket) else c.mean(bucket))
    return out


def sparkline(values: Sequence[float | None], *, lo: float, hi: float, width: int = 40, log: bool = False) -> str:
    """One character per epoch (or bucket): ``▁`` at ``lo`` to ``█`` at ``hi``; ``×`` for non-finite."""
    def pos(v: float) -> float:
        if log:
            return (math.log(max(v, lo)) - math.log(lo)) / (math.log(hi) - math.log(lo)) if hi > lo else 0.0
        return (v - lo) / (hi - lo) if hi > lo else 0.0

    chars = []
    for v in _resample(values, width):
        if v is None:
            chars.append("×")
        else:
            chars.append(_BARS[min(len(_BARS) - 1, max(0, round(pos(v) * (len(_BARS) - 1))))])
    return "".join(chars)


def curve_picture(run: RunHistory, width: int = 40) -> Text:
    """Train and validation loss of ``run`` (fold means) as two sparklines on one scale."""
    train, val = c.mean_curve(run, "train_loss"), c.mean_curve(run, "val_loss")
    known = [v for v in train + val if v is not None and v > 0]
    text = Text()
    if not known:
        return text.append("no finite losses to draw", style="dim")
    lo, hi = min(known), max(known)
    log = hi / lo > 10
    for label, curve, style in (("train", train, "cyan"), ("val  ", val, "magenta")):
        finite = c.finite(curve)
        if not finite:
            continue
        text.append(f"{label} ", style="bold")
        text.append(sparkline(curve, lo=lo, hi=hi, width=width, log=log), style=style)
        text.append(f"  {finite[0]:.3g} → {finite[-1]:.3g}  (min {min(finite):.3g})\n", style="dim")
    text.append(f"{len(train)} epochs, {len(run.folds)} folds, {'log' if log else 'linear'} scale", style="dim")
    return text


def _finding_text(f: Finding) -> Text:
    t = Text()
    t.append(f"{f.severity.value:<7} ", style=_STYLE[f.severity])
    t.append(f"{f.code.value}", style="bold")
    t.append(f"  {f.summary}\n")
    t.append("        advice: ", style="dim")
    t.append(f"{f.advice}\n")
    t.append(f"        rule: {f.rule}", style="dim")
    return t


def _hp_line(run: RunHistory) -> str:
    hp = run.hyperparameters
    parts = [f"{k}={hp[k]:.3g}" if isinstance(hp[k], float) else f"{k}={hp[k]}" for k in _HP_SHOWN if k in hp]
    return ", ".join(parts)


def _run_panel(r: RunReport) -> Panel:
    worst = max((f.severity for f in r.findings), key=lambda s: ["info", "warning", "error"].index(s.value))
    body: list[RenderableType] = [_finding_text(f) for f in r.findings]
    body.append(curve_picture(r.run))
    title = f"[bold]{r.run.name}[/bold]" + (f" ({r.run.state})" if r.run.state not in (None, "complete") else "")
    return Panel(Group(*body), title=title, subtitle=_hp_line(r.run) or None, border_style=_STYLE[worst],
                 title_align="left", subtitle_align="left")


def _counts_table(report: Report) -> Table:
    n = len(report.candidates)
    table = Table(title=f"{n} candidate run(s): findings", title_justify="left")
    table.add_column("finding")
    table.add_column("runs", justify="right")
    table.add_column("share", justify="right")
    for code, count in report.counts().items():
        table.add_row(code, str(count), f"{count / n:.0%}" if n else "-")
    return table


def _baseline_table(report: Report) -> Table:
    table = Table(title="reference baselines (same folds, same loss)", title_justify="left")
    for col in ("baseline", "depth", "train loss", "best val loss", "findings"):
        table.add_column(col)
    for r in report.runs:
        if r.run in report.history.baselines:
            train = c.mean([c.finite(c.fold_curve(f, "train_loss"))[-1:][0] if c.finite(c.fold_curve(f, "train_loss"))
                            else None for f in r.run.folds])
            val = c.mean([min(c.finite(c.fold_curve(f, "val_loss")), default=None) for f in r.run.folds])
            table.add_row(r.run.name, str(r.run.depth), f"{train:.3g}" if train is not None else "-",
                          f"{val:.3g}" if val is not None else "-", ", ".join(sorted(x.value for x in r.codes)))
    return table


def render(report: Report) -> Iterator[RenderableType]:
    """The renderables of ``report`` in display order."""
    h = report.history
    yield Text(f"sweepdoctor diagnosis: {h.task.value}, loss {h.loss}", style="bold")
    if report.candidates:
        yield _counts_table(report)
    if report.patterns:
        yield Text("where in the search space:", style="bold")
        for p in report.patterns:
            yield Text(f"  • {p.summary}")
    for f in report.study_findings:
        yield Panel(_finding_text(f), title="[bold]study[/bold]", border_style=_STYLE[f.severity], title_align="left")
    shown = report.worst_runs(report.worst)
    if report.worst is not None and len(shown) < len(report.candidates):
        yield Text(f"the worst {len(shown)} of {len(report.candidates)} candidate runs:", style="bold")
    for r in shown:
        yield _run_panel(r)
    if h.baselines:
        yield _baseline_table(report)
