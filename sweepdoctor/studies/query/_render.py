"""Rich renderables for the query results (the CLI prints them; nothing here prints)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, JustifyMethod, RenderableType, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from sweepdoctor.diagnostics.view import FittedTable
from sweepdoctor.studies.query._plot import importance_bars
from sweepdoctor.studies.query._records import FoldSpread, GroupBest, StudyDetail, StudySummary, TrialPage, TrialRecord

__all__ = ["ParamTable", "best_table", "compare_table", "detail_view", "fmt", "studies_table", "trials_table"]

_STATE_STYLE = {"complete": "green", "pruned": "yellow", "fail": "red", "running": "cyan", "waiting": "dim"}
_SCORE_ATTRS = ("mean_score", "std_score")


def fmt(value: Any) -> str:
    """A compact cell: numbers to 4 significant digits, ``-`` for nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))  # a choice or a name may hold [brackets]: text, never console markup


def _state(state: str) -> Text:
    return Text(state, style=_STATE_STYLE.get(state, ""))


def _direction(s: StudySummary) -> str:
    return ", ".join(s.directions) or "-"


def studies_table(studies: Sequence[StudySummary], *, title: str) -> FittedTable:
    """``studies list``: one row per study (at a narrow terminal the curves, direction and
    last activity columns go first; no name or number is cut)."""
    rows = []
    for s in studies:
        when = "-" if s.last_activity is None else s.last_activity.strftime("%Y-%m-%d %H:%M")
        direction = ",".join(d[:3] for d in s.directions) or "-"
        curves = "-" if s.n_runs is None else str(s.n_runs)
        counts = "/".join(str(s.states.get(k, 0)) for k in ("complete", "pruned", "fail"))
        rows.append([fmt(s.name), direction, str(s.n_trials), counts, fmt(s.best_value), when, fmt(s.metric), curves])
    return FittedTable(["study", "dir", "trials", "ok/pr/fail", "best", "last activity", "metric", "curves"], rows,
                       justify=["left", "left", "right", "right", "right", "left", "left", "right"], title=title,
                       optional=["curves", "dir", "last activity"])


def _score(t: TrialRecord) -> str:
    if t.value is None:  # failed, running or waiting: no score to show, whatever an attribute says
        return "-"
    mean, std = (t.user_attrs.get(k) for k in _SCORE_ATTRS)
    if isinstance(mean, (int, float)) and isinstance(std, (int, float)):
        return f"{mean:.4g} ± {std:.4g}"
    return fmt(mean) if isinstance(mean, (int, float)) else "-"


class ParamTable:
    """Rows of trials with their parameters: one column per parameter when that fits the
    console's width, else all parameters as ``name=value`` in one wrapped column."""

    def __init__(
        self,
        title: str,
        lead: Sequence[tuple[str, JustifyMethod]],
        tail: Sequence[tuple[str, JustifyMethod]],
        rows: Sequence[tuple[Sequence[str | Text], Mapping[str, Any], Sequence[str | Text]]],
        *,
        skip: str | None = None,
    ) -> None:
        self.title, self.lead, self.tail, self.rows = title, lead, tail, rows
        self.params = sorted({k for _, params, _ in rows for k in params if k != skip})

    def table(self) -> Table:
        """One column per parameter."""
        table = Table(title=self.title, title_justify="left", box=box.SIMPLE_HEAD)
        for name, justify in (*self.lead, *((p, "left") for p in self.params), *self.tail):
            table.add_column(escape(name), justify=justify, overflow="fold")
        for lead, params, tail in self.rows:
            table.add_row(*lead, *(fmt(params.get(p)) for p in self.params), *tail)
        return table

    def compact(self) -> FittedTable:
        """Every parameter as ``name=value`` in one column, each pair whole; the spread goes first when narrow."""
        cols = [*self.lead, ("parameters", "left"), *self.tail]
        rows = [[*lead, " ".join(f"{escape(p)}={fmt(params[p])}" for p in self.params if p in params), *tail]
                for lead, params, tail in self.rows]
        return FittedTable([escape(n) for n, _ in cols], rows, justify=[j for _, j in cols], title=self.title,
                           optional=["score"])

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = self.table()
        natural = Measurement.get(console, options.update_width(100_000), wide).maximum  # unclamped
        fits = natural <= options.max_width
        yield wide if fits else self.compact()


