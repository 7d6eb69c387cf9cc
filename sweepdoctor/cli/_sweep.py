"""``sweepdoctor sweep``: run or resume a k-fold Optuna sweep."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import optuna
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sweepdoctor import sweep as lib
from sweepdoctor.cli._data_flags import data_options, data_overrides
from sweepdoctor.cli._render import echo_json, fmt, make_console
from sweepdoctor.diagnostics import RunState
from sweepdoctor.errors import ConfigError
from sweepdoctor.studies import mask_url, probe_text
from sweepdoctor.sweep.config import SweepConfig, load_config

if TYPE_CHECKING:  # the command imports torch when it runs, not for --help
    from sweepdoctor.sweep import SweepResult, TrialEvent

COMMANDS: list[click.Command] = []


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="A sweep TOML file (flags override it).")
@data_options
@click.option("--trials", type=int, help="Number of trials in the study (across all workers). [30]")
@click.option("--folds", type=int, help="Cross-validation folds. [5]")
@click.option("--repeats", type=int, help="Repeats of the k-fold split. [1]")
@click.option("--epochs", type=int, help="Epochs per trial (fewer if pruned or early-stopped). [20]")
@click.option("--loss", type=click.Choice(["cross_entropy", "mse"]), help="Training loss.")
@click.option("--metric", type=click.Choice(["accuracy", "log_loss", "rmse", "r2"]), help="The CV score to optimize.")
@click.option("--study", "study_name", help="Study name; the same name and storage resumes it.")
@click.option("--storage", help="SQLAlchemy URL [env SWEEPDOCTOR_STORAGE, else sqlite:///sweepdoctor.db].")
@click.option("--sampler", type=click.Choice(["tpe", "random", "gp", "cmaes"]), help="Optuna sampler. [tpe]")
@click.option("--pruner", type=click.Choice(["median", "doctor", "doctor+median", "hyperband", "none"]),
              help="Epoch-level pruner; doctor: stop trials the diagnosis says will not recover "
                   "(the manual's page Guided search); doctor+median: either rule stops a trial. "
                   "[doctor+median]")
@click.option("--no-prune", is_flag=True, help="Same as --pruner none.")
@click.option("--seed", type=int, help="Seed of the folds, the sampler and training. [0]")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where to train. [auto]")
@click.option("--threads", type=int, help="Torch threads per worker. [1; cores // N with --workers N]")
@click.option("--workers", type=int,
              help="Worker processes on this machine, one study (the manual's page Many workers). [1]")
@click.option("--heartbeat-interval", type=float, metavar="SECONDS",
              help="Seconds between a worker's heartbeats [env SWEEPDOCTOR_HEARTBEAT_INTERVAL, else 5].")
@click.option("--heartbeat-grace", type=float, metavar="SECONDS",
              help="A trial of another host without a heartbeat this long is retried (on this host: at once "
                   "when its process is gone) [env SWEEPDOCTOR_HEARTBEAT_GRACE, else 3 intervals].")
@click.option("--timeout", type=float, help="Stop asking for trials after this many seconds.")
@click.option("--sequential", is_flag=True, help="Train folds one after another instead of as one batched model.")
@click.option("--measure-apart/--measure-in-place", "overlap_eval", default=None,
              help="Measure each epoch in a helper process on a spare core while the next one trains, or in "
                   "this process. [apart when a core is spare, on the CPU]")
@click.option("--no-baselines", is_flag=True, help="Skip the reference models (the diagnostics need them).")
@click.option("--save-weights", is_flag=True, help="Keep each trial's best-fold weights (for diagnose --hessian).")
@click.option("--diagnose", is_flag=True, help="Diagnose each trial as it finishes, and the study at the end.")
@click.option("--guided/--no-guided", default=None,
              help="Re-plan the search space from the diagnosis every N trials (--guide-every; "
                   "the manual's page Guided search).")
@click.option("--guide-every", type=click.IntRange(min=2), help="Trials per round of a guided sweep. [8]")
@click.option("--refit", "refit_dir", is_flag=False, flag_value="refit", default=None,
              help="Train the best configuration on all data; save to DIR (default ./refit/<study>).")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary instead of tables.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; only the summary (or JSON).")
def sweep(**opts: Any) -> None:
    """Run (or resume) a k-fold Optuna sweep of a PyTorch MLP (tables) or CNN (images, sequences).

    The built-in model follows the data: an MLP for a table, a CNN for images (n, C, H, W)
    and sequences (n, C, L) (set [space] model = "mlp" | "cnn" to choose).

    \b
    Examples:
      sweepdoctor sweep --dataset digits --trials 30 --folds 5 --epochs 20
      sweepdoctor sweep --config sweep.toml
      sweepdoctor sweep --csv data.csv --target label --task classification
      sweepdoctor sweep --npz data.npz --npz-keys images,labels
      sweepdoctor sweep --images photos/ --image-size 32 --test-images photos-test/
    """
    cfg = _build_config(opts)
    _check_refit_dir(opts["refit_dir"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("sweepdoctor").setLevel(logging.ERROR)
    out = make_console()
    err = make_console(stderr=True)
    show_progress = not (opts["quiet"] or opts["as_json"]) and err.is_terminal
    events: list[TrialEvent] = []
    with _progress(err, cfg.study.trials, enabled=show_progress) as progress:
        task_id = progress.add_task("starting", total=cfg.study.trials)

        def on_trial(e: TrialEvent) -> None:
            events.append(e)
            verdict = _verdict(e)
            progress.update(task_id, completed=e.done,
                            description=f"best {fmt(e.best_value)}" + (f" · #{e.number} {verdict}" if verdict else ""))
            if not show_progress and not (opts["quiet"] or opts["as_json"]):
                err.print(f"trial {e.number}: {e.state} {fmt(e.value)}  (best {fmt(e.best_value)})"
                          + (f"  {verdict}" if verdict else ""), highlight=False, markup=False)

        def on_stage(msg: str) -> None:
            progress.update(task_id, description=msg)

        def on_plan(index: int, plan: Any) -> None:
            if opts["quiet"] or opts["as_json"]:
                return
            for line in _plan_lines(index, plan.to_dict()):
                err.print(line, highlight=False, markup=False)

        result = lib.run(cfg, on_trial=on_trial, on_stage=on_stage, on_plan=on_plan)
    if opts["refit_dir"] and result.best_params is not None and not result.interrupted:
        result = replace(result, refit_dir=str(_refit(cfg, result, opts["refit_dir"])))
    if opts["as_json"]:
        echo_json(result.to_dict())
    else:
        _print_summary(out, result, trials=cfg.study.trials)
        for line in [*_failed_lines(events), *_diagnosis_stops(events)]:
            out.print(line, highlight=False, markup=False)
    if result.interrupted:
        sys.exit(130)


COMMANDS.append(sweep)


def _build_config(o: dict[str, Any]) -> SweepConfig:
    cfg = data_overrides(load_config(o["config_path"]) if o["config_path"] else SweepConfig(), o)
    pruner = "none" if o["no_prune"] else o["pruner"]
    cfg = cfg.with_overrides(
        "study",
        name=o["study_name"],
        storage=o["storage"],
        trials=o["trials"],
        timeout=o["timeout"],
        sampler=o["sampler"],
        pruner=pruner,
        seed=o["seed"],
        workers=o["workers"],
        heartbeat_interval=o["heartbeat_interval"],
        heartbeat_grace=o["heartbeat_grace"],
        diagnose=True if o["diagnose"] else None,
        guided=o["guided"],
        guide_every=o["guide_every"],
    )
    cfg = cfg.with_overrides(
        "train",
        folds=o["folds"],
        repeats=o["repeats"],
        epochs=o["epochs"],
        loss=o["loss"],
        metric=o["metric"],
        device=o["device"],
        threads=o["threads"],
        vectorize=False if o["sequential"] else None,
        overlap_eval=o["overlap_eval"],
        baselines=False if o["no_baselines"] else None,
        save_weights=True if o["save_weights"] else None,
    )
    return cfg.validate()


def _check_refit_dir(target: str | None) -> None:
    """``--refit DIR`` must be a folder (or nothing yet): checked before the sweep writes anything."""
    if target is None:
        return
    for p in (Path(target), *Path(target).parents):
        if p.exists() and not p.is_dir():
            raise ConfigError(f"--refit: {str(p)!r} is a file, not a folder; pass another --refit DIR")


def _verdict(e: TrialEvent) -> str:
    """The trial's main finding as it lands (``sweep --diagnose``): ``warning overfitting (0.75)``."""
    if not e.findings:
        return ""
    f = e.findings[0]  # the diagnostics put the one to act on first
    return f"{f.severity.value} {f.code.value} ({f.confidence:.2f})"


