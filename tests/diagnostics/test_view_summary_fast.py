"""The study summary's finer points on hand-made reports (no training): the colours and
emphasis a user reads, the references line, the cap on a lone problem group, and how the
table's columns behave at their edges (a long name, a line as long as the terminal, a
word longer than the column).

The words and layout of the whole summary are pinned in ``test_view_fast.py``; these
tests render the same kind of reports to styled segments and check what each part looks
like, and work the numbers out by hand from the curves.
"""

from __future__ import annotations

from itertools import takewhile

from rich.style import Style

from sweepdoctor.diagnostics import Finding, FindingCode, Role, RunReport, StudySummary
from sweepdoctor.diagnostics.view import severity_counts
from tests.diagnostics._handmade import fold, run
from tests.diagnostics._styled import color, segments, style_of
from tests.diagnostics.test_view_fast import (
    BASE,
    ERR,
    INFO,
    WARN,
    finding,
    pattern,
    render,
    report,
    rr,
    study_runs,
)

# --- colours and emphasis ------------------------------------------------------------------

def test_headings_are_bold_and_hints_are_dim() -> None:
    rep = report(study_runs(), patterns=(pattern(FindingCode.DIVERGENCE, "lr", ">", 0.5),), baselines=(BASE,))
    segs = segments(StudySummary(rep, title="demo"), width=200)
    assert style_of(segs, "demo", whole=True).bold
    assert not style_of(segs, ": 6 trials (").bold  # only the title is bold on the first line
    refs = style_of(segs, "references (final): ")
    assert refs.dim and not refs.bold
    for header in ("trial", "score", "state", "sev", "conf", "main finding's evidence"):
        assert style_of(segs, header, whole=True).bold, header
    head = style_of(segs, "── divergence: main finding of 3 trial(s), 2 of them error(s)")
    assert head.bold and not head.dim
    rules = style_of(segs, "  · sweepdoctor rules divergence")
    assert rules.dim and rules.bold  # the hint is dimmed inside the bold heading
    assert style_of(segs, "where in the search space:").bold
    assert not style_of(segs, "  • 3 of 3 trials with lr > 0.5 diverged").bold
    assert style_of(segs, "the most useful actions:").bold
    assert not style_of(segs, "  1. divergence in 3 trial(s)").bold
    more = style_of(segs, "more: diagnose --trial N")
    assert more.dim and not more.bold
    assert style_of(segs, "#4 #10") == Style.null()  # the healthy trials' numbers are plain text
    evidence = style_of(segs, "summary of divergence")
    assert not evidence.bold and not evidence.dim


def test_severity_cells_are_coloured_by_severity() -> None:
    runs = [*study_runs(), rr("trial-6", finding(FindingCode.OVERFITTING, INFO))]
    segs = segments(StudySummary(report(runs), everything=True), width=200)
    error, warn, info = (style_of(segs, word, whole=True) for word in ("error", "warn", "info"))
    assert (color(error), error.bold) == ("red", True)
    assert (color(warn), bool(warn.bold)) == ("yellow", False)
    assert (color(info), bool(info.bold)) == ("green", False)
    assert color(style_of(segs, "#3", whole=True)) is None  # only the severity is coloured


def test_the_worst_line_is_bold_and_the_cut_rows_are_dim() -> None:
    runs = [rr(f"trial-{i}", finding(FindingCode.DIVERGENCE, ERR)) for i in range(40)]
    segs = segments(StudySummary(report(runs, worst=38)), width=200)
    assert style_of(segs, "the worst 38 of 40 candidate runs").bold
    cut = style_of(segs, "… 4 more (--all)")  # 38 worst, 34 of them shown
    assert cut.dim and not cut.bold


# --- the references line ------------------------------------------------------------------