def trials_table(page: TrialPage) -> ParamTable:
    """``studies trials``: one row per trial with its parameters, score and findings."""
    rows: list[tuple[Sequence[str | Text], Mapping[str, Any], Sequence[str | Text]]] = [
        ([str(t.number), _state(t.state), fmt(t.value)], t.params, [_score(t), ", ".join(t.findings) or "-"])
        for t in page.trials
    ]
    title = f"{escape(page.study)}: {len(page.trials)} of {page.matched} matching trials"
    return ParamTable(title, [("#", "right"), ("state", "left"), ("value", "right")],
                      [("score", "left"), ("findings", "left")], rows)


def best_table(groups: Sequence[GroupBest], *, study: str) -> ParamTable:
    """``studies best``: the best trial, or the best per value of a parameter."""
    by = groups[0].by if groups else None
    lead: list[tuple[str, JustifyMethod]] = [(by, "left"), ("trials", "right")] if by else [("of trials", "right")]
    rows = [
        (
            ([fmt(g.group), str(g.n_trials)] if by else [str(g.n_trials)]) + [str(g.best.number), fmt(g.best.value)],
            g.best.params,
            [", ".join(g.best.findings) or "-"],
        )
        for g in groups
    ]
    title = f"{escape(study)}: best trial" + (f" per {escape(by)}" if by else "")
    return ParamTable(title, [*lead, ("#", "right"), ("value", "right")], [("findings", "left")], rows, skip=by)


def _spread_table(spreads: Sequence[FoldSpread]) -> FittedTable:
    n = max(len(s.scores) for s in spreads)
    rows = [[str(s.number), fmt(s.value), *(fmt(s.scores[i]) if i < len(s.scores) else "-" for i in range(n)),
             f"{fmt(s.mean)} ± {fmt(s.std)}"] for s in spreads]
    header = ["#", "value", *(f"fold {i}" for i in range(n)), "mean ± std"]
    return FittedTable(header, rows, justify=["right"] * len(header), title="per-fold validation score (best trials)")


def detail_view(d: StudyDetail) -> Group:
    """``studies show``: summary, best trial, importance chart, fold spread, findings."""
    s = d.summary
    states = ", ".join(f"{n} {k}" for k, n in sorted(s.states.items())) or "no trials"
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("study", fmt(s.name))
    head.add_row("direction", _direction(s))
    for key in ("task", "metric", "data_fingerprint", "splits_hash"):
        if key in d.user_attrs:
            head.add_row(key, fmt(d.user_attrs[key]))
    head.add_row("trials", f"{s.n_trials} ({states})")
    head.add_row("values", f"min {fmt(d.values.min)}  mean {fmt(d.values.mean)}  max {fmt(d.values.max)}"
                 f"  over {d.values.n} complete")
    head.add_row("last activity", "-" if s.last_activity is None else s.last_activity.isoformat(" ", "seconds"))
    parts: list[RenderableType] = [head]
    if d.best is not None:
        parts.append(Text(f"best trial: #{d.best.number}  value {fmt(d.best.value)}", style="bold"))
        params = [[escape(k), fmt(v)] for k, v in sorted(d.best.params.items())]
        parts.append(FittedTable(["parameter", "value"], params))
    imp = d.importance
    on = f", on {imp.n_trials:,} complete trials" if imp.n_trials else ""
    parts.append(Text(f"parameter importance (Optuna's evaluator{on})", style="bold"))
    if imp.conditional:
        listed = ", ".join(f"{escape(k)} on {n}" for k, n in imp.conditional.items())
        parts.append(Text(f"  not ranked, conditional (exist on some trials only): {listed}", style="dim"))
    if d.importance.values:
        parts.append(importance_bars(d.importance.values))
        for note in d.importance.notes:
            parts.append(Text(f"  note: {note}", style="dim"))
        if d.importance.n_trials < d.importance.n_complete:
            parts.append(Text(f"  on {d.importance.n_trials:,} of {d.importance.n_complete:,} complete trials, "
                              "evenly spaced (--importance-trials to change)", style="dim"))
    else:
        parts.append(Text(f"  not available: {d.importance.reason}", style="dim"))
    if d.spreads:
        parts.append(_spread_table(d.spreads))
    if d.findings is None:
        parts.append(Text("findings: none stored (no sweepdoctor tables: a plain Optuna study)", style="dim"))
    else:
        found = ", ".join(f"{code} x{n}" for code, n in d.findings.items()) or "none stored"
        parts.append(Text(f"findings (trials with each, as main finding or not): {found}"))
    if d.stops:
        stopped = ", ".join(f"{escape(k)} x{n}" for k, n in d.stops.items())
        parts.append(Text(f"stopped early (pruned trials, by what stopped them): {stopped}"))
    parts.extend(_guided_lines(d.guided))
    return Group(*parts)


