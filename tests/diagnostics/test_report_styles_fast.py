"""The report's colours and emphasis as a terminal shows them, on hand-made runs (no training).

``test_report_fast.py`` pins the words and the ANSI codes of a full report; these tests
render reports to styled segments and check the style of the parts that a full report
cannot tell apart: a run panel's border when no study panel shares its colour, the dimmed
note of a run with nothing to draw, and the bold "worst N of M" line.
"""

from __future__ import annotations

from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._report import Report
from tests.diagnostics._handmade import fold, run
from tests.diagnostics._styled import color, segments, style_of
from tests.diagnostics.test_report_fast import finding, report_of

C, W, E, NOTE = FindingCode, Severity.WARNING, Severity.ERROR, Severity.INFO


def lone_run(*findings: Finding) -> Report:
    """A report of one candidate with ``findings`` and no study finding: its panel is the only one."""
    return report_of((run("trial-1", curves=(fold([2.0, 1.0], [3.0, 2.0]),)), findings))


def test_a_runs_border_has_its_worst_findings_colour_whatever_the_order() -> None:
    # the severity ranks error > warning > info; by name "warning" > "info" > "error", which would be wrong
    cases = [((finding(C.OVERFITTING, W), finding(C.MISMATCH, E)), "red", True),
             ((finding(C.MISMATCH, E), finding(C.HEALTHY, NOTE)), "red", True),
             ((finding(C.HEALTHY, NOTE), finding(C.OVERFITTING, W)), "yellow", False),
             ((finding(C.HEALTHY, NOTE),), "green", False)]
    for findings, colour, bold in cases:
        segs = segments(lone_run(*findings))
        assert [p for p, _ in segs].count("╭─") == 1  # the run's panel and no other
        for corner in ("╭─", "─╮", "╰─"):
            border = style_of(segs, corner)
            assert (color(border), bool(border.bold)) == (colour, bold), (findings, corner)
        title = style_of(segs, "trial-1")
        assert (color(title), bool(title.bold)) == (colour, True)  # the name is bold in the border's colour


def test_each_finding_keeps_its_own_colour_inside_the_worst_ones_border() -> None:
    segs = segments(lone_run(finding(C.OVERFITTING, W), finding(C.MISMATCH, E)))
    assert color(style_of(segs, "warning ")) == "yellow" and not style_of(segs, "warning ").bold
    assert color(style_of(segs, "error   ")) == "red" and style_of(segs, "error   ").bold
    assert color(style_of(segs, "│")) == "red"


def test_a_run_with_no_finite_loss_says_so_dimmed() -> None:
    nothing = run("trial-1", curves=(fold([None, None], [None, None]),))  # None: a non-finite loss
    segs = segments(report_of((nothing, (finding(C.HEALTHY, NOTE),))))
    note = style_of(segs, "no finite losses to draw")
    assert note.dim and not note.bold and note.color is None
    assert not any("train " in p or "epochs" in p for p, _ in segs)  # no curve and no scale line


def test_the_worst_n_of_m_line_is_a_bold_heading() -> None:
    runs = [(run(f"t{i}"), (finding(C.DIVERGENCE if i == 2 else C.HEALTHY, E if i == 2 else NOTE),)) for i in range(3)]
    segs = segments(report_of(*runs, worst=1), width=200)
    heading = style_of(segs, "the worst 1 of 3 candidate runs, ranked by their worst finding's severity")
    assert heading.bold and not heading.dim and heading.color is None
    assert style_of(segs, "sweepdoctor diagnosis:") == heading  # the same emphasis as the report's title
