"""``sweepdoctor rules [CODE]`` and the live diagnosis lines of ``sweep --diagnose``."""

from __future__ import annotations

import io
import json

from click.testing import CliRunner, Result
from rich.console import Console

from sweepdoctor.cli import main
from sweepdoctor.cli._sweep import _failed_lines, _verdict
from sweepdoctor.diagnostics import Finding, FindingCode, Severity, Thresholds
from sweepdoctor.sweep import TrialEvent


def run(args: list[str]) -> tuple[Result, str]:
    buf = io.StringIO()
    console = Console(file=buf, width=120, color_system=None)
    result = CliRunner().invoke(main, ["rules", *args], obj={"console": console})
    return result, buf.getvalue()


def test_one_rule_with_its_live_thresholds_and_evidence() -> None:
    result, out = run(["critical_point"])
    assert result.exit_code == 0, result.output
    assert "critical_point" in out and "rules.md §2" in out
    assert "grad_loss_ratio" in out and f"{Thresholds().grad_loss_ratio:g}" in out
    assert "evidence read:" in out and "w1*w2*x" in out


def test_every_rule_listed() -> None:
    result, out = run([])
    assert result.exit_code == 0
    for code in FindingCode:
        assert code.value in out


def test_json() -> None:
    result, out = run(["optimization_failure", "--json"])
    assert result.exit_code == 0 and out == ""
    doc = json.loads(result.stdout)
    assert doc["rule"] == "rules.md §1" and doc["thresholds"]["reference_ratio"] == Thresholds().reference_ratio
    result, _ = run(["--json"])
    assert {d["code"] for d in json.loads(result.stdout)} == {c.value for c in FindingCode}


def test_an_unknown_code_is_one_error_line() -> None:
    result, _ = run(["nope"])
    assert result.exit_code == 2
    assert result.output.startswith("error: rules: unknown finding code 'nope'; valid codes:")


def _event(number: int, state: str, reason: str | None, findings: tuple[Finding, ...] = ()) -> TrialEvent:
    return TrialEvent(number, state, None, reason, 0.9, number + 1, 10, findings)


def test_live_verdict_and_failed_reasons() -> None:
    f = Finding(FindingCode.DIVERGENCE, Severity.ERROR, "rules.md §4", "train_loss became NaN", "lower lr",
                run="trial-2", confidence=1.0)
    assert _verdict(_event(2, "fail", "diverged", (f,))) == "error divergence (1.00)"
    assert _verdict(_event(1, "complete", None)) == ""
    lines = _failed_lines([_event(1, "complete", None), _event(2, "fail", "diverged:\n non-finite loss", (f,))])
    assert lines == ["failed trials (1):", "  trial 2: diverged: non-finite loss [error divergence (1.00)]"]
    many = _failed_lines([_event(i, "fail", "boom") for i in range(8)], limit=5)
    assert len(many) == 7 and many[-1].startswith("  … 3 more")
    assert _failed_lines([_event(1, "complete", None)]) == []
