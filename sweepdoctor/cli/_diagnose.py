"""``sweepdoctor diagnose``: findings for a stored study or a history file (RULES.md).

With ``--hessian`` the saved weights of a trial (``sweep --save-weights``) are rebuilt
into the built-in MLP and analysed on the training rows of the fold they come from;
the data is loaded again from where the study says it came from (or from
``--dataset``/``--csv``/``--config``, given as for the sweep) and checked against the
study's fingerprint.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import torch
from rich.console import Console

from sweepdoctor import diagnostics
from sweepdoctor.cli._render import context_console, echo_json
from sweepdoctor.diagnostics import FindingCode, HessianReport, History, Report, Thresholds
from sweepdoctor.errors import ConfigError, StorageError

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


# ---- Hessian of stored trials ---------------------------------------------------------


def _study_attrs(url: str, study: str) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        s = optuna.load_study(study_name=study, storage=url)
    except KeyError:
        raise StorageError(f"storage: no study named {study!r}") from None
    from sweepdoctor.sweep._study import DATA_SOURCE_ATTR, STUDY_ATTR

    fp = s.user_attrs.get(STUDY_ATTR)
    if not isinstance(fp, dict):
        raise ConfigError(f"--hessian: study {study!r} was not made by 'sweepdoctor sweep' (no fingerprint)")
    return {**fp, "_source": s.user_attrs.get(DATA_SOURCE_ATTR)}


def _load_data(o: dict[str, Any], fp: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The sweep's dataset and folds, checked against the study's fingerprint."""
    from sweepdoctor.sweep import SweepConfig, load_config, load_dataset, make_splits, splits_hash
    from sweepdoctor.sweep._config import DataConfig

    cfg = load_config(o["config"]) if o["config"] else SweepConfig()
    data: DataConfig = cfg.data
    seed = cfg.study.seed
    source = fp.get("_source")
    if not (o["config"] or o["dataset"] or o["csv"]) and isinstance(source, dict):
        # the study says where its data came from
        seed = int(source.get("seed", seed))
        data = DataConfig(**{k: v for k, v in source.items() if k in DataConfig.__dataclass_fields__})
    if o["dataset"] or o["csv"]:
        data = replace(data, dataset=o["dataset"], csv=o["csv"], target=o["target"] or data.target)
    seed = o["seed"] if o["seed"] is not None else seed
    ds = load_dataset(data, seed=seed)
    if ds.fingerprint() != fp.get("data"):
        raise ConfigError(
            "--hessian: this data is not the data the study was swept on; pass the same "
            "--dataset/--csv/--target/--config (and --seed) as the sweep"
        )
    splits = make_splits(ds.y, ds.task, n_splits=int(fp["folds"]), n_repeats=int(fp.get("repeats", 1)), seed=seed)
    if splits_hash(splits) != fp.get("splits"):
        raise ConfigError(f"--hessian: the folds differ from the study's; pass the sweep's --seed (got {seed})")
    return ds, splits


