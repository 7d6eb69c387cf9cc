"""The report renders itself with rich; the library never prints."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from sweepdoctor.diagnostics import diagnose
from sweepdoctor.diagnostics._report import sparkline
from tests.diagnostics import scenarios
from tests.diagnostics.test_scenarios import Problems


def render(obj: object, width: int = 100) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(obj)
    return buf.getvalue()


def test_sparkline_scales_and_marks_nonfinite() -> None:
    assert sparkline([0.0, 0.5, 1.0, None], lo=0.0, hi=1.0) == "▁▅█×"
    assert sparkline([1.0, 10.0, 100.0], lo=1.0, hi=100.0, log=True) == "▁▅█"
    assert len(sparkline([float(i) for i in range(200)], lo=0.0, hi=199.0, width=40)) == 40
    assert sparkline([2.0, 2.0], lo=2.0, hi=2.0) == "▁▁"
    nan, inf = float("nan"), float("inf")  # raw non-finite floats are marked too, never drawn (nor raised on)
    assert sparkline([0.0, nan, 1.0, inf, -inf], lo=0.0, hi=1.0) == "▁×█××"
    assert sparkline([1.0, nan, 100.0], lo=1.0, hi=100.0, log=True) == "▁×█"
    assert sparkline([0.0, nan, 1.0, 1.0], lo=0.0, hi=1.0, width=2) == "×█"  # a bucket holding a NaN is marked


def test_report_shows_findings_advice_curves_and_baselines(problems: Problems) -> None:
    s, report = problems["overfitting"]
    out = render(report)
    assert "overfitting" in out and "rules.md §1" in out and "advice:" in out and "stop at epoch" in out
    assert "train " in out and "val " in out and "log scale" in out  # the curve picture
    assert "baseline-linear" in out and "reference baselines" in out
    assert "1 candidate run(s): how many have each finding" in out


def test_worst_n_and_patterns() -> None:
    report = diagnose(scenarios.lr_study())
    out = render(dataclasses.replace(report, worst=2))
    assert "the worst 2 of 6 candidate runs" in out
    panels = out.split("worst 2")[1].split("reference baselines")[0]
    assert panels.count("╭─ trial-") == 2 and "divergence" in panels and "healthy" not in panels
    assert "3 of 3 trials with lr > 0.1 diverged" in out
