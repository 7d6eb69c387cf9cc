"""Every bad input: exit status 2, one ``error:`` line on stderr, no traceback, nothing written.

Each case runs the CLI in-process from an empty working folder holding a copy of a small
study database (``study.db``, four studies). After the run, the folder must hold exactly
the files it held before, unchanged, and the database the same studies.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from sweepdoctor.cli import main
from tests.studies._build import build_all

Args = Callable[[Path], list[str]]

FAST = ["--folds", "2", "--epochs", "1", "--trials", "1", "--no-baselines", "--threads", "1"]
GOOD_ROWS = "\n".join(f"{i},{i % 3},{i % 2}" for i in range(20)) + "\n"
HISTORY_HEAD = '{"format": "sweepdoctor.history/1", "task": "classification", "runs": '


def _file(d: Path, name: str, content: str | bytes) -> str:
    p = d / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return str(p)


def _csv(content: str | bytes, *extra: str) -> Args:
    return lambda d: ["sweep", "--csv", _file(d, "data.csv", content), "--target", "y", *FAST, *extra]


def _toml(content: str | bytes) -> Args:
    return lambda d: ["sweep", "--config", _file(d, "sweep.toml", content)]


def _flags(*extra: str) -> Args:
    return lambda d: ["sweep", "--dataset", "iris", *FAST, *extra]


def _history(content: str | bytes, *extra: str) -> Args:
    return lambda d: ["diagnose", "--history", _file(d, "h.json", content), *extra]


def _runs(folds: str) -> str:
    return HISTORY_HEAD + '[{"name": "a", "folds": ' + folds + "}]}"


def _db(*args: str) -> Args:
    """A command on the study database in the folder."""
    return lambda d: [*args, "--storage", f"sqlite:///{d}/study.db"]


def _storage(url: Callable[[Path], str]) -> Args:
    return lambda d: ["sweep", "--dataset", "iris", *FAST, "--storage", url(d)]


def _read_only_file(d: Path) -> str:
    (d / "study.db").chmod(stat.S_IRUSR | stat.S_IRGRP)
    return f"sqlite:///{d}/study.db"


def _read_only_folder(d: Path) -> str:
    sub = d / "locked"
    sub.mkdir()
    sub.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return f"sqlite:///{sub}/new.db"


CASES: dict[str, Args] = {
    # CSV files
    "csv header, no rows": _csv("a,b,y\n"),
    "csv only the target": _csv("y\n" + "\n".join(str(i % 2) for i in range(20))),
    "csv target twice": _csv("f1,y,f2,y\n" + "\n".join(f"{i},{i % 2},{i},{i % 2}" for i in range(20))),
    "csv feature twice": _csv("f,f,y\n" + GOOD_ROWS),
    "csv unnamed column": _csv("a,,y\n" + GOOD_ROWS),
    "csv empty file": _csv(""),
    "csv not utf-8": _csv(b"a,b,y\n1,\xe9,0\n"),
    "csv NaN cell": _csv("a,b,y\n" + GOOD_ROWS + "nan,1,0\n"),
    "csv inf cell": _csv("a,b,y\n" + GOOD_ROWS + "1,-inf,0\n"),
    "csv empty cell": _csv("a,b,y\n" + GOOD_ROWS + ",1,0\n"),
    "csv text feature": _csv("a,b,y\n" + GOOD_ROWS + "x,1,0\n"),
    "csv ragged row": _csv("a,b,y\n" + GOOD_ROWS + "1,0\n"),
    "csv empty target cell": _csv("a,b,y\n" + GOOD_ROWS + "1,1,\n"),
    "csv unknown target": lambda d: ["sweep", "--csv", _file(d, "data.csv", "a,b,c\n" + GOOD_ROWS),
                                     "--target", "label", *FAST],
    "csv without --target": lambda d: ["sweep", "--csv", _file(d, "data.csv", "a,b,y\n" + GOOD_ROWS), *FAST],
    "csv one class": _csv("a,y\n" + "\n".join(f"{i},1" for i in range(20)), "--task", "classification"),
    "csv fewer than 10 rows": _csv("a,b,y\n1,0,0\n2,1,1\n3,0,0\n"),
    "csv more folds than rows": _csv("a,b,y\n" + GOOD_ROWS, "--folds", "50"),
    "csv class smaller than folds": _csv("a,y\n" + "\n".join(f"{i},{int(i < 2)}" for i in range(20)),
                                         "--folds", "5"),
    "csv text target as regression": _csv("a,y\n" + "\n".join(f"{i},{'ab'[i % 2]}" for i in range(20)),
                                          "--task", "regression"),
    "csv missing file": lambda d: ["sweep", "--csv", str(d / "absent.csv"), "--target", "y", *FAST],
    "csv is a folder": lambda d: ["sweep", "--csv", str(d), "--target", "y", *FAST],
    "test csv without csv": lambda d: ["sweep", "--dataset", "iris", "--test-csv",
                                       _file(d, "t.csv", "a,b,y\n" + GOOD_ROWS), *FAST],
    "test csv other columns": lambda d: ["sweep", "--csv", _file(d, "data.csv", "a,b,y\n" + GOOD_ROWS), "--target",
                                         "y", "--test-csv", _file(d, "t.csv", "a,c,y\n1,2,0\n"), *FAST],
    "test csv unknown class": lambda d: ["sweep", "--csv", _file(d, "data.csv", "a,b,y\n" + GOOD_ROWS), "--target",
                                         "y", "--test-csv", _file(d, "t.csv", "a,b,y\n1,2,7\n"), *FAST],
    "dataset and csv": lambda d: ["sweep", "--dataset", "iris", "--csv", _file(d, "data.csv", "a,b,y\n" + GOOD_ROWS),
                                  "--target", "y", *FAST],
    # flags
    "seed -1": _flags("--seed", "-1"),
    "seed 2**32": _flags("--seed", str(2**32)),
    "n-samples 0": lambda d: ["sweep", "--dataset", "classification", "--n-samples", "0", *FAST],
    "n-features 0": lambda d: ["sweep", "--dataset", "regression", "--n-features", "0", *FAST],
    "n-features 1, classification": lambda d: ["sweep", "--dataset", "classification", "--n-features", "1", *FAST],
    "trials 0": _flags("--trials", "0"),
    "folds 1": _flags("--folds", "1"),
    "epochs 0": _flags("--epochs", "0"),
    "repeats 0": _flags("--repeats", "0"),
    "workers 0": _flags("--workers", "0"),
    "threads 0": _flags("--threads", "0"),
    "timeout 0": _flags("--timeout", "0"),
    "timeout nan": _flags("--timeout", "nan"),
    "epochs not a number": _flags("--epochs", "ten"),
    "unknown flag": _flags("--epoch", "3"),
    "unknown sampler": _flags("--sampler", "grid"),
    "empty study name": _flags("--study", " "),
    "metric of another task": _flags("--metric", "rmse"),
    "refit into a file": lambda d: ["sweep", "--dataset", "iris", *FAST, "--refit", _file(d, "model.txt", "x")],
    "unknown command": lambda d: ["frobnicate"],
    "unknown top-level flag": lambda d: ["--verbose", "sweep"],
    # TOML configuration
    "config not utf-8": _toml(b"[study]\nname = '\xe9'\n"),
    "config missing": lambda d: ["sweep", "--config", str(d / "absent.toml")],
    "config is a folder": lambda d: ["sweep", "--config", str(d)],
    "config not TOML": _toml("[space\n"),
    "config unknown section": _toml("[trian]\nepochs = 2\n"),
    "config unknown key": _toml("[train]\nepoch = 2\n"),
    "config epochs a string": _toml("[train]\nepochs = 'x'\n"),
    "config name a number": _toml("[study]\nname = 3\n"),
    "config flag a string": _toml("[train]\nvectorize = 'yes'\n"),
    "config timeout a string": _toml("[study]\ntimeout = 'soon'\n"),
    "config seed a float": _toml("[study]\nseed = 1.5\n"),
    "config section not a table": _toml("train = 3\n"),
    "config space out of range": _toml("[space]\nlr = [-1.0, 1.0]\n"),
    "config space not a number": _toml("[space]\nlr = [1, 'a']\n"),
    "config unknown threshold": _toml("[data]\ndataset = 'iris'\n[thresholds]\nfoo = 1\n"),
    "config threshold not a number": _toml("[data]\ndataset = 'iris'\n[thresholds]\noverfit_val_rise = 'high'\n"),
    "config generated rows -5": _toml("[data]\ndataset = 'classification'\nn_samples = -5\n"),
    "config space not a table": _toml("space = 3\n"),
    "config space infinite": _toml("[data]\ndataset = 'iris'\n[space]\nlr = [1e-3, inf]\n"),
    "config space unknown optimizer": _toml("[space]\noptimizer = ['lbfgs']\n"),
    "config threshold nan": _toml("[data]\ndataset = 'iris'\n[thresholds]\noverfit_val_rise = nan\n"),
    # storage
    "storage not a URL": _storage(lambda d: "study.db"),
    "storage unknown kind": _storage(lambda d: "foo://bar"),
    "storage folder missing": _storage(lambda d: f"sqlite:///{d}/no/such/s.db"),
    "storage is a folder": _storage(lambda d: f"sqlite:///{d}"),
    "storage not SQLite": _storage(lambda d: "sqlite:///" + _file(d, "junk.db", "not a database\n" * 50)),
    "storage read-only file": _storage(_read_only_file),
    "storage read-only folder": _storage(_read_only_folder),
    "storage mode=ro": _storage(lambda d: f"sqlite:///file:{d}/study.db?mode=ro&uri=true"),
    "storage in memory": _storage(lambda d: "sqlite://"),
    "existing db, target twice": lambda d: [*_csv("f1,y,f2,y\n" + "\n".join(f"{i},{i % 2},{i},{i % 2}"
                                                                           for i in range(20)))(d),
                                            "--storage", f"sqlite:///{d}/study.db", "--study", "new"],
    "existing db, seed -1": lambda d: [*_flags("--seed", "-1")(d), "--storage", f"sqlite:///{d}/study.db"],
    # history files and diagnose
    "history not utf-8": _history(b'{"format": "\xe9"}'),
    "history missing": lambda d: ["diagnose", "--history", str(d / "absent.json")],
    "history is a folder": lambda d: ["diagnose", "--history", str(d)],
    "history not JSON": _history("{runs: }"),
    "history wrong format": _history('{"format": "other/2", "runs": []}'),
    "history negative epoch": _history(_runs('[{"epochs": [{"epoch": -1, "train_loss": 1, "lr": 0.1}]}]')),
    "history empty fold": _history(_runs('[{"epochs": []}]'), "--fail-on", "overfitting"),
    "history epochs go back": _history(_runs('[{"epochs": [{"epoch": 2}, {"epoch": 1}]}]')),
    "history loss a string": _history(_runs('[{"epochs": [{"epoch": 0, "train_loss": "low"}]}]')),
    "history runs twice named": _history(HISTORY_HEAD + '[{"name": "a", "folds": [{"epochs": [{"epoch": 0}]}]},'
                                         '{"name": "a", "folds": [{"epochs": [{"epoch": 0}]}]}]}'),
    "diagnose study and history": lambda d: ["diagnose", "--study", "x", "--history", str(d / "h.json")],
    "diagnose neither": lambda d: ["diagnose"],
    "diagnose unknown fail-on": lambda d: ["diagnose", "--history", str(d / "h.json"), "--fail-on", "sadness"],
    "diagnose bad threshold": lambda d: ["diagnose", "--history", str(d / "h.json"), "--threshold", "nope"],
    "diagnose worst 0": lambda d: ["diagnose", "--history", str(d / "h.json"), "--worst", "0"],
    "diagnose trial without study": lambda d: ["diagnose", "--history", str(d / "h.json"), "--trial", "1"],
    "diagnose absent database": lambda d: ["diagnose", "--study", "x", "--storage", f"sqlite:///{d}/absent.db"],
    "diagnose unknown study": _db("diagnose", "--study", "no-such-study"),
    "diagnose trial not stored": _db("diagnose", "--study", "digits-mlp", "--trial", "99"),
    "diagnose trial of unknown study": _db("diagnose", "--study", "no-such-study", "--trial", "1"),
    "diagnose threshold nan": lambda d: ["diagnose", "--history", str(d / "h.json"), "--threshold",
                                         "overfit_val_rise=nan"],
    # studies
    "studies absent database": lambda d: ["studies", "list", "--storage", f"sqlite:///{d}/absent.db"],
    "studies show unknown study": _db("studies", "show", "no-such-study"),
    "studies bad where": _db("studies", "trials", "digits-mlp", "--where", "lr>>1"),
    "studies where unknown param": _db("studies", "trials", "digits-mlp", "--where", "colour=red"),
    "studies where not a number": _db("studies", "trials", "digits-mlp", "--where", "lr>fast"),
    "studies bad sort": _db("studies", "trials", "digits-mlp", "--sort", "colour"),
    "studies empty where": _db("studies", "trials", "digits-mlp", "--where", ""),
    "studies empty sort": _db("studies", "trials", "digits-mlp", "--sort", "-"),
    "studies bad state": _db("studies", "trials", "digits-mlp", "--state", "sleeping"),
    "studies limit 0": _db("studies", "trials", "digits-mlp", "--limit", "0"),
    "studies unknown finding": _db("studies", "trials", "digits-mlp", "--finding", "sadness"),
    "studies curves unknown run": _db("studies", "curves", "digits-mlp", "--run", "nope"),
    "studies curves unknown trial": _db("studies", "curves", "digits-mlp", "--trial", "999"),
    "studies curves trial and run": _db("studies", "curves", "digits-mlp", "--trial", "1", "--run", "x"),
    "studies curves png in absent folder": lambda d: _db("studies", "curves", "digits-mlp", "--png",
                                                         str(d / "no" / "c.png"))(d),
    "studies export bad format": _db("studies", "export", "digits-mlp", "--format", "xml"),
    "studies export into absent folder": lambda d: _db("studies", "export", "digits-mlp", "-o",
                                                       str(d / "no" / "t.csv"))(d),
    "studies export into a folder": lambda d: _db("studies", "export", "digits-mlp", "-o", str(d))(d),
    "studies best by unknown param": _db("studies", "best", "digits-mlp", "--by", "colour"),
    "studies compare unknown": _db("studies", "compare", "digits-mlp", "no-such-study"),
    "studies delete unknown": _db("studies", "delete", "no-such-study", "--yes"),
    "studies unknown subcommand": _db("studies", "frobnicate"),
}


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "study.db"
    build_all(f"sqlite:///{path}")
    return path


def _snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(d.rglob("*"))}


def _studies(db: Path) -> list[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [r[0] for r in conn.execute("SELECT study_name FROM studies ORDER BY study_id")]


def test_there_are_at_least_40_kinds() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_writes_nothing(
    name: str, tmp_path: Path, template_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWEEPDOCTOR_STORAGE", raising=False)
    shutil.copy(template_db, tmp_path / "study.db")
    args = CASES[name](tmp_path)
    before, studies_before = _snapshot(tmp_path), _studies(tmp_path / "study.db")
    try:
        result = CliRunner().invoke(main, args)
    finally:
        for p in tmp_path.rglob("*"):  # give back what a case took away, so tmp_path can be removed
            if p.is_dir() and not os.access(p, os.W_OK):
                p.chmod(stat.S_IRWXU)
    lines = result.stderr.strip().splitlines()
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "Usage:" not in result.output
    assert _snapshot(tmp_path) == before, "a file was written"
    assert _studies(tmp_path / "study.db") == studies_before
