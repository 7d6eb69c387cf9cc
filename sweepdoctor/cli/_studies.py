"""``sweepdoctor studies ...``: ask a study database questions from the terminal.

Thin: parse, call :class:`~sweepdoctor.studies.StudyDB`, render with rich (or print
JSON only with ``--json``). Errors travel to the one boundary in ``cli/__init__``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click
import optuna
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from sweepdoctor.cli._lazy import LazyGroup
from sweepdoctor.cli._render import context_console
from sweepdoctor.errors import ConfigError
from sweepdoctor.studies import (
    IMPORTANCE_TRIALS,
    STATES,
    CurveChart,
    StudyDB,
    best_table,
    compare_table,
    default_storage,
    detail_view,
    dumps_json,
    studies_table,
    study_document,
    trials_table,
    write_curves_csv,
    write_curves_png,
    write_trials_csv,
)

__all__ = ["COMMANDS", "studies"]

F = TypeVar("F", bound=Callable[..., Any])


def _common(f: F) -> F:
    """``--storage URL`` and ``--json`` on every command."""
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON only (for scripts).")(f)
    return click.option(
        "--storage",
        metavar="URL",
        default=None,
        help="Database URL (default: $SWEEPDOCTOR_STORAGE, else sqlite:///sweepdoctor.db).",
    )(f)


def _filters(f: F) -> F:
    f = click.option(
        "--state", "states", multiple=True, type=click.Choice(STATES), help="Only trials in this state (repeatable)."
    )(f)
    return click.option(
        "--where", "where", multiple=True, metavar="EXPR",
        help="NAME OP VALUE with OP one of = != < <= > >= (repeat: all must hold), e.g. optimizer=adam, lr>=1e-3.",
    )(f)


def _importance_options(f: F) -> F:
    f = click.option(
        "--importance-trials", default=IMPORTANCE_TRIALS, show_default=True, type=click.IntRange(0), metavar="N",
        help="Evaluate importance on at most N complete trials, evenly spaced (0: all).",
    )(f)
    return click.option(
        "--importance/--no-importance", default=True, help="Compute parameter importance (Optuna's evaluator)."
    )(f)


def _console() -> Console:
    return context_console(highlight=False)


def _open(storage: str | None) -> StudyDB:
    return StudyDB(storage or default_storage())


def _emit(doc: Any) -> None:
    click.echo(dumps_json(doc))


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna logs each in-memory study it makes at INFO; keep the terminal for our output."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        fh = open(path, "w", encoding="utf-8", newline="")
    except OSError as e:
        raise ConfigError(f"--output: cannot write {path!r}: {e.strerror}; check that its folder exists") from None
    with fh:
        yield fh


@click.group("studies", cls=LazyGroup, lazy={"doctor": "sweepdoctor.cli._studies_doctor:doctor"})
def studies() -> None:
    """Query, compare, plot, export and delete stored studies (SQLite, PostgreSQL, MySQL).

    \b
    sweepdoctor studies list
    sweepdoctor studies trials NAME --where "optimizer=adam" --where "lr>=1e-3" --sort value
    sweepdoctor studies curves NAME --trial 17 --png curves.png
    """


@studies.command("list")
@_common
def list_cmd(*, storage: str | None, as_json: bool) -> None:
    """Every study: direction, trials by state, best value, last activity."""
    with _open(storage) as db:
        found = db.list_studies()
        if as_json:
            _emit({"storage": db.url, "studies": [s.to_dict() for s in found]})
        elif not found:
            _console().print(f"no studies in {db.url}", markup=False)
        else:
            _console().print(studies_table(found, title=f"studies in {escape(db.url)}"))


@studies.command("show")
@click.argument("name")
@click.option("--top", default=5, show_default=True, type=click.IntRange(1), help="Best trials in the fold spread.")
@_importance_options
@_common
def show_cmd(
    *, name: str, top: int, importance: bool, importance_trials: int, storage: str | None, as_json: bool
) -> None:
    """Summary, best trial, parameter importance and per-fold spread of one study."""
    with _open(storage) as db, _quiet_optuna():
        detail = db.show(name, top=top, importance=importance, importance_trials=importance_trials or None)
    if as_json:
        _emit(detail.to_dict())
    else:
        _console().print(detail_view(detail))


@studies.command("trials")
@click.argument("name")
@_filters
@click.option("--finding", metavar="CODE", help="Only trials with this stored finding (e.g. overfitting).")
@click.option("--sort", metavar="KEY", help="value (best first), number or a parameter; prefix - to reverse.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="At most this many trials.")
@_common
def trials_cmd(
    *, name: str, where: tuple[str, ...], states: tuple[str, ...], finding: str | None, sort: str | None, limit: int,
    storage: str | None, as_json: bool,
) -> None:
    """Trials filtered, sorted and limited in the database."""
    with _open(storage) as db:
        page = db.trials(name, where=where, states=states, finding=finding, sort=sort, limit=limit)
    if as_json:
        _emit(page.to_dict())
    else:
        _console().print(trials_table(page))


@studies.command("best")
@click.argument("name")
@click.option("--by", metavar="PARAM", help="Best trial for each value of this parameter (e.g. optimizer).")
@click.option("--where", multiple=True, metavar="EXPR", help="Only trials where NAME OP VALUE holds (repeatable).")
@_common
def best_cmd(*, name: str, by: str | None, where: tuple[str, ...], storage: str | None, as_json: bool) -> None:
    """The best complete trial, or the best per value of a parameter."""
    with _open(storage) as db:
        groups = db.best(name, by=by, where=where)
    if as_json:
        _emit({"study": name, "by": by, "groups": [g.to_dict() for g in groups]})
    elif not groups:
        _console().print(f"{name}: no complete trial with a value", markup=False)
    else:
        _console().print(best_table(groups, study=name))


@studies.command("compare")
@click.argument("names", nargs=-1, required=True)
@_importance_options
@_common
def compare_cmd(
    *, names: tuple[str, ...], importance: bool, importance_trials: int, storage: str | None, as_json: bool
) -> None:
    """Two or more studies side by side: best, spread, importance."""
    with _open(storage) as db, _quiet_optuna():
        details = db.compare(names, importance=importance, importance_trials=importance_trials or None)
    if as_json:
        _emit({"studies": [d.to_dict() for d in details]})
    else:
        _console().print(compare_table(details))


@studies.command("curves")
@click.argument("name")
@click.option("--trial", type=int, help="Trial number (default: the best trial).")
@click.option("--run", "run_name", metavar="RUN",
              help="A stored run by name instead, e.g. a baseline: linear (or baseline-linear).")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), help="Also write the chart as a PNG.")
@click.option("--csv", "csv_path", metavar="FILE", help="Write the per-epoch numbers as CSV ('-': stdout).")
@_common
def curves_cmd(
    *, name: str, trial: int | None, run_name: str | None, png: Path | None, csv_path: str | None,
    storage: str | None, as_json: bool,
) -> None:
    """Mean train and validation loss per epoch with the per-fold spread (needs our curves)."""
    if trial is not None and run_name is not None:
        raise click.UsageError("pass --trial or --run, not both")
    if as_json and csv_path == "-":
        raise click.UsageError("--csv - and --json both write to stdout; pick one")
    with _open(storage) as db:
        curves = db.curves(name, trial=trial, run=run_name)
    if png is not None:
        write_curves_png(curves, png)
    if csv_path is not None:
        with _output(csv_path) as fh:
            write_curves_csv(curves, fh)
    if as_json:
        _emit(curves.to_dict() | {"png": None if png is None else str(png)})
    elif csv_path != "-":
        console = _console()
        what = curves.run if curves.trial_number is None else f"trial {curves.trial_number}"
        console.print(Text(f"{curves.study}: {what}", style="bold"))
        console.print(CurveChart(curves, width=max(20, min(80, console.width - 12))))
        for path in (png, csv_path):
            if path is not None:
                console.print(f"wrote {path}", markup=False)


@studies.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "history"]), default="csv", show_default=True)
@click.option("-o", "--output", metavar="FILE", help="Write here instead of stdout.")
@_filters
@_common
def export_cmd(
    *, name: str, fmt: str, output: str | None, where: tuple[str, ...], states: tuple[str, ...],
    storage: str | None, as_json: bool,
) -> None:
    """Every trial as CSV or JSON, or the stored curves as a sweepdoctor.history/1 document.

    The data goes to stdout (or --output); with --json and --output, a JSON receipt is printed.
    """
    if fmt == "history" and (where or states):
        raise click.UsageError("--where/--state select trials; the history export holds every stored run")
    with _open(storage) as db:
        if fmt == "history":
            text, n = db.history(name).dumps(), None
        else:
            page = db.trials(name, where=where, states=states)
            n = len(page.trials)
            if fmt == "json":
                text = dumps_json(study_document(db.summary(name), db.user_attrs(name), page))
    with _output(output) as fh:
        if fmt == "csv":
            write_trials_csv(page, fh)
        else:
            fh.write(text + "\n")
    if as_json and output not in (None, "-"):
        _emit({"study": name, "format": fmt, "trials": n, "output": output})


@studies.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_common
def delete_cmd(*, name: str, yes: bool, storage: str | None, as_json: bool) -> None:
    """Delete a study: Optuna's trials and our curves and findings. Asks first unless --yes."""
    with _open(storage) as db:
        summary = db.summary(name)
        if not yes:
            runs = "" if summary.n_runs is None else f", {summary.n_runs} runs with curves"
            click.confirm(
                f"Delete study {name!r} ({summary.n_trials} trials{runs}) from {db.url}?", abort=True, err=True
            )
        report = db.delete(name)
    if as_json:
        _emit(report.to_dict())
    else:
        _console().print(
            f"deleted {report.study!r}: {report.n_trials} trials, {report.n_runs} runs, {report.n_findings} findings",
            markup=False,
        )


COMMANDS: list[click.Command] = [studies]
