"""``diagnose --history FILE --suggest``: the next configuration to try, as a TOML snippet."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from sweepdoctor.diagnostics import History, Report

__all__ = ["print_suggestions", "suggestions"]


def suggestions(history: History, report: Report) -> dict[str, Any]:
    """Each candidate run's :class:`~sweepdoctor.sweep.Suggestion`, by run name."""
    from sweepdoctor.sweep import suggest_next

    found = {}
    for run in history.candidates:
        codes = {f.code for f in report.for_run(run.name)}
        epochs = max((len(f.epochs) for f in run.folds), default=None)
        found[run.name] = suggest_next(run.hyperparameters, codes, epochs=epochs)
    return found


def print_suggestions(console: Console, found: dict[str, Any]) -> None:
    for name, s in found.items():
        console.print(f"# next run after {name}" + ("" if s.changes else ": nothing to change"), highlight=False,
                      markup=False)
        if s.changes or s.notes:
            console.print(s.to_toml(), highlight=False, markup=False, end="")
