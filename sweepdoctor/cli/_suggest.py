"""``diagnose --history FILE --suggest``: the next configuration to try, as one TOML document.

However many candidate runs the history holds, the output is one document that
``sweepdoctor sweep --config`` reads: the tables of the run with the lowest validation
loss, every other run's suggestion as comments. It is written as plain text (no
console wrapping), so a long reason stays on its comment line in a pipe or a file.
"""

from __future__ import annotations

import math
from typing import Any

import click

from sweepdoctor.diagnostics import History, Report, RunHistory
from sweepdoctor.errors import ConfigError

__all__ = ["print_suggestions", "suggestion_text", "suggestions"]


def suggestions(history: History, report: Report) -> dict[str, Any]:
    """Each candidate run's :class:`~sweepdoctor.sweep.Suggestion`, by run name."""
    from sweepdoctor.sweep import suggest_next

    found = {}
    for run in history.candidates:
        codes = {f.code for f in report.for_run(run.name)}
        epochs = max((len(f.epochs) for f in run.folds), default=None)
        try:
            found[run.name] = suggest_next(run.hyperparameters, codes, epochs=epochs)
        except ConfigError as e:
            raise ConfigError(f"run {run.name!r}: hyperparameters: {e}") from None
    return found


def _best_val_loss(run: RunHistory) -> float | None:
    """The mean over folds of each fold's lowest finite validation loss (None if a fold has none)."""
    per_fold = []
    for fold in run.folds:
        losses = [e.val_loss for e in fold.epochs if e.val_loss is not None and math.isfinite(e.val_loss)]
        if not losses:
            return None
        per_fold.append(min(losses))
    return sum(per_fold) / len(per_fold) if per_fold else None


def _chosen(history: History) -> tuple[RunHistory, str]:
    """The run the suggestion is about, and why it was chosen."""
    runs = history.candidates
    if len(runs) == 1:
        return runs[0], "the history's one candidate run"
    scored = [(loss, i) for i, r in enumerate(runs) if (loss := _best_val_loss(r)) is not None]
    if not scored:
        return runs[-1], f"the last of {len(runs)} candidate runs (none has a validation loss)"
    loss, i = min(scored)
    return runs[i], f"the lowest validation loss ({loss:.4g}) of {len(runs)} candidate runs"


def _missing_text(name: str, s: Any) -> str:
    wanted = ", ".join(f'"{k}": ...' for k in s.missing)
    return (f"cannot suggest edits after {name} without its hyperparameters: add "
            f'"hyperparameters": {{{wanted}}} to run {name!r} in the history file')


def _short(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _one_line(name: str, s: Any) -> str:
    """A run's suggestion as one comment line."""
    if s.missing and not s.changes:
        return f"# {_missing_text(name, s)}"
    if not s.changes:
        return f"# after {name}: nothing to change"
    edits = "; ".join(f"{k} = {_short(v)} ({s.reasons[k]})" for k, v in s.changes.items())
    return f"# after {name}: {edits}"


def suggestion_text(history: History, found: dict[str, Any]) -> str:
    """One TOML document: the chosen run's tables, the other runs' suggestions as comments."""
    if not found:
        return "# no candidate run in the history: nothing to suggest\n"
    run, why = _chosen(history)
    s = found[run.name]
    lines = [s.to_toml(header=f"the next run to try after {run.name}, {why} (sweepdoctor diagnose --suggest)")]
    if s.missing:
        lines.append(f"# {_missing_text(run.name, s)}\n")
    elif not s.changes:
        lines.append(f"# {run.name}: nothing to change\n")
    others = [_one_line(name, o) for name, o in found.items() if name != run.name]
    if others:
        lines.append("# the other runs (not applied above):\n" + "\n".join(others) + "\n")
    return "".join(lines)


def print_suggestions(history: History, found: dict[str, Any]) -> None:
    """The document on stdout as plain text; a run that lacks hyperparameters also gets a line on stderr."""
    click.echo(suggestion_text(history, found), nl=False)
    run, _ = _chosen(history) if found else (None, "")
    if run is not None and found[run.name].missing:
        click.echo(f"note: {_missing_text(run.name, found[run.name])}", err=True)

