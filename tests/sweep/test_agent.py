"""The agent and the submission checks live beside ``sweep.run``: no web framework needed (issue 24)."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from sweepdoctor.errors import ConfigError, DataError, SweepNotFoundError, TooLargeError
from sweepdoctor.studies import delete_sweep, get_sweep, make_engine, submit_sweep
from sweepdoctor.sweep import AgentOptions, check_submission, run_agent, tables_to_toml

ROOT = Path(__file__).resolve().parents[2]
WEB = ("fastapi", "starlette", "uvicorn")
# Loaded by every Python process started with this folder on PYTHONPATH (the agent's spawned
# sweep too): the web extra's packages cannot be imported, as on a host without [service].
NO_WEB = textwrap.dedent(f"""
    import sys

    class _NoWeb:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {WEB!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, _NoWeb())
""")

SWEEP = {
    "data": {"dataset": "iris"},
    "train": {"folds": 2, "epochs": 2, "baselines": False, "threads": 1},
    "study": {"name": "no-web", "trials": 2, "pruner": "none", "sampler": "random"},
    "space": {"depth": 1, "width": 8, "lr": {"low": 1e-3, "high": 3e-2, "log": True}},
}


def _submit(url: str, doc: dict[str, object]) -> str:
    sub = check_submission(tables_to_toml(doc))
    engine = make_engine(url)
    try:
        submit_sweep(engine, name=sub.name, config=sub.toml, trials=sub.trials, csv=sub.csv, csv_name=sub.csv_name)
    finally:
        engine.dispose()
    return sub.name


def test_the_agent_runs_a_sweep_with_the_web_extra_unimportable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agent.db'}"
    name = _submit(url, SWEEP)  # through the library: no HTTP anywhere
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(NO_WEB)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(ROOT)])}
    probe = subprocess.run([sys.executable, "-c", "import fastapi"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "blocked by the test" in probe.stderr  # the hook works
    r = subprocess.run(
        [sys.executable, "-m", "sweepdoctor", "agent", "--storage", url, "--sweep", name, "--poll", "0.2"],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "budget spent" in r.stderr and "blocked by the test" not in r.stderr
    study = optuna.load_study(study_name=name, storage=url)
    assert [t.state.name for t in study.get_trials(deepcopy=False)] == ["COMPLETE", "COMPLETE"]
    engine = make_engine(url)
    try:
        assert get_sweep(engine, name).state == "done"
    finally:
        engine.dispose()


def test_importing_the_agent_imports_no_web_framework() -> None:
    code = ("import sys; import sweepdoctor.sweep.agent, sweepdoctor.cli._serve; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {WEB!r}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"poll_s": math.nan}, "--poll must be a positive, finite number"),
        ({"poll_s": math.inf}, "--poll must be a positive, finite number"),
        ({"poll_s": -1.0}, "--poll must be a positive, finite number"),
        ({"poll_s": 0.0}, "--poll must be a positive, finite number"),
        ({"max_idle_s": math.nan}, "--max-idle"),
        ({"max_idle_s": -1.0}, "--max-idle"),
        ({"workers": 0}, "--workers must be at least 1"),
    ],
)
def test_agent_options_refuse_what_would_never_end(kw: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        AgentOptions(storage="sqlite:///x.db", **kw)  # type: ignore[arg-type]


def test_a_sqlite_path_that_does_not_exist_is_refused_not_created(tmp_path: Path) -> None:
    from sweepdoctor.errors import StorageError

    typo = tmp_path / "typo.db"
    with pytest.raises(StorageError, match="no SQLite database"):
        run_agent(AgentOptions(storage=f"sqlite:///{typo}", poll_s=0.1, max_idle_s=0.1))
    assert not typo.exists()


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_deleted_sweep_is_told_apart_from_an_outage_by_type(tmp_path: Path) -> None:
    from sweepdoctor.sweep.agent._agent import _still_wanted

    url = f"sqlite:///{tmp_path / 's.db'}"
    name = _submit(url, {**SWEEP, "study": {**SWEEP["study"], "name": "gone"}})  # type: ignore[dict-item]
    engine = make_engine(url)
    try:
        assert _still_wanted(engine, name)
        delete_sweep(engine, name)
        with pytest.raises(SweepNotFoundError):
            get_sweep(engine, name)
        assert not _still_wanted(engine, name)  # deleted: stop the child
    finally:
        engine.dispose()
    away = make_engine(f"postgresql://nobody@127.0.0.1:{_unused_port()}/x")  # no server there
    try:
        assert _still_wanted(away, name)  # the database away: an outage, keep going
    finally:
        away.dispose()


@pytest.mark.parametrize(
    ("text", "csv", "kind", "says"),
    [
        ('[study]\ntrials = 2\n[data]\ndataset = "irs"\n', None, ConfigError, "data.dataset"),
        ("[study]\ntrials = 1000000000000000000000000000000\n", None, ConfigError, "study.trials: at most 1,000,000"),
        ("[study]\ntrials = " + "[" * 5000 + "]" * 5000 + "\n", None, ConfigError, "nested too deep"),
        ('[data]\nnpz = "/etc/x.npz"\n', None, ConfigError, "data.npz: a path on the server"),
        ('[data]\ntarget = "y"\n', b"y,x\n" + b"1,2\n" * 100, TooLargeError, "more than the limit of 200"),
        ('[data]\ntarget = "label"\n', b"y,x\n1,2\n", DataError, "no column 'label'"),
        ("x" * 20_001, None, TooLargeError, "20001 bytes, more than the limit of 20000"),
    ],
)
def test_check_submission_refuses_by_kind(text: str, csv: bytes | None, kind: type[Exception], says: str) -> None:
    with pytest.raises(kind, match=says) as got:
        check_submission(text, csv_bytes=csv, max_config_bytes=20_000, max_csv_bytes=200)
    assert "\n" not in str(got.value)


def test_tables_nested_past_the_limit_are_refused() -> None:
    deep: dict[str, object] = {"x": 1}
    for _ in range(8):
        deep = {"a": deep}
    with pytest.raises(ConfigError, match="nested 9 levels deep, more than 8"):
        tables_to_toml({"space": {"lr": deep}})
    assert "lr" in tables_to_toml({"space": {"lr": {"low": 1e-3, "high": 0.1, "log": True}}})


def test_a_sweep_gone_from_under_its_child_fails_and_is_not_retried(tmp_path: Path) -> None:
    import multiprocessing as mp

    from sweepdoctor.sweep.agent._agent import _child

    url = f"sqlite:///{tmp_path / 's.db'}"
    _submit(url, SWEEP)  # the table exists; the sweep asked for does not
    recv, send = mp.Pipe(duplex=False)
    _child(url, "deleted-meanwhile", None, send)  # the child's side, in this process
    outcome, message = recv.recv()
    assert outcome == "failed" and message.startswith("SweepNotFoundError: ")  # by type: no outage, no retries
