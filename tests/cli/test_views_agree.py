"""One truth across views: a tiny real sweep (digits, 2 trials, 2 folds, 3 epochs), then the
same trial's score, fold scores, findings, counts and epoch numbers read from every view:
the CLI's text and ``--json``, the CSV and history exports (the history read back through
``diagnose --history``), the HTML report, and the web pages and their JSON.

Numbers are shown to 4 significant digits everywhere, so each view's text must hold the
JSON's value formatted that way; epochs are numbered 1..E everywhere.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from sweepdoctor.cli import main

FOLDS, EPOCHS, TRIALS = 2, 3, 2


def g4(x: float) -> str:
    """A number as every view shows it: 4 significant digits."""
    return f"{x:.4g}"


def cli(args: list[str], *, width: int = 120) -> tuple[str, str]:
    """(stdout, what the rich console printed) of ``sweepdoctor ARGS``; fails on a non-zero exit."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, highlight=False)
    result = CliRunner().invoke(main, args, obj={"console": console})
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout, buf.getvalue()


def as_json(args: list[str]) -> Any:
    out, printed = cli([*args, "--json"])
    assert printed == ""
    return json.loads(out)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The storage URL of the swept study ``d`` and a folder for the files the views write."""
    folder = tmp_path_factory.mktemp("agree")
    url = f"sqlite:///{folder / 's.db'}"
    cli(["sweep", "--dataset", "digits", "--trials", str(TRIALS), "--folds", str(FOLDS), "--epochs", str(EPOCHS),
         "--study", "d", "--storage", url, "--seed", "0", "--threads", "1", "--measure-in-place", "--diagnose",
         "-q", "--json"])
    return url, folder


@pytest.fixture(scope="module")
def truth(study: tuple[str, Path]) -> dict[str, Any]:
    """The study's numbers from ``studies trials --json``: value, fold scores and findings per trial."""
    url, _ = study
    doc = as_json(["studies", "trials", "d", "--storage", url])
    out = {}
    for t in doc["trials"]:
        folds = [t["user_attrs"][f"split{k}_score"] for k in range(FOLDS)]
        out[t["number"]] = {"value": t["value"], "folds": folds, "findings": sorted(t["findings"])}
    assert len(out) == TRIALS
    return out


def _runs(doc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {int(r["name"].split("-")[1]): r for r in doc["runs"] if r["role"] == "candidate"}


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9)


def test_scores_and_findings_agree_between_the_json_views(study: tuple[str, Path], truth: dict[str, Any]) -> None:
    url, folder = study
    diag = as_json(["diagnose", "--study", "d", "--storage", url])
    history = folder / "h.json"
    cli(["studies", "export", "d", "--format", "history", "-o", str(history), "--storage", url])
    back = as_json(["diagnose", "--history", str(history)])
    for doc in (diag, back):  # the study, and its export read back: the same numbers
        runs = _runs(doc)
        for n, t in truth.items():
            assert _same(runs[n]["score"], t["value"]), (n, runs[n]["score"], t["value"])
            assert all(_same(a, b) for a, b in zip(runs[n]["fold_scores"], t["folds"], strict=True))
            assert sorted({f["code"] for f in runs[n]["findings"]}) == t["findings"]
        assert doc["counts"] == diag["counts"] and doc["main_counts"] == diag["main_counts"]
    show = as_json(["studies", "show", "d", "--storage", url, "--no-importance"])
    for spread in show["fold_spread"]:
        assert all(_same(a, b) for a, b in zip(spread["scores"], truth[spread["number"]]["folds"], strict=True))
    assert show["findings"] == diag["counts"]  # trials with each finding, main or not
    out, _ = cli(["studies", "export", "d", "--format", "csv", "--storage", url])
    for row in csv.DictReader(io.StringIO(out)):
        t = truth[int(row["number"])]
        assert _same(float(row["value"]), t["value"])
        assert [float(row[f"user_attrs_split{k}_score"]) for k in range(FOLDS)] == t["folds"]


