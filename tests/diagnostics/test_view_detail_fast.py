"""The trial in depth (``diagnose --trial N``) on hand-made reports: the colours that carry a
finding's severity, the per-fold numbers a user reads, and the curves' width at each terminal."""

from __future__ import annotations

import dataclasses
import io
import re

from rich.console import Console, RenderableType
from rich.style import Style

from sweepdoctor.diagnostics import EpochRecord, FindingCode, FoldHistory, RunReport, TrialDetail
from sweepdoctor.diagnostics.view import fold_table
from tests.diagnostics._handmade import fold, run
from tests.diagnostics.test_view_fast import ERR, INFO, WARN, detail_report, finding, render, report

BARS = set("▁▂▃▄▅▆▇█×")  # a sparkline's characters


def styled(obj: RenderableType, width: int = 120) -> list[list[tuple[str, Style | None]]]:
    """The rendered lines of ``obj``, each as its (text, style) pieces (blank pieces left out)."""
    console = Console(width=width, color_system="truecolor", file=io.StringIO())
    return [[(s.text, s.style) for s in line if s.text.strip()] for line in console.render_lines(obj, pad=False)]


def look(lines: list[list[tuple[str, Style | None]]], text: str) -> tuple[str | None, bool, bool]:
    """(colour, bold, dim) of the first rendered piece that reads ``text``."""
    for line in lines:
        for piece, style in line:
            if piece.strip() == text:
                if style is None:
                    return None, False, False
                return style.color.name if style.color else None, bool(style.bold), bool(style.dim)
    raise AssertionError(f"{text!r} is not a piece of the output")


PLAIN = (None, False, False)


def test_each_severity_has_its_colour_and_the_labels_are_dim() -> None:
    findings = (finding(FindingCode.DIVERGENCE, ERR, confidence=0.5, train_loss=2.0),
                finding(FindingCode.OVERFITTING, WARN, confidence=0.75),
                finding(FindingCode.SHARP_MINIMUM, INFO, confidence=0.25))
    cand = run("trial-7", hp={"lr": 0.5}, state="complete")
    out = styled(TrialDetail(report([RunReport(cand, findings)]), "trial-7"))
    assert look(out, "trial-7") == (None, True, False)  # the run's name stands out, its state does not
    assert look(out, "complete, score -, 1 folds, 1 epochs") == PLAIN
    assert look(out, "lr=0.5") == (None, False, True)
    assert look(out, "findings (main first):") == (None, True, False)
    assert look(out, "error") == ("red", True, False)
    assert look(out, "warning") == ("yellow", False, False)
    assert look(out, "info") == ("green", False, False)
    for code in ("divergence", "overfitting", "sharp_minimum"):
        assert look(out, code) == (None, True, False)
    assert look(out, "confidence 0.50  (rule-divergence; sweepdoctor rules divergence)") == (None, False, True)
    assert look(out, "confidence 0.25  (rule-sharp_minimum; sweepdoctor rules sharp_minimum)") == (None, False, True)
    assert look(out, "summary of divergence") == PLAIN
    assert look(out, "advice:") == (None, False, True) and look(out, "advice for divergence") == PLAIN
    assert look(out, "evidence:") == (None, False, True) and look(out, "train_loss=2") == PLAIN
    curves = "curves beside the references (fold means; the same scale in each panel):"
    assert look(out, curves) == (None, True, False)


def scored_run() -> RunReport:
    """Three folds: a stored score, a score from the last validation metric, no score and no training loss."""
    stored = dataclasses.replace(fold([1.0, 0.5], [0.9, 0.7]), score=0.8)
    metric = FoldHistory(tuple(EpochRecord(i, t, None, None, 0.1, val_metric=m)
                               for i, (t, m) in enumerate([(2.0, 0.6), (1.0, 0.654321)])))
    untrained = fold([None, None], [0.5, 0.4])
    return RunReport(run("trial-3", curves=(stored, metric, untrained)), (finding(FindingCode.HEALTHY, INFO),))


def test_the_fold_table_reads_each_folds_score_and_a_dash_for_an_unknown_training_loss() -> None:
    out = render(fold_table(scored_run(), width=200)).splitlines()
    assert re.split(r"\s{2,}", out[1].strip()) == [  # grad final and test loss: not known, left out
        "fold", "epochs", "train first", "train final", "val best (epoch)", "val final", "score"]
    assert out[2].split() == ["0", "2", "1", "0.5", "0.7", "(2)", "0.7", "0.8"]
    assert out[3].split() == ["1", "2", "2", "1", "-", "-", "0.6543"]  # the last validation metric
    assert out[4].split() == ["2", "2", "-", "-", "0.4", "(2)", "0.4", "-"]


def test_a_run_without_a_state_reads_a_dash_and_its_score_is_the_fold_mean() -> None:
    rep = scored_run()
    head = render(TrialDetail(report([rep]), "trial-3"), width=120).splitlines()[0]
    assert head == f"trial-3  -, score {(0.8 + 0.654321) / 2:.4g}, 3 folds, 2 epochs"


def spark_length(out: str) -> int:
    """The length of the run's training-loss sparkline (its first panel)."""
    row = next(x for x in out.splitlines() if x.startswith("training loss"))
    return sum(ch in BARS for ch in row)


def test_the_sparklines_take_the_room_left_beside_the_names_and_numbers() -> None:
    long = run("trial-1", curves=(fold([100.0 / (k + 1) for k in range(100)]),))
    rep = report([RunReport(long, (finding(FindingCode.HEALTHY, INFO),))])
    lengths = {w: spark_length(render(TrialDetail(rep, "trial-1"), width=w)) for w in (160, 100, 75, 70)}
    assert lengths == {160: 60, 100: 30, 75: 8, 70: 8}  # the width less 70, at most 60, at least 8


def test_the_curves_fit_a_narrow_terminal_with_every_name_whole() -> None:
    out = render(TrialDetail(detail_report(), "trial-7"), width=60)
    curves = out.split("curves beside the references")[1]
    assert curves.count("baseline-lin") == 3  # training and validation loss, learning rate
    assert "0.375" in curves.split() and "(0.375)" in curves.split()
