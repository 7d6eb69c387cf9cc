"""Terminal charts, PNG, CSV and JSON writers (pure: records in, text or files out)."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime
from pathlib import Path

import pytest
from rich.console import Console

import sweepdoctor.studies as studies
from sweepdoctor.errors import SweepdoctorError
from sweepdoctor.studies import (
    CurveChart,
    CurvePoint,
    Curves,
    TrialPage,
    TrialRecord,
    importance_bars,
    jsonable,
    write_curves_csv,
    write_curves_png,
    write_trials_csv,
)
from sweepdoctor.studies.query._detail import evenly_spaced


def _curves(n: int = 10) -> Curves:
    points = tuple(
        CurvePoint(
            epoch=e,
            n_folds=3,
            train_mean=1.0 / (e + 1),
            train_min=0.9 / (e + 1),
            train_max=1.1 / (e + 1),
            val_mean=1.0 / (e + 1) + 0.05 * e,
            val_min=None if e == 3 else 0.95 / (e + 1) + 0.05 * e,
            val_max=None if e == 3 else 1.05 / (e + 1) + 0.05 * e,
        )
        for e in range(n)
    )
    return Curves(study="s", run="trial-3", trial_number=3, points=points)


def test_curve_chart_draws_both_means_bands_and_axes() -> None:
    lines = [t.plain for t in CurveChart(_curves(), width=40, height=10).lines()]
    grid = lines[:10]
    assert all(len(line) == len(grid[0]) for line in grid)
    assert grid[0].lstrip().startswith("1.1") and grid[-1].lstrip().startswith(f"{0.09:.3g}")
    body = "".join(line.split("│", 1)[1] for line in grid)
    assert {"*", "o", "░", "·"} <= set(body)
    # the train mean falls: its first column is high, its last one low
    rows_with_train_first = [r for r, line in enumerate(grid) if line.split("│", 1)[1][0] in "*#"]
    rows_with_train_last = [r for r, line in enumerate(grid) if line.split("│", 1)[1][-1] in "*#"]
    assert min(rows_with_train_first) < max(rows_with_train_last)
    assert lines[11].strip().startswith("0") and lines[11].endswith("epoch 9")
    assert "mean over 3 folds" in lines[12]


def test_curve_chart_edge_cases() -> None:
    one = Curves(study="s", run="r", trial_number=None, points=_curves(1).points)
    assert CurveChart(one, width=10, height=4).lines()  # a single epoch is a flat line, not a crash
    empty = Curves(study="s", run="r", trial_number=None, points=(CurvePoint(0, 1, *([None] * 6)),))
    assert "no finite losses" in CurveChart(empty).lines()[0].plain
    with pytest.raises(ValueError, match="width >= 8"):
        CurveChart(one, width=3)
    buf = io.StringIO()
    Console(file=buf, width=100).print(CurveChart(_curves()))
    assert "validation" in buf.getvalue()


def test_importance_bars_are_proportional() -> None:
    buf = io.StringIO()
    Console(file=buf, width=80, color_system=None).print(importance_bars({"lr": 0.75, "optimizer": 0.25}, width=20))
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("lr") and lines[0].count("█") == 20 and "75.0%" in lines[0]
    assert lines[1].count("█") == 6 and "25.0%" in lines[1]


def test_png_is_written_and_bad_paths_are_one_line(tmp_path: Path) -> None:
    out = write_curves_png(_curves(), tmp_path / "c.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SweepdoctorError, match="--png: cannot write"):
        write_curves_png(_curves(), tmp_path / "missing" / "c.png")


def test_csv_writers() -> None:
    buf = io.StringIO()
    assert write_curves_csv(_curves(2), buf) == 2
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert rows[0][:3] == ["epoch", "n_folds", "train_mean"] and rows[1][0] == "0"
    when = datetime(2026, 1, 1, 12)
    trials = (
        TrialRecord(0, 1, "complete", 0.5, when, when, {"optimizer": "adam"}, {"hp": {"a": 1}}, ("overfitting",)),
        TrialRecord(1, 2, "fail", None, when, None, {"lr": 0.1}, {"x": math.nan}),
    )
    buf = io.StringIO()
    assert write_trials_csv(TrialPage("s", trials, 2), buf) == 2
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert rows[0]["params_optimizer"] == "adam" and rows[0]["params_lr"] == "" and rows[0]["duration_s"] == "0.0"
    assert json.loads(rows[0]["user_attrs_hp"]) == {"a": 1} and rows[0]["findings"] == "overfitting"
    assert rows[1]["value"] == "" and rows[1]["user_attrs_x"] == "" and rows[1]["datetime_complete"] == ""


def test_jsonable_has_no_nan_and_dates_as_text() -> None:
    doc = jsonable({"a": math.inf, "b": [1.0, math.nan], "c": datetime(2026, 1, 1), "d": (1, "x")})
    expected = '{"a": null, "b": [1.0, null], "c": "2026-01-01T00:00:00", "d": [1, "x"]}'
    assert json.dumps(doc, allow_nan=False) == expected


def test_evenly_spaced_sample() -> None:
    assert evenly_spaced([5, 1, 3], None) == [1, 3, 5]
    assert evenly_spaced(list(range(10)), 20) == list(range(10))
    assert evenly_spaced(list(range(100)), 4) == [0, 25, 50, 75]


def test_public_names_exist() -> None:
    assert sorted(set(studies.__all__)) == sorted(studies.__all__)
    missing = [n for n in studies.__all__ if not hasattr(studies, n)]
    assert missing == []


def test_param_table_folds_parameters_into_one_column_when_narrow() -> None:
    when = datetime(2026, 1, 1)
    params = {f"param_{i}": 0.001 * i for i in range(8)}
    page = TrialPage("s", (TrialRecord(0, 1, "complete", 0.5, when, when, params),), 1)
    for width, wide in ((300, True), (70, False)):
        buf = io.StringIO()
        Console(file=buf, width=width, color_system=None).print(studies.trials_table(page))
        text = buf.getvalue()
        if wide:
            assert "parameters" not in text and any(" param_7 " in line for line in text.splitlines())
        else:
            assert "parameters" in text and "param_7=0.007" in text
