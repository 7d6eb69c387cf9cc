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