def _loss_fn(task: str, loss: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    from sweepdoctor.diagnostics import Task
    from sweepdoctor.sweep._optim import row_loss

    t = Task(task)
    return lambda out, y: row_loss(out.unsqueeze(0), y.unsqueeze(0), t, loss).mean()


def _trial_hessian(path: Path, ds: Any, splits: list[Any], fp: dict[str, Any], *, full: bool) -> HessianReport | float:
    """Rebuild trial weights into the built-in MLP; its Hessian on its fold's training rows."""
    from sweepdoctor.sweep import build_mlp, prepare_folds

    saved = torch.load(path, weights_only=True)
    if not saved.get("builtin"):
        raise ConfigError(
            f"--hessian: {str(path)!r} holds a custom model; load it yourself and call "
            "sweepdoctor.diagnostics.hessian_analysis(model, loss_fn, X, y)"
        )
    hp = saved["hyperparameters"]
    model = build_mlp(int(saved["n_inputs"]), int(saved["n_outputs"]), depth=int(hp["depth"]),
                      width=int(hp["width"]), activation=str(hp["activation"]), dropout=float(hp["dropout"]))
    model.load_state_dict(saved["state_dict"])
    fold = int(saved["fold"])
    data = prepare_folds(ds, [splits[fold]], torch.device("cpu"))
    rows = data.train_idx[0, : data.train_n[0]]
    X, y = data.X[0, rows], data.Y[0, rows]
    loss_fn = _loss_fn(str(fp["task"]), str(fp["loss"]))
    if full:
        return diagnostics.hessian_analysis(model, loss_fn, X, y)
    return diagnostics.top_eigenvalue(model, loss_fn, X, y)


def _hessians(
    o: dict[str, Any], url: str, history: History
) -> tuple[dict[str, HessianReport], dict[str, float]]:
    from sweepdoctor.sweep._weights import weights_dir

    folder = weights_dir(url, o["study"])
    if o["trial"] is not None:
        path = folder / f"trial-{o['trial']}.pt"
        if not path.is_file():
            raise ConfigError(
                f"--hessian: no saved weights for trial {o['trial']} of study {o['study']!r} (looked for "
                f"{str(path)!r}); re-run the sweep with --save-weights"
            )
        fp = _study_attrs(url, o["study"])
        ds, splits = _load_data(o, fp)
        report = _trial_hessian(path, ds, splits, fp, full=True)
        assert isinstance(report, HessianReport)  # full=True returns the report
        return {f"trial-{o['trial']}": report}, {}
    paths = {r.name: folder / f"{r.name}.pt" for r in history.candidates}
    paths = {name: p for name, p in paths.items() if p.is_file()}
    if not paths:
        raise ConfigError(
            f"--hessian: no saved weights for study {o['study']!r} in {str(folder)!r}; "
            "re-run the sweep with --save-weights"
        )
    fp = _study_attrs(url, o["study"])
    ds, splits = _load_data(o, fp)
    sharp = {name: _trial_hessian(p, ds, splits, fp, full=False) for name, p in paths.items()}
    return {}, {k: float(v) for k, v in sharp.items() if isinstance(v, float)}


# ---- the command ----------------------------------------------------------------------


def _from_study(o: dict[str, Any], th: Thresholds | None) -> tuple[Report, dict[str, HessianReport]]:
    from sweepdoctor.studies import Store, default_storage

    url = o["storage"] or default_storage()
    store = Store(url)
    numbers = [o["trial"]] if o["trial"] is not None else None
    history, run_ids = store.load_history(o["study"], trial_numbers=numbers)
    if o["trial"] is not None and f"trial-{o['trial']}" not in {r.name for r in history.candidates}:
        raise StorageError(f"storage: study {o['study']!r} has no stored trial {o['trial']}")
    hessians, sharpness = _hessians(o, url, history) if o["hessian"] else ({}, {})
    report = diagnostics.diagnose(history, thresholds=th, hessians=hessians, sharpness=sharpness)
    # One trial cannot speak for the study: keep the stored study-level findings then.
    findings = [f for f in report.findings if f.run is not None or o["trial"] is None]
    store.replace_findings(study_id=store.study_id(o["study"]), findings=findings, run_ids=run_ids)
    return report, hessians


@click.command()
@click.option("--study", help="A stored study to diagnose (every trial, or --trial N).")
@click.option("--trial", type=int, help="Only this trial of --study, in depth.")
@click.option("--storage", help="SQLAlchemy URL [env SWEEPDOCTOR_STORAGE, else sqlite:///sweepdoctor.db].")
@click.option("--history", type=click.Path(dir_okay=False), help="A sweepdoctor.history/1 JSON file instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (and nothing else) on stdout.")
@click.option("--fail-on", help="Exit 1 when any of these comma-separated finding codes is found.")
@click.option("--worst", type=int, help="Show only the N worst candidate runs.")
@click.option("--hessian", is_flag=True, help="Hessian analysis of saved weights (sweep --save-weights).")
@click.option("--threshold", "thresholds", multiple=True, metavar="KEY=VALUE", help="Override a rule threshold.")
@click.option("--config", type=click.Path(dir_okay=False), help="--hessian: the sweep TOML (for its data).")
@click.option("--dataset", help="--hessian: the sweep's built-in dataset.")
@click.option("--csv", help="--hessian: the sweep's CSV file.")
@click.option("--target", help="--hessian: the CSV's target column.")
@click.option("--seed", type=int, help="--hessian: the sweep's seed (folds, generated data). [0]")
def diagnose(**o: Any) -> None:
    """Diagnose training: overfitting, optimization failure, divergence, ... (RULES.md).

    \b
    Examples:
      sweepdoctor diagnose --study digits-mlp
      sweepdoctor diagnose --study digits-mlp --trial 17 --hessian --dataset digits
      sweepdoctor diagnose --history run.json --json --fail-on divergence,overfitting
    """
    fail_codes = _fail_on(o["fail_on"])
    th = _thresholds(o["thresholds"])
    _check_options(o)
    if o["study"] is not None:
        report, hessians = _from_study(o, th)
    else:
        report, hessians = diagnostics.diagnose(History.load(o["history"]), thresholds=th), {}
    report = replace(report, worst=o["worst"])
    if o["as_json"]:
        doc = report.to_dict()
        if hessians:
            doc["hessian"] = {name: h.to_dict() for name, h in hessians.items()}
        echo_json(doc)
    else:
        console = _console()
        console.print(report)
        for name, h in hessians.items():
            console.print(f"[bold]Hessian of {name}[/bold]: {h.kind.value}, {h.method} over {h.n_params} "
                          f"parameters, eigenvalues {h.min_eigenvalue:.4g} … {h.sharpness:.4g}, "
                          f"minimum ratio {h.minimum_ratio:.3f}, gradient norm {h.grad_norm:.3g}")
    if fail_codes and report.has_any(fail_codes):
        sys.exit(1)


COMMANDS.append(diagnose)