def _guided_lines(rounds: Sequence[Mapping[str, Any]]) -> list[Text]:
    """A guided study's plan: per round, from which trial on, each edit and why."""
    lines = [Text("guided search: the space re-planned between rounds", style="bold")] if rounds else []
    for r in rounds:
        edits = r.get("edits") or []
        head = f"  round {r.get('round')} (from trial #{r.get('from_trial')}): "
        if not edits:
            lines.append(Text(head + "space kept", style="dim"))
        for e in edits:
            lines.append(Text(head + f"{e.get('param')} {e.get('before')} -> {e.get('after')}: {e.get('reason')}"))
        lines += [Text(f"  round {r.get('round')} next: {probe_text(p)}") for p in r.get("probes") or []]
        lines += [Text(f"  round {r.get('round')} note: {n}", style="dim") for n in r.get("notes") or []]
    return lines


def probe_text(probe: Mapping[str, Any]) -> str:
    """A guided round's repair probe as one line: what it changes in which trial, and why."""
    changes = probe.get("changes") or {}
    what = ", ".join(f"{k} {_short(v[0])} -> {_short(v[1])}" for k, v in changes.items()
                     if isinstance(v, (list, tuple)) and len(v) == 2)
    return f"{what}: {probe.get('reason')}"


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def compare_table(details: Sequence[StudyDetail]) -> FittedTable:
    """``studies compare``: one column per study, one row per figure."""
    rows: list[list[str | Text]] = []

    def row(label: str, cells: Sequence[str]) -> None:
        rows.append([Text(label, style="bold"), *cells])

    row("direction", [_direction(d.summary) for d in details])
    row("trials", [str(d.summary.n_trials) for d in details])
    row("complete", [str(d.summary.states.get("complete", 0)) for d in details])
    row("best value", [fmt(d.best.value) if d.best else "-" for d in details])
    row("best trial", [f"#{d.best.number}" if d.best else "-" for d in details])
    spread = [d.spreads[0] if d.spreads else None for d in details]
    row("best: fold mean ± std", [f"{fmt(s.mean)} ± {fmt(s.std)}" if s else "-" for s in spread])
    row("values min / mean / max", [f"{fmt(d.values.min)} / {fmt(d.values.mean)} / {fmt(d.values.max)}"
                                    for d in details])
    params = sorted({k for d in details for k in (d.importance.values or {})})
    for p in params:
        row(f"importance: {p}", [fmt_pct((d.importance.values or {}).get(p)) for d in details])
    if not params:
        row("importance", [d.importance.reason or "-" for d in details])
    for p in sorted({k for d in details if d.best for k in d.best.params}):
        row(f"best: {p}", [fmt(d.best.params.get(p)) if d.best else "-" for d in details])
    row("findings (trials with each, as main finding or not)",
        [", ".join(f"{c} x{n}" for c, n in d.findings.items()) if d.findings else "-" for d in details])
    header = ["", *(fmt(d.summary.name) for d in details)]
    return FittedTable(header, rows, justify=["left"] + ["right"] * len(details), title="comparison")


def fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"
