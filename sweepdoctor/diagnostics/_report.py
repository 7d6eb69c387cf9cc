"""The diagnosis of a history (:class:`Report`, :class:`RunReport`) and how it renders.

A report renders itself with rich and never prints: ``Console().print(report)`` shows
the counts per finding, where in the search space they occur, the study-level
findings, then each candidate (or the worst N) with its findings and a loss-curve
sparkline of train and validation loss per epoch.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.text import Text

from sweepdoctor.diagnostics import _curves as c
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._history import History, Role, RunHistory, RunState
from sweepdoctor.diagnostics._study import Pattern
from sweepdoctor.diagnostics._thresholds import Thresholds

__all__ = ["Report", "RunReport", "fold_scores", "render", "run_score", "sparkline"]

_RANK = {Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 1}


def fold_scores(run: RunHistory) -> list[float | None]:
    """Each fold's score: as stored, else the fold's last finite validation metric."""
    out = []
    for f in run.folds:
        metric = c.finite(c.fold_curve(f, "val_metric"))
        out.append(f.score if f.score is not None else (metric[-1] if metric else None))
    return out


def run_score(run: RunHistory) -> float | None:
    """The run's cross-validation score: as stored, else the mean of :func:`fold_scores`;
    ``None`` for a failed run (whatever it stored is no score)."""
    if run.state == RunState.FAIL:
        return None
    if run.score is not None:
        return run.score
    return c.mean(fold_scores(run))


@dataclass(frozen=True)
class RunReport:
    """One run and its findings (at least one: ``healthy`` when nothing is wrong)."""

    run: RunHistory
    findings: tuple[Finding, ...]

    @property
    def codes(self) -> set[FindingCode]:
        return {f.code for f in self.findings}

    @property
    def badness(self) -> tuple[int, bool, int]:
        """Sort key for "worst first": the highest severity, divergence, the number of problems."""
        problems = [f for f in self.findings if f.code is not FindingCode.HEALTHY]
        severity = max((_RANK[f.severity] for f in problems), default=0)
        return severity, FindingCode.DIVERGENCE in self.codes, len(problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.run.name,
            "role": self.run.role.value,
            "state": self.run.state,
            "score": run_score(self.run),
            "fold_scores": fold_scores(self.run),
            "hyperparameters": dict(self.run.hyperparameters),
            "findings": [_finding_dict(f) for f in self.findings],
        }


@dataclass(frozen=True)
class Report:
    """The diagnosis of a history: per-run findings, study-level findings, patterns."""

    history: History
    runs: tuple[RunReport, ...]
    study_findings: tuple[Finding, ...]
    patterns: tuple[Pattern, ...]
    thresholds: Thresholds
    worst: int | None = None  # render only the worst N candidates

    @property
    def findings(self) -> list[Finding]:
        """Every finding: run-level in run order, then study-level (``run is None``)."""
        return [f for r in self.runs for f in r.findings] + list(self.study_findings)

    def for_run(self, name: str) -> list[Finding]:
        for r in self.runs:
            if r.run.name == name:
                return list(r.findings)
        raise KeyError(f"no run named {name!r} in this report; runs: {', '.join(r.run.name for r in self.runs)}")

    @property
    def candidates(self) -> list[RunReport]:
        return [r for r in self.runs if r.run.role is Role.CANDIDATE]

    def worst_runs(self, n: int | None = None) -> list[RunReport]:
        """Candidates, worst first (stable for ties); the first ``n`` when given."""
        ranked = sorted(self.candidates, key=lambda r: r.badness, reverse=True)
        return ranked if n is None else ranked[:n]

    def counts(self) -> dict[str, int]:
        """How many candidates carry each finding code (as their main finding or not)."""
        counter: Counter[str] = Counter(code.value for r in self.candidates for code in r.codes)
        return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))

    def main_counts(self) -> dict[str, int]:
        """How many candidates have each finding code as their main finding (the first, the one to act on)."""
        counter: Counter[str] = Counter(r.findings[0].code.value for r in self.candidates if r.findings)
        return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))

    def has_any(self, codes: Iterable[FindingCode]) -> bool:
        wanted = set(codes)
        return any(f.code in wanted for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.history.task.value,
            "loss": self.history.loss,
            "runs": [r.to_dict() for r in self.runs],
            "findings": [_finding_dict(f) for f in self.study_findings],
            "counts": self.counts(),
            "main_counts": self.main_counts(),
            "patterns": [p.to_dict() for p in self.patterns],
            "thresholds": self.thresholds.as_dict(),
        }

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from render(self)


def _finding_dict(f: Finding) -> dict[str, Any]:
    d = f.to_dict()
    d.pop("run")
    return d


# ---- rendering --------------------------------------------------------------------

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
        if v is None or not math.isfinite(v):  # a raw NaN or inf (a caller's list) as a missing point
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
        text.append(f"  {finite[0]:.4g} → {finite[-1]:.4g}  (min {min(finite):.4g})\n", style="dim")
    text.append(f"{len(train)} epochs, {len(run.folds)} folds, {'log' if log else 'linear'} scale", style="dim")
    return text


def _finding_text(f: Finding) -> Text:
    t = Text()
    t.append(f"{f.severity.value:<7} ", style=_STYLE[f.severity])
    t.append(f"{f.code.value}", style="bold")
    t.append(f" ({f.confidence:.2f})", style="dim")
    t.append(f"  {f.summary}\n")
    t.append("        advice: ", style="dim")
    t.append(f"{f.advice}\n")
    t.append(f"        rule: {f.rule} (sweepdoctor rules {f.code.value})", style="dim")
    return t


def _hp_line(run: RunHistory) -> str:
    hp = run.hyperparameters
    parts = [f"{k}={hp[k]:.4g}" if isinstance(hp[k], float) else f"{k}={hp[k]}" for k in _HP_SHOWN if k in hp]
    return ", ".join(parts)


def _run_panel(r: RunReport) -> Panel:
    worst = max((f.severity for f in r.findings), key=lambda s: ["info", "warning", "error"].index(s.value))
    body: list[RenderableType] = [_finding_text(f) for f in r.findings]
    body.append(curve_picture(r.run))
    if _hp_line(r.run):  # in the body, where it wraps (a subtitle is cut at the border)
        body.append(Text(_hp_line(r.run), style="dim"))
    title = f"[bold]{r.run.name}[/bold]" + (f" ({r.run.state})" if r.run.state not in (None, "complete") else "")
    return Panel(Group(*body), title=title, border_style=_STYLE[worst], title_align="left")


def _counts_lines(report: Report) -> Iterator[Text]:
    """How many candidates have each finding: as their main finding, and in all (lines that wrap whole)."""
    n = len(report.candidates)
    main = report.main_counts()
    yield Text(f"{n} candidate run(s): how many have each finding (as main finding; in all)", style="bold")
    for code, count in report.counts().items():
        share = f" ({count / n:.0%})" if n else ""
        yield Text(f"  {code}: main finding of {main.get(code, 0)}; found in {count}{share}")


def _baseline_lines(report: Report) -> Iterator[Text]:
    yield Text("reference baselines (same folds, same loss):", style="bold")
    for r in report.runs:
        if r.run in report.history.baselines:
            train = c.mean([c.finite(c.fold_curve(f, "train_loss"))[-1:][0] if c.finite(c.fold_curve(f, "train_loss"))
                            else None for f in r.run.folds])
            val = c.mean([min(c.finite(c.fold_curve(f, "val_loss")), default=None) for f in r.run.folds])
            yield Text(f"  {r.run.name} (depth {r.run.depth}): train loss "
                       f"{f'{train:.4g}' if train is not None else '-'}, best val loss "
                       f"{f'{val:.4g}' if val is not None else '-'}; {', '.join(sorted(x.value for x in r.codes))}")


def render(report: Report) -> Iterator[RenderableType]:
    """The renderables of ``report`` in display order."""
    h = report.history
    yield Text(f"sweepdoctor diagnosis: {h.task.value}, loss {h.loss}", style="bold")
    if report.candidates:
        yield from _counts_lines(report)
    if report.patterns:
        yield Text("where in the search space:", style="bold")
        for p in report.patterns:
            yield Text(f"  • {p.summary}")
    for f in report.study_findings:
        yield Panel(_finding_text(f), title="[bold]study[/bold]", border_style=_STYLE[f.severity], title_align="left")
    shown = report.worst_runs(report.worst)
    if report.worst is not None and len(shown) < len(report.candidates):
        yield Text(f"the worst {len(shown)} of {len(report.candidates)} candidate runs, ranked by their worst "
                   "finding's severity (then divergence first, then the number of problems):", style="bold")
    for r in shown:
        yield _run_panel(r)
    if h.baselines:
        yield from _baseline_lines(report)
