import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sweepdoctor.cli import main

TINY = ["--dataset", "iris", "--folds", "2", "--epochs", "2", "--no-baselines", "--threads", "1"]


def test_help_explains() -> None:
    r = CliRunner().invoke(main, ["sweep", "--help"])
    assert r.exit_code == 0 and "k-fold" in r.output and "--storage" in r.output


def test_sweep_json_output(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    r = CliRunner().invoke(main, ["sweep", *TINY, "--trials", "2", "--storage", url, "--study", "j", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["study_name"] == "j" and doc["n_complete"] == 2 and doc["metric"] == "accuracy"
    assert len(doc["best_fold_scores"]) == 2


def test_sweep_table_output_and_refit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["sweep", *TINY, "--trials", "1", "--refit"])
    assert r.exit_code == 0, r.output
    assert "best trial #0" in r.stdout and "per-fold accuracy" in r.stdout
    assert (tmp_path / "sweepdoctor.db").exists() and (tmp_path / "refit" / "iris-mlp" / "model.pt").exists()


def test_config_file_and_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text('[data]\ndataset = "wine"\n[train]\nfolds = 2\nepochs = 2\nbaselines = false\n'
                   '[study]\nname = "from-file"\ntrials = 1\n[space]\noptimizer = ["adam"]\n')
    r = CliRunner().invoke(main, ["sweep", "--config", str(cfg), "--storage", f"sqlite:///{tmp_path}/x.db", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["study_name"] == "from-file" and doc["best_params"]["optimizer"] == "adam"


@pytest.mark.parametrize(
    "toml,match",
    [
        ("[space]\nlrr = 0.1\n", "error: space: unknown key 'lrr'"),
        ("[trian]\nepochs = 2\n", "error: config: unknown section 'trian'"),
        ("[train]\nepoch = 2\n", "error: train: unknown key 'epoch'"),
        ("[study]\nsampler = 'grid'\n", "error: study.sampler must be one of"),
        ("[space\n", "is not valid TOML"),
    ],
)
def test_bad_config_is_one_line(tmp_path: Path, toml: str, match: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    r = CliRunner().invoke(main, ["sweep", "--config", str(cfg)])
    assert r.exit_code == 2
    assert match in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_csv_errors_are_one_line(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("a,b\n1,2\n3,4\n")
    r = CliRunner().invoke(main, ["sweep", "--csv", str(p), "--target", "label"])
    assert r.exit_code == 2 and "no column 'label'; columns: a, b" in r.stderr
    r = CliRunner().invoke(main, ["sweep", "--csv", str(p)])
    assert r.exit_code == 2 and "needs the name of its target column" in r.stderr


def test_csv_sweep_with_test_set(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] > 0).astype(int)
    for name, rows in (("train.csv", range(60)), ("test.csv", range(60, 80))):
        (tmp_path / name).write_text("f1,f2,f3,label\n" + "\n".join(
            f"{X[i, 0]},{X[i, 1]},{X[i, 2]},{y[i]}" for i in rows))
    r = CliRunner().invoke(main, ["sweep", "--csv", str(tmp_path / "train.csv"), "--target", "label",
                                  "--test-csv", str(tmp_path / "test.csv"), "--folds", "2", "--epochs", "2",
                                  "--trials", "1", "--no-baselines", "--storage", f"sqlite:///{tmp_path}/c.db",
                                  "--json"])
    assert r.exit_code == 0, r.output
    from sweepdoctor.studies import Store

    hist, _ = Store(f"sqlite:///{tmp_path}/c.db").load_history("train-mlp")
    assert all(f.test_loss is not None for f in hist.runs[0].folds)


def test_bad_storage_is_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["sweep", *TINY, "--storage", f"sqlite:///{tmp_path}"])
    assert r.exit_code == 2 and "is a directory" in r.stderr
    r = CliRunner().invoke(main, ["sweep", *TINY, "--storage", "nonsense"])
    assert r.exit_code == 2 and "not a database URL" in r.stderr


@pytest.mark.parametrize("flag,started", [("--measure-apart", True), ("--measure-in-place", False)])
def test_measuring_flag_picks_where_epochs_are_measured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str,
                                                        started: bool) -> None:
    from sweepdoctor.sweep.search import _setup

    calls: list[object] = []
    real = _setup.start_measurer
    monkeypatch.setattr(_setup, "start_measurer", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    monkeypatch.setenv("SWEEPDOCTOR_OVERLAP_EVAL", "0" if started else "1")  # the flag wins over the environment
    r = CliRunner().invoke(main, ["sweep", *TINY, "--trials", "2", "--storage", f"sqlite:///{tmp_path}/s.db", flag,
                                  "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["n_complete"] == 2
    assert bool(calls) is started


def _children(pid: int) -> list[str]:
    """Command lines of the processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_while_the_measuring_process_starts_is_one_line(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group, the helper too, while it still imports torch."""
    import os
    import signal
    import subprocess
    import sys
    import time

    # Small: when CPython swallows the interrupt (below), the sweep runs to its end (30 trials of 20
    # epochs cost a minute of CPU); 4 trials of 5 epochs still outlast the helper's start by far.
    cmd = [sys.executable, "-m", "sweepdoctor", "sweep", "--dataset", "digits", "--trials", "4", "--epochs", "5",
           "--no-baselines", "--storage", f"sqlite:///{tmp_path}/s.db", "--measure-apart", "--quiet"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not any("spawn_main" in c for c in _children(p.pid)) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.01)
    time.sleep(0.4)  # the helper is now importing torch
    assert p.poll() is None, p.communicate()
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=120)
    # The helper's traceback would come from multiprocessing's spawn_main. The sweep's own exit
    # is tested elsewhere: here, under load, CPython may swallow its KeyboardInterrupt in a
    # weakref callback (then it finishes the sweep), which is not the helper's doing.
    assert "spawn_main" not in err and "import torch" not in err, err
