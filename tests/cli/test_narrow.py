"""Output that survives a narrow terminal: every table-printing command at 80 and 60 columns
shows each code and number of its ``--json`` output whole (wrapped, never cut, no "…")."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from sweepdoctor.cli import main
from tests.studies._build import build_all

WIDTHS = (80, 60)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("narrow") / "studies.db"
    build_all(f"sqlite:///{path}")
    return f"sqlite:///{path}"


def run(args: list[str], width: int = 200) -> tuple[str, str]:
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, highlight=False)
    result = CliRunner().invoke(main, args, obj={"console": console})
    assert result.exit_code in (0, 1), (args, result.output)  # 1: --fail-on style exits are not ours here
    return result.stdout, buf.getvalue()


def whole(token: str, text: str) -> bool:
    """``token`` appears in ``text`` with no letter, digit or point glued to either side."""
    return re.search(rf"(?<![\w.]){re.escape(token)}(?![\w])", text) is not None


def g4(x: float) -> str:
    return f"{x:.4g}"


def check(text: str, tokens: set[str], width: int) -> None:
    assert "…" not in text
    assert all(len(line.rstrip()) <= width for line in text.splitlines()), "a line wider than the terminal"
    missing = sorted(t for t in tokens if not whole(t, text))
    assert not missing, f"cut or missing at {width} columns: {missing}"


def _trial_tokens(doc: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for t in doc["trials"]:
        if t["value"] is not None:
            out.add(g4(t["value"]))
        out.update(t["findings"])
        out.update(str(v) if not isinstance(v, float) else g4(v) for v in t["params"].values())
    return out


@pytest.mark.parametrize("width", WIDTHS)
def test_studies_tables_keep_every_code_and_number_whole(url: str, width: int) -> None:
    doc = json.loads(run(["studies", "trials", "digits-mlp", "--storage", url, "--json"])[0])
    check(run(["studies", "trials", "digits-mlp", "--storage", url], width)[1], _trial_tokens(doc), width)
    best = json.loads(run(["studies", "best", "digits-mlp", "--by", "optimizer", "--storage", url, "--json"])[0])
    tokens = {g4(g["best"]["value"]) for g in best["groups"]}
    tokens |= {c for g in best["groups"] for c in g["best"]["findings"]}
    check(run(["studies", "best", "digits-mlp", "--by", "optimizer", "--storage", url], width)[1], tokens, width)
    show = json.loads(run(["studies", "show", "digits-mlp", "--storage", url, "--json", "--no-importance"])[0])
    tokens = {g4(s) for f in show["fold_spread"] for s in f["scores"] if s is not None} | set(show["findings"])
    check(run(["studies", "show", "digits-mlp", "--storage", url, "--no-importance"], width)[1], tokens, width)
    listed = json.loads(run(["studies", "list", "--storage", url, "--json"])[0])
    tokens = {s["name"] for s in listed["studies"] if "'" not in s["name"]} | {
        g4(s["best_value"]) for s in listed["studies"] if s["best_value"] is not None}
    check(run(["studies", "list", "--storage", url], width)[1], tokens, width)
    compared = run(["studies", "compare", "digits-mlp", "plain", "--storage", url, "--no-importance"], width)[1]
    check(compared, {"digits-mlp", "plain", "0.25", "overfitting"}, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_diagnose_views_keep_every_code_and_number_whole(url: str, width: int) -> None:
    doc = json.loads(run(["diagnose", "--study", "digits-mlp", "--storage", url, "--json"])[0])
    candidates = [r for r in doc["runs"] if r["role"] == "candidate"]
    rows = [r for r in candidates if r["findings"][0]["code"] != "healthy"]  # healthy ones: one line of numbers
    tokens = {r["findings"][0]["code"] for r in candidates} | {g4(r["score"]) for r in rows if r["score"] is not None}
    check(run(["diagnose", "--study", "digits-mlp", "--storage", url], width)[1], tokens, width)
    everything = run(["diagnose", "--study", "digits-mlp", "--storage", url, "--all"], width)[1]
    tokens = {f["code"] for r in candidates for f in r["findings"]} | {
        g4(r["score"]) for r in candidates if r["score"] is not None}
    check(everything, tokens, width)
    for r in candidates[:3]:
        n = r["name"].split("-")[1]
        detail = run(["diagnose", "--study", "digits-mlp", "--trial", n, "--storage", url], width)[1]
        tokens = {f["code"] for f in r["findings"]} | {g4(s) for s in r["fold_scores"] if s is not None}
        check(detail, tokens, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_rules_keep_every_code_and_threshold_whole(width: int) -> None:
    docs = json.loads(run(["rules", "--json"])[0])
    tokens = {d["code"] for d in docs} | {name for d in docs for name in d["thresholds"]}
    check(run(["rules"], width)[1], tokens, width)
    one = json.loads(run(["rules", "overfitting", "--json"])[0])
    check(run(["rules", "overfitting"], width)[1], set(one["thresholds"]), width)


def test_a_narrow_table_drops_low_value_columns_first(url: str) -> None:
    wide = run(["studies", "list", "--storage", url], 200)[1]
    narrow = run(["studies", "list", "--storage", url], 60)[1]
    assert "curves" in wide and "curves" not in narrow  # the count of stored runs goes first
    assert "best" in narrow and "trials" in narrow


def test_piped_output_is_plain_text(url: str, tmp_path: Path) -> None:
    """Not a terminal (a pipe, a file): no colour codes, and the width the environment says."""
    db = tmp_path / "copy.db"
    shutil.copy(url.removeprefix("sqlite:///"), db)
    result = CliRunner().invoke(main, ["studies", "trials", "digits-mlp", "--storage", f"sqlite:///{db}"],
                                env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.stdout
    assert all(len(line) <= 60 for line in result.stdout.splitlines())
