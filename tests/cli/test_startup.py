"""Start-up: a command imports what it uses (issue 15). Help and queries never pay for torch (~1 s)."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from sweepdoctor.cli import main

HEAVY = ("torch", "sklearn", "scipy", "pandas", "fastapi", "uvicorn")


def _imported(args: list[str]) -> set[str]:
    """The top-level packages a fresh interpreter has imported after ``sweepdoctor ARGS``."""
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: sys.__stderr__.write('\\nMODULES ' + json.dumps(sorted({m.split('.')[0] "
        "for m in sys.modules})) + '\\n'))\n"
        f"sys.argv = ['sweepdoctor', *{args!r}]\n"
        "from sweepdoctor.cli import main\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    line = [x for x in out.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return set(json.loads(line.removeprefix("MODULES ")))


@pytest.mark.parametrize("args", [["--help"], ["sweep", "--help"], ["studies", "--help"], ["diagnose", "--help"],
                                  ["rules"], ["studies", "doctor", "--help"]])
def test_help_and_light_commands_do_not_import_torch(args: list[str]) -> None:
    heavy = _imported(args) & set(HEAVY)
    assert not heavy, f"sweepdoctor {' '.join(args)} imported {sorted(heavy)}"


def test_listing_studies_imports_no_training_stack(tmp_path: object) -> None:
    heavy = _imported(["studies", "list", "--storage", f"sqlite:///{tmp_path}/none.db"]) & set(HEAVY)
    assert not heavy


def test_the_help_summaries_are_the_commands_own() -> None:
    """``--help`` lists commands from summaries without importing them; they must say what the commands say."""
    ctx = click.Context(main)
    assert set(main.summaries) == set(main.lazy)
    for name in main.lazy:
        cmd = main.get_command(ctx, name)
        assert cmd is not None
        for limit in (45, 60, 200):
            assert click.Command(None, help=main.summaries[name]).get_short_help_str(limit) == \
                cmd.get_short_help_str(limit), name


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sweepdoctor", *args], capture_output=True, text=True, timeout=300)


def test_a_sweep_exits_without_the_teardown_with_its_output_whole_and_its_status(tmp_path: object) -> None:
    """`entry` skips the interpreter's teardown after a command that imported torch: the JSON must
    still be whole, and an error after torch was imported must still exit 2 with its one line."""
    url = f"sqlite:///{tmp_path}/s.db"
    common = ["sweep", "--dataset", "iris", "--trials", "1", "--folds", "2", "--storage", url, "--study", "s"]
    ok = _cli(*common, "--epochs", "1", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["n_complete"] == 1
    changed = _cli(*common, "--epochs", "2", "--json")  # the same study with other settings: refused
    assert changed.returncode == 2 and changed.stdout == ""
    assert changed.stderr.startswith("error: ") and "Traceback" not in changed.stderr