def _failed_lines(events: list[TrialEvent], limit: int = 5) -> list[str]:
    """One line per failed trial: its reason, and its main finding when diagnosed."""
    failed = [e for e in events if e.state == RunState.FAIL]
    lines = [f"failed trials ({len(failed)}):"] if failed else []
    for e in failed[:limit]:
        reason = " ".join((e.reason or "no reason recorded").split())
        verdict = _verdict(e)
        lines.append(f"  trial {e.number}: {reason[:100]}" + (f" [{verdict}]" if verdict else ""))
    if len(failed) > limit:
        lines.append(f"  … {len(failed) - limit} more: sweepdoctor studies trials NAME --where state=fail")
    return lines


def _diagnosis_stops(events: list[TrialEvent], limit: int = 5) -> list[str]:
    """One line per trial the diagnosis pruner stopped (``--pruner doctor``): why."""
    stopped = [e for e in events if e.state == "pruned" and (e.reason or "").startswith("pruned by the diagnosis")]
    lines = [f"stopped by the diagnosis ({len(stopped)}):"] if stopped else []
    lines += [f"  trial {e.number}: {(e.reason or '').removeprefix('pruned by the diagnosis ')}"
              for e in stopped[:limit]]
    if len(stopped) > limit:
        lines.append(f"  … {len(stopped) - limit} more: each trial's user attribute stop_reason")
    return lines


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *_a: Any, **_k: Any) -> int:
        return 0

    def update(self, *_a: Any, **_k: Any) -> None:
        return None


