"""A study's diagnosis read in a minute: one table grouped by main finding, where in the
search space, the three most useful actions.

Every trial is one line (trial, score, state, severity, confidence, one line of
evidence) under the group of its main finding (the first of its findings). By default
healthy trials are one line of trial numbers and each problem group shows its first
rows (at most ~60 lines for 30 trials); ``everything`` shows every row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from sweepdoctor.diagnostics import _curves as c
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._grading import PRIORITY
from sweepdoctor.diagnostics._report import Report, RunReport
from sweepdoctor.diagnostics.view._actions import actions
from sweepdoctor.diagnostics.view._lines import evidence_line, run_label, score_of

__all__ = ["StudySummary"]

_SEV = {Severity.ERROR: ("error", "bold red"), Severity.WARNING: ("warn", "yellow"), Severity.INFO: ("info", "green")}
_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
_ROWS = 34  # rows of trials shown by default, over all groups


def _groups(runs: list[RunReport]) -> list[tuple[FindingCode, list[RunReport]]]:
    by: dict[FindingCode, list[RunReport]] = {}
    for r in runs:
        by.setdefault(r.findings[0].code, []).append(r)
    for code, rows in by.items():
        if code is FindingCode.HEALTHY:  # one line of trial numbers: in number order
            rows.sort(key=lambda r: (len(r.run.name), r.run.name))
        else:
            rows.sort(key=lambda r: (_RANK[r.findings[0].severity], -r.findings[0].confidence))
    def key(item: tuple[FindingCode, list[RunReport]]) -> tuple[bool, int, int]:
        code, rows = item
        return code is FindingCode.HEALTHY, min(_RANK[r.findings[0].severity] for r in rows), PRIORITY.index(code)
    return sorted(by.items(), key=key)


# (header, width, justify) of the fixed columns; the evidence takes the rest and wraps
_COLUMNS = (("trial", 6, "right"), ("score", 7, "right"), ("state", 8, "left"), ("sev", 5, "left"),
            ("conf", 4, "right"))


def _columns(width: int) -> list[tuple[str, int, str]]:
    """The fixed columns that fit: below 70 characters the state (the least read) goes."""
    return [c for c in _COLUMNS if width >= 70 or c[0] != "state"]


def _table(width: int, *, header: bool) -> Table:
    table = Table(box=None, show_header=header, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    for name, size, justify in _columns(width):
        table.add_column(name, width=size, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("main finding's evidence", ratio=1, overflow="fold")
    return table


def _cells(r: RunReport, width: int) -> list[Text | str]:
    f = r.findings[0]
    sev, style = _SEV[f.severity]
    score = score_of(r.run)
    values: dict[str, Text | str] = {
        "trial": run_label(r.run), "score": "-" if score is None else f"{score:.4g}", "state": r.run.state or "-",
        "sev": Text(sev, style=style), "conf": f"{f.confidence:.2f}",
    }
    return [values[name] for name, _, _ in _columns(width)] + [evidence_line(f)]


@dataclass(frozen=True)
class StudySummary:
    """The short report of a diagnosed study (a rich renderable)."""

    report: Report
    title: str = "study"
    everything: bool = False

    def _head(self) -> Iterator[Text]:
        runs = self.report.candidates
        states = Counter(r.run.state or "unknown" for r in runs)
        h = self.report.history
        yield Text.assemble((f"{self.title}", "bold"), f": {len(runs)} trials (",
                            ", ".join(f"{n} {s}" for s, n in states.most_common()),
                            f"); {h.task.value}, loss {h.loss}")
        refs = []
        for b in h.baselines:
            train = c.mean([c.finite(c.fold_curve(f, "train_loss"))[-1] for f in b.folds
                            if c.finite(c.fold_curve(f, "train_loss"))])
            val = c.mean([min(c.finite(c.fold_curve(f, "val_loss")), default=None) for f in b.folds])
            refs.append(f"{b.name} train {_g(train)} val {_g(val)}")
        if refs:
            yield Text("references (final): " + " · ".join(refs), style="dim")

    def _table(self, width: int) -> Iterator[RenderableType]:
        runs = self.report.worst_runs(self.report.worst)
        groups = _groups(runs)
        problems = [g for g in groups if g[0] is not FindingCode.HEALTHY]
        cap = None if self.everything else max(3, _ROWS // max(1, len(problems)))
        if len(runs) < len(self.report.candidates):
            yield Text(f"the worst {len(runs)} of {len(self.report.candidates)} candidate runs, ranked by their "
                       "worst finding's severity (then divergence first, then the number of problems):", style="bold")
        yield _table(width, header=True)
        in_all = self.report.counts()
        for code, rows in groups:
            n_err = sum(1 for r in rows if r.findings[0].severity is Severity.ERROR)
            others = in_all.get(code.value, len(rows)) - len(rows)
            head = Text(f"── {code.value}: main finding of {len(rows)} trial(s)", style="bold")
            head.append(f", {n_err} of them error(s)" if n_err else "")
            head.append(f"; found in {others} more as a secondary finding" if others > 0 else "")
            head.append(f"  · sweepdoctor rules {code.value}", style="dim")
            yield head
            if code is FindingCode.HEALTHY and not self.everything:
                yield Text("       " + " ".join(run_label(r.run) for r in rows))
                continue
            shown = rows if cap is None else rows[:cap]
            table = _table(width, header=False)
            for r in shown:
                table.add_row(*_cells(r, width))
            yield table
            if len(shown) < len(rows):
                yield Text(f"       … {len(rows) - len(shown)} more (--all)", style="dim")

    def _tail(self, width: int) -> Iterator[Text]:
        report = self.report
        if report.patterns:
            yield Text("where in the search space:", style="bold")
            for p in report.patterns[: None if self.everything else 4]:
                yield Text(f"  • {p.summary}")
        for f in report.study_findings:
            yield Text(f"study: {f.severity.value} {f.code.value}: {f.summary}")
        todo = actions(report)
        if todo:
            yield Text("the most useful actions:", style="bold")
            for i, a in enumerate(todo, 1):
                yield Text(f"  {i}. {a}")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        yield from self._head()
        yield from self._table(width)
        yield from self._tail(width)
        if not self.everything:
            yield Text("more: diagnose --trial N (curves, folds, all evidence) · --all (every row and finding) · "
                       "sweepdoctor rules CODE", style="dim")


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def severity_counts(findings: list[Finding]) -> dict[tuple[str, str], int]:
    """(code, severity) → how many: the tally a closing note needs."""
    return dict(Counter((f.code.value, f.severity.value) for f in findings))
