"""One trial in depth: its findings with every piece of evidence, a per-fold table, and its
curves (training and validation loss, gradient norm, learning rate) beside the references.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from sweepdoctor.diagnostics import _curves as c
from sweepdoctor.diagnostics._findings import Finding, Severity
from sweepdoctor.diagnostics._report import Report, RunReport, fold_scores
from sweepdoctor.diagnostics.view._charts import curve_rows
from sweepdoctor.diagnostics.view._fit import fitted_table
from sweepdoctor.diagnostics.view._lines import score_of

__all__ = ["TrialDetail", "fold_table"]

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "green"}


def _g(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return "-" if x is None else str(x)


def fold_table(r: RunReport, *, width: int = 200) -> Table:
    """Per fold: epochs, first/final training loss, best validation loss and its epoch (1..E),
    final validation loss, the fold's score (as stored: the number ``studies show`` and
    ``--json`` give), final gradient norm, test loss; the last two only where known and
    where the width lets them in (no number is ever cut: cells wrap whole)."""
    scores = fold_scores(r.run)
    rows = []
    for i, fold in enumerate(r.run.folds):
        train = c.finite(c.fold_curve(fold, "train_loss"))
        val = [(e.epoch, e.val_loss) for e in fold.epochs if e.val_loss is not None]
        best = min(val, key=lambda ev: ev[1]) if val else None
        grads = c.finite(c.fold_curve(fold, "grad_norm"))
        rows.append((
            str(i), str(len(fold.epochs)), _g(train[0] if train else None), _g(train[-1] if train else None),
            f"{best[1]:.4g} ({best[0] + 1})" if best else "-", _g(val[-1][1] if val else None),
            _g(scores[i]), _g(grads[-1] if grads else None), _g(fold.test_loss),
        ))
    cols = ["fold", "epochs", "train first", "train final", "val best (epoch)", "val final", "score",
            "grad final", "test loss"]
    keep = [k for k in range(len(cols)) if k < 7 or any(row[k] != "-" for row in rows)]
    if width < 100:  # a narrow terminal: the low-value columns go, the rest stays whole
        keep = [k for k in keep if cols[k] not in ("train first", "grad final")]
    return fitted_table([cols[k] for k in keep], [[row[k] for k in keep] for row in rows], available=width,
                        justify=["right"] * len(keep), title="per fold")


def _finding_block(f: Finding) -> Iterator[Text]:
    head = Text()
    head.append(f"{f.severity.value:<7} ", style=_STYLE[f.severity])
    head.append(f.code.value, style="bold")
    head.append(f"  confidence {f.confidence:.2f}  ({f.rule}; sweepdoctor rules {f.code.value})", style="dim")
    yield head
    yield Text(f"  {f.summary}")
    yield Text.assemble(("  advice: ", "dim"), f.advice)
    evidence = ", ".join(f"{k}={_g(v)}" for k, v in f.evidence.items() if v is not None)
    yield Text.assemble(("  evidence: ", "dim"), evidence)


@dataclass(frozen=True)
class TrialDetail:
    """Everything about one run of a diagnosed history (a rich renderable)."""

    report: Report
    name: str

    @property
    def run_report(self) -> RunReport:
        for r in self.report.runs:
            if r.run.name == self.name:
                return r
        raise KeyError(f"no run named {self.name!r} in this report")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        r = self.run_report
        run = r.run
        hp = ", ".join(f"{k}={_g(v)}" for k, v in run.hyperparameters.items())
        score = score_of(run)
        yield Text.assemble((run.name, "bold"), f"  {run.state or '-'}, score {_g(score)}, "
                            f"{len(run.folds)} folds, {max(len(f.epochs) for f in run.folds)} epochs")
        yield Text(hp, style="dim")
        yield Text("findings (main first):", style="bold")
        for f in r.findings:
            yield from _finding_block(f)
        yield fold_table(r, width=options.max_width)
        yield Text("curves beside the references (fold means; the same scale in each panel):", style="bold")
        yield curve_rows(run, self.report.history.baselines, width=min(60, max(8, options.max_width - 70)),
                         available=options.max_width)