def test_references_are_each_baselines_fold_mean_of_final_train_and_best_val() -> None:
    # deep: train ends at 1 and 0.5 (mean 0.75); val best 1.5 in fold 0, none recorded in fold 1 (mean 1.5).
    deep = run("baseline-deep", role=Role.BASELINE, curves=(fold([3.0, 2.0, 1.0], [2.5, 1.5, 2.0]),
                                                             fold([4.0, 3.0, 0.5], [None, None, None])))
    # gaps: fold 0 has no finite train loss (left out of the mean), fold 1 ends at 0.25 after a gap
    gaps = run("baseline-gaps", role=Role.BASELINE, curves=(fold([None, None]), fold([1.0, 0.25, None])))
    rep = report([rr("trial-1", finding(FindingCode.HEALTHY, INFO))], baselines=(deep, gaps))
    out = render(StudySummary(rep), width=200).splitlines()
    assert out[1] == "references (final): baseline-deep train 0.75 val 1.5 · baseline-gaps train 0.25 val -"
    no_refs = render(StudySummary(report([rr("trial-1", finding(FindingCode.HEALTHY, INFO))])), width=200)
    assert "references" not in no_refs


# --- how many rows are shown ------------------------------------------------------------------

def test_a_lone_problem_group_shows_all_34_rows_whatever_the_healthy_trials() -> None:
    runs = [rr(f"trial-{i}", finding(FindingCode.DIVERGENCE, ERR, confidence=1 - i / 100)) for i in range(40)]
    runs += [rr("trial-40", finding(FindingCode.HEALTHY, INFO)), rr("trial-41", finding(FindingCode.HEALTHY, INFO))]
    out = render(StudySummary(report(runs)), width=100).splitlines()
    shown = [x.split()[0] for x in out if x.endswith("summary of divergence")]
    assert shown == [f"#{i}" for i in range(34)]  # most confident first, the healthy group does not count
    assert "       … 6 more (--all)" in out
    assert "       #40 #41" in out


# --- the table's columns at their edges ------------------------------------------------------------

def test_a_long_name_is_cut_to_one_line_in_the_trial_column() -> None:
    for name, cut in (("run-abcdefgh", "run-a…"), ("big net 2", "big n…")):  # one word or several: never wrapped
        rep = report([rr(name, finding(FindingCode.DIVERGENCE, ERR), state="complete")])
        out = render(StudySummary(rep), width=100).splitlines()
        start = out.index(f"{cut}       - complete error 1.00 summary of divergence")
        assert out[start + 1] == "the most useful actions:", name


def evidence_rows(summary: str) -> list[str]:
    """The evidence column (at 100 characters) of a one-trial study whose divergence finding says ``summary``."""
    main = Finding(FindingCode.DIVERGENCE, ERR, "rule", summary, "advice", {}, run="trial-1")
    out = render(StudySummary(report([RunReport(run("trial-1", state="complete"), (main,))])), width=100)
    lines = out.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("    #1 "))
    rows = [lines[start], *takewhile(lambda x: x.startswith(" " * 35), lines[start + 1:])]
    return [x[35:] for x in rows]


def test_the_evidence_takes_the_rest_of_the_line_and_folds_a_long_word() -> None:
    # at 100 characters the fixed columns and their gaps take 6+1 7+1 8+1 5+1 4+1 = 35: the evidence gets 65
    fits = "x" * 30 + " " + "y" * 34
    assert evidence_rows(fits) == [fits]
    assert evidence_rows(fits + "z") == ["x" * 30, "y" * 34 + "z"]
    word = "w" * 150  # longer than the column: folded over lines, nothing cut
    assert evidence_rows(word) == ["w" * 65, "w" * 65, "w" * 20]


def test_severity_counts_tallies_code_and_severity() -> None:
    findings = [finding(FindingCode.DIVERGENCE, ERR), finding(FindingCode.DIVERGENCE, ERR),
                finding(FindingCode.DIVERGENCE, WARN), finding(FindingCode.HEALTHY, INFO)]
    assert severity_counts(findings) == {("divergence", "error"): 2, ("divergence", "warning"): 1,
                                         ("healthy", "info"): 1}
    assert severity_counts([]) == {}
