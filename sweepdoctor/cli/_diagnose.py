"""``sweepdoctor diagnose``: findings for a stored study or a history file (RULES.md).

With ``--hessian`` the saved weights of a trial (``sweep --save-weights``) are rebuilt
into the built-in MLP and analysed on the training rows of the fold they come from;
the data is loaded again from where the study says it came from (or from
``--dataset``/``--csv``/``--config``, given as for the sweep) and checked against the
study's fingerprint.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import click
from rich.console import Console

from sweepdoctor import diagnostics
from sweepdoctor.cli._render import context_console, echo_json
from sweepdoctor.cli._suggest import print_suggestions, suggestions
from sweepdoctor.diagnostics import (
    FindingCode,
    HessianReport,
    History,
    Report,
    StudySummary,
    Thresholds,
    TrialDetail,
    write_curves_png,
)
from sweepdoctor.errors import ConfigError

COMMANDS: list[click.Command] = []

_CODES = ", ".join(c.value for c in FindingCode)


def _fail_on(raw: str | None) -> set[FindingCode]:
    codes: set[FindingCode] = set()
    for part in (raw or "").split(","):
        name = part.strip()
        if not name:
            continue
        try:
            codes.add(FindingCode(name))
        except ValueError:
            raise ConfigError(f"--fail-on: unknown finding code {name!r}; valid codes: {_CODES}") from None
    return codes


def _thresholds(pairs: Sequence[str]) -> Thresholds | None:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--threshold: expected KEY=VALUE, got {pair!r}")
        values[key.strip()] = value.strip()
    return Thresholds.from_mapping(values) if values else None


def _console() -> Console:
    return context_console(soft_wrap=False)


def _check_options(o: dict[str, Any]) -> None:
    if (o["study"] is None) == (o["history"] is None):
        raise ConfigError("diagnose: give exactly one of --study NAME or --history FILE")
    if o["trial"] is not None and o["study"] is None:
        raise ConfigError("--trial needs --study (a history file has no trial numbers)")
    if o["hessian"] and o["study"] is None:
        raise ConfigError("--hessian needs --study (it reads the trial's saved weights)")
    if o["worst"] is not None and o["worst"] < 1:
        raise ConfigError(f"--worst must be at least 1, got {o['worst']}")
    if o["png"] and o["trial"] is None:
        raise ConfigError("--png draws one trial's curves: give --trial N too")


# ---- Hessian of stored trials ---------------------------------------------------------


def _hessians(o: dict[str, Any], url: str) -> tuple[dict[str, HessianReport], dict[str, float]]:
    """The Hessians of the study's saved weights; the data as the flags say, else as the study says."""
    from sweepdoctor import sweep

    data, seed = None, o["seed"]
    if o["config"] or o["dataset"] or o["csv"]:
        cfg = sweep.load_config(o["config"]) if o["config"] else sweep.SweepConfig()
        data = cfg.data
        if o["dataset"] or o["csv"]:
            data = replace(data, dataset=o["dataset"], csv=o["csv"], target=o["target"] or data.target)
        seed = cfg.study.seed if seed is None else seed
    return sweep.study_hessians(url, o["study"], trial=o["trial"], data=data, seed=seed)


# ---- the command ----------------------------------------------------------------------


def _print_report(console: Console, report: Report, o: dict[str, Any]) -> None:
    """The study in a minute; with --trial that trial in depth (and --png); --all adds every finding."""
    if o["trial"] is not None:
        name = f"trial-{o['trial']}"
        console.print(TrialDetail(report, name))
        if o["png"]:
            run = next(r.run for r in report.runs if r.run.name == name)
            path = write_curves_png(run, report.history.baselines, o["png"])
            console.print(f"curves written to {path}")
        return
    title = f"study {o['study']}" if o["study"] else str(o["history"])
    console.print(StudySummary(report, title=title, everything=o["everything"]))
    if o["everything"]:
        console.print(report)


def _check_study(url: str, name: str, trial: int | None) -> None:
    """The database, the study, its curves and the trial exist: checked by reading, before
    diagnosing writes anything (a SQLite path that does not exist is not a new database)."""
    from sweepdoctor.errors import TrialNotFoundError
    from sweepdoctor.studies import StudyDB

    with StudyDB(url) as db:
        if not db.summary(name).n_runs:
            return  # plain Optuna: diagnosed from the values its trials reported (diagnose_study says if none)
        if trial is not None:
            try:
                db.curves(name, trial=trial)
            except TrialNotFoundError as e:  # no such study, or no curves at all: said as it is
                which = f"; {e.available}" if e.available else ""
                raise TrialNotFoundError(f"storage: study {name!r} has no stored trial {trial}{which}",
                                         available=e.available) from None


