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

from rich.console import Console, ConsoleOptions, RenderResult
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


def _row(r: RunReport, width: int) -> Text:
    f = r.findings[0]
    sev, style = _SEV[f.severity]
    score = score_of(r.run)
    text = Text(f"{run_label(r.run):>6}  {'-' if score is None else f'{score:.4g}':>7}  {r.run.state or '-':<8} ")
    text.append(f"{sev:<5}", style=style)
    text.append(f" {f.confidence:4.2f}  ")
    text.append(evidence_line(f))
    text.truncate(width, overflow="ellipsis")
    return text


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

    def _table(self, width: int) -> Iterator[Text]:
        runs = self.report.worst_runs(self.report.worst)
        groups = _groups(runs)
        problems = [g for g in groups if g[0] is not FindingCode.HEALTHY]
        cap = None if self.everything else max(3, _ROWS // max(1, len(problems)))
        if len(runs) < len(self.report.candidates):
            yield Text(f"the worst {len(runs)} of {len(self.report.candidates)} candidate runs:", style="bold")
        yield Text(f"{'trial':>6}  {'score':>7}  {'state':<8} {'sev':<5} {'conf':>4}  main finding's evidence",
                   style="bold")
        for code, rows in groups:
            n_err = sum(1 for r in rows if r.findings[0].severity is Severity.ERROR)
            head = Text(f"── {code.value}: {len(rows)} trial(s)", style="bold")
            head.append(f" ({n_err} error)" if n_err else "")
            head.append(f"  · sweepdoctor rules {code.value}", style="dim")
            yield head
            if code is FindingCode.HEALTHY and not self.everything:
                line = Text("       " + " ".join(run_label(r.run) for r in rows))
                line.truncate(width, overflow="ellipsis")
                yield line
                continue
            shown = rows if cap is None else rows[:cap]
            for r in shown:
                yield _row(r, width)
            if len(shown) < len(rows):
                yield Text(f"       … {len(rows) - len(shown)} more (--all)", style="dim")

    def _tail(self, width: int) -> Iterator[Text]:
        report = self.report
        if report.patterns:
            yield Text("where in the search space:", style="bold")
            for p in report.patterns[: None if self.everything else 4]:
                yield Text(f"  • {p.summary}")
        for f in report.study_findings:
            line = Text(f"study: {f.severity.value} {f.code.value}: {f.summary}")
            line.truncate(width * 2, overflow="ellipsis")
            yield line
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
    return "-" if x is None else f"{x:.3g}"


def severity_counts(findings: list[Finding]) -> dict[tuple[str, str], int]:
    """(code, severity) → how many: the tally a closing note needs."""
    return dict(Counter((f.code.value, f.severity.value) for f in findings))