def _progress(console: Console, total: int, *, enabled: bool) -> Any:
    if not enabled:
        return _NoProgress()
    return Progress(
        TextColumn("[bold]trials"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _refit(cfg: SweepConfig, result: SweepResult, target: str) -> Path:
    assert result.best_params is not None  # checked by the caller
    ds = lib.load_dataset(cfg.data, seed=cfg.study.seed)
    loss, metric = lib.resolve_task_settings(cfg, ds)
    out = Path("refit") / result.study_name if target == "refit" else Path(target)
    return lib.refit(ds, result.best_params, epochs=cfg.train.epochs, loss=loss, metric=metric, out_dir=out,
                     seed=cfg.study.seed, scale=cfg.data.scale, channels=cfg.data.channels)


def _plan_lines(index: int, plan: Any) -> list[str]:
    """A guided round's edits, one line each with its reason (or that the space was kept)."""
    edits, notes, probes = plan.get("edits", []), plan.get("notes", []), plan.get("probes", [])
    if not edits:
        lines = [f"guided round {index}: space kept" + (f" ({notes[0]})" if notes and not probes else "")]
    else:
        lines = [f"guided round {index}: {e['param']} {e['before']} -> {e['after']}: {e['reason']}" for e in edits]
    lines += [f"guided round {index}: next, {probe_text(p)}" for p in probes]
    return lines + [f"guided round {index}: note: {n}" for n in notes if edits or probes]


def _print_summary(console: Console, r: SweepResult, *, trials: int) -> None:
    head = "interrupted: " if r.interrupted else ""
    if r.resumed and not r.interrupted and r.n_complete + r.n_pruned + r.n_failed == 0:
        console.print(f"[bold]study {r.study_name}[/bold] already has its {trials} trials; none added "
                      "(raise --trials to add more)")
    else:
        console.print(
            f"[bold]{head}study {r.study_name}[/bold]: {r.n_complete} complete, {r.n_pruned} pruned, "
            f"{r.n_failed} failed in {r.seconds:.1f}s (training {r.train_seconds:.1f}s, "
            f"folds {r.training_path or '-'})"
        )
    if r.best_number is None:
        console.print("no complete trial yet")
    else:
        import numpy as np

        scores = np.asarray(r.best_fold_scores)
        console.print(f"[bold]best trial #{r.best_number}[/bold]: {r.metric} {fmt(r.best_value)}")
        t = Table(show_header=True)
        t.add_column("parameter")
        t.add_column("value", justify="right")
        for k, v in r.best_params_dict().items():
            t.add_row(k, fmt(v))
        console.print(t)
        folds = "  ".join(f"{fmt(float(s))}" for s in scores)
        console.print(f"per-fold {r.metric}: {folds}   mean {fmt(float(scores.mean()))} ± {fmt(float(scores.std()))}")
    if r.finding_counts():
        counts = r.finding_counts()
        console.print("findings (trials with each): " + ", ".join(f"{c} x{n}" for c, n in counts.items()))
    for entry in r.guided_rounds:
        for line in _plan_lines(int(entry.get("round", 0)), entry):
            console.print(line, highlight=False, markup=False)
    if r.refit_dir:
        console.print(f"refit model saved to {r.refit_dir}/model.pt (+ model.json)")
    console.print(f"stored in {mask_url(r.storage)} (study {r.study_name!r}); "
                  f"next: sweepdoctor diagnose --study {r.study_name}")