def _from_study(o: dict[str, Any], th: Thresholds | None) -> tuple[Report, dict[str, HessianReport]]:
    from sweepdoctor.studies import default_storage, diagnose_study

    url = o["storage"] or default_storage()
    _check_study(url, o["study"], o["trial"])
    hessians, sharpness = _hessians(o, url) if o["hessian"] else ({}, {})
    report = diagnose_study(url, o["study"], thresholds=th, trial=o["trial"], hessians=hessians, sharpness=sharpness)
    return report, hessians


@click.command()
@click.option("--study", help="A stored study to diagnose (every trial, or --trial N).")
@click.option("--trial", type=int, help="Only this trial of --study, in depth.")
@click.option("--storage", help="SQLAlchemy URL [env SWEEPDOCTOR_STORAGE, else sqlite:///sweepdoctor.db].")
@click.option("--history", type=click.Path(dir_okay=False), help="A sweepdoctor.history/1 JSON file instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (and nothing else) on stdout.")
@click.option("--fail-on", help="Exit 1 when any of these comma-separated finding codes is found.")
@click.option("--worst", type=int, metavar="N",
              help="Show only the N worst candidate runs, ranked by severity (their worst finding: error, then "
                   "warning, then note; divergence first among equals, then the most problems), not by score.")
@click.option("--all", "everything", is_flag=True, help="Every trial's row and every finding in full.")
@click.option("--png", type=click.Path(dir_okay=False), help="--trial: its curves beside the references', as a PNG.")
@click.option("--hessian", is_flag=True, help="Hessian analysis of saved weights (sweep --save-weights).")
@click.option("--threshold", "thresholds", multiple=True, metavar="KEY=VALUE", help="Override a rule threshold.")
@click.option("--config", type=click.Path(dir_okay=False), help="--hessian: the sweep TOML (for its data).")
@click.option("--dataset", help="--hessian: the sweep's built-in dataset.")
@click.option("--csv", help="--hessian: the sweep's CSV file.")
@click.option("--target", help="--hessian: the CSV's target column.")
@click.option("--seed", type=int, help="--hessian: the sweep's seed (folds, generated data). [0]")
@click.option("--suggest", is_flag=True,
              help="The next configuration to try after each run, as a TOML [space]/[train] snippet with the reasons.")
def diagnose(**o: Any) -> None:
    """Diagnose training: overfitting, optimization failure, divergence, ... (the rules: sweepdoctor rules).

    \b
    Examples:
      sweepdoctor diagnose --study digits-mlp
      sweepdoctor diagnose --study digits-mlp --trial 17 --hessian --dataset digits
      sweepdoctor diagnose --history run.json --json --fail-on divergence,overfitting
      sweepdoctor diagnose --history run.json --suggest > next.toml
      sweepdoctor diagnose --study plain --storage sqlite:///plain.db   (plain Optuna: its reported values)
    """
    fail_codes = _fail_on(o["fail_on"])
    th = _thresholds(o["thresholds"])
    _check_options(o)
    if o["study"] is not None:
        report, hessians = _from_study(o, th)
        history = report.history
    else:
        history = History.load(o["history"])
        report, hessians = diagnostics.diagnose(history, thresholds=th), {}
    report = replace(report, worst=o["worst"])
    if o["suggest"] and not o["as_json"]:
        print_suggestions(history, suggestions(history, report))
    elif o["as_json"]:
        doc = report.to_dict()
        if hessians:
            doc["hessian"] = {name: h.to_dict() for name, h in hessians.items()}
        if o["suggest"]:
            doc["suggest"] = {name: s.to_dict() for name, s in suggestions(history, report).items()}
        echo_json(doc)
    else:
        console = _console()
        _print_report(console, report, o)
        for name, h in hessians.items():
            console.print(f"[bold]Hessian of {name}[/bold]: {h.kind.value}, {h.method} over {h.n_params} "
                          f"parameters, eigenvalues {h.min_eigenvalue:.4g} … {h.sharpness:.4g}, "
                          f"minimum ratio {h.minimum_ratio:.3f}, gradient norm {h.grad_norm:.3g}")
    if fail_codes and report.has_any(fail_codes):
        sys.exit(1)


COMMANDS.append(diagnose)