def test_text_views_show_the_json_numbers_to_four_digits(study: tuple[str, Path], truth: dict[str, Any]) -> None:
    url, folder = study
    history = folder / "h2.json"
    cli(["studies", "export", "d", "--format", "history", "-o", str(history), "--storage", url])
    _, summary = cli(["diagnose", "--study", "d", "--storage", url])
    _, from_file = cli(["diagnose", "--history", str(history)])
    _, trials = cli(["studies", "trials", "d", "--storage", url])
    _, show = cli(["studies", "show", "d", "--storage", url, "--no-importance"])
    for n, t in truth.items():
        for text in (summary, from_file, trials):
            assert g4(t["value"]) in text, (n, g4(t["value"]))
        _, detail = cli(["diagnose", "--study", "d", "--trial", str(n), "--storage", url])
        assert f"score {g4(t['value'])}," in detail
        fold_rows = detail[detail.index("per fold"):detail.index("curves beside")]
        for k, score in enumerate(t["folds"]):
            row = next(line.split() for line in fold_rows.splitlines() if line.split()[:1] == [str(k)])
            assert row[-1] == g4(score) or g4(score) in row, (k, row)
            assert g4(score) in show
        best_epochs = [int(e) for e in re.findall(r"\((\d+)\)", fold_rows)]
        assert best_epochs and all(1 <= e <= EPOCHS for e in best_epochs)  # epochs 1..E


def test_counts_say_what_they_count(study: tuple[str, Path]) -> None:
    url, _ = study
    diag = as_json(["diagnose", "--study", "d", "--storage", url])
    _, summary = cli(["diagnose", "--study", "d", "--storage", url])
    for code, n in diag["main_counts"].items():
        assert f"── {code}: main finding of {n} trial(s)" in summary
    _, everything = cli(["diagnose", "--study", "d", "--storage", url, "--all"])
    assert "as main finding" in everything and "in all" in everything
    _, show = cli(["studies", "show", "d", "--storage", url, "--no-importance"])
    assert "findings (trials with each, as main finding or not)" in show


def test_epochs_are_numbered_from_one_everywhere(study: tuple[str, Path], truth: dict[str, Any]) -> None:
    url, folder = study
    n = min(truth)
    curves = as_json(["studies", "curves", "d", "--trial", str(n), "--storage", url])
    assert [p["epoch"] for p in curves["points"]] == list(range(1, EPOCHS + 1))
    out, _ = cli(["studies", "curves", "d", "--trial", str(n), "--csv", "-", "--storage", url])
    assert [int(r["epoch"]) for r in csv.DictReader(io.StringIO(out))] == list(range(1, EPOCHS + 1))
    _, chart = cli(["studies", "curves", "d", "--trial", str(n), "--storage", url])
    assert f"epoch {EPOCHS}" in chart and "epoch 0" not in chart
    png = folder / "curves.png"
    _, printed = cli(["diagnose", "--study", "d", "--trial", str(n), "--png", str(png), "--storage", url])
    assert png.stat().st_size > 0 and "epoch 1..3" in printed


def test_report_and_web_pages_agree(study: tuple[str, Path], truth: dict[str, Any]) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from sweepdoctor.service import create_app

    url, folder = study
    diag = as_json(["diagnose", "--study", "d", "--storage", url])
    report = folder / "report.html"
    cli(["report", "--study", "d", "--storage", url, "--html", str(report)])
    html = report.read_text(encoding="utf-8")
    client = TestClient(create_app(url, token="t"), raise_server_exceptions=False)
    try:
        auth = {"Authorization": "Bearer t"}
        page = client.get("/studies/d", headers=auth).text
        api = client.get("/api/studies/d/diagnosis", headers=auth).json()
        assert api["counts"] == diag["counts"] and api["main_counts"] == diag["main_counts"]
        for text in (html, page):
            for code, n in diag["counts"].items():
                cells = re.search(rf"<td>{code}</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>", text)
                assert cells is not None, code
                assert int(cells.group(1)) == diag["main_counts"].get(code, 0) and int(cells.group(2)) == n
            for t in truth.values():
                assert g4(t["value"]) in text
        for n, t in truth.items():
            trial = client.get(f"/api/studies/d/trials/{n}", headers=auth).json()
            assert trial["fold_scores"] == t["folds"]
            assert [e["epoch"] for e in trial["curves"]["folds"][0]["epochs"]] == list(range(1, EPOCHS + 1))
            trial_page = client.get(f"/studies/d/trials/{n}", headers=auth).text
            assert all(g4(s) in trial_page for s in t["folds"])
    finally:
        client.app.state.sweepdoctor.close()  # type: ignore[attr-defined]
        client.close()
