"""The views on hand-made reports (no training): what a user reads in the terminal."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

from sweepdoctor.diagnostics import (
    Finding,
    FindingCode,
    History,
    Report,
    Role,
    RunReport,
    StudySummary,
    Task,
    TrialDetail,
)
from sweepdoctor.diagnostics._findings import Severity
from sweepdoctor.diagnostics._study import Pattern
from sweepdoctor.diagnostics._thresholds import Thresholds
from sweepdoctor.diagnostics.view import (
    FittedTable,
    actions,
    curve_rows,
    evidence_line,
    fit_widths,
    fitted_table,
    fold_table,
    longest_word,
    run_label,
    write_curves_png,
)
from sweepdoctor.errors import ConfigError
from tests.diagnostics._handmade import fold, run


def render(obj: object, width: int = 120) -> str:
    console = Console(record=True, width=width, color_system=None, file=io.StringIO())
    console.print(obj)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


def finding(code: FindingCode, severity: Severity = Severity.WARNING, run_name: str | None = "cand",
            confidence: float = 1.0, **evidence: Any) -> Finding:
    return Finding(code, severity, f"rule-{code.value}", f"summary of {code.value}", f"advice for {code.value}",
                   evidence, run=run_name, confidence=confidence)


def line(code: FindingCode, **evidence: Any) -> str:
    return evidence_line(finding(code, **evidence))


# --- _lines ------------------------------------------------------------------------

def test_run_label_numbers_trials_only() -> None:
    assert run_label(run("trial-17")) == "#17"
    assert run_label(run("trial-x")) == "trial-x"
    assert run_label(run("baseline-17")) == "baseline-17"
    assert run_label(run("my-trial-3")) == "my-trial-3"
    assert run_label(run("cand")) == "cand"


def test_reference_line_names_the_reference_epochs_ratio_and_folds() -> None:
    full = line(FindingCode.OPTIMIZATION_FAILURE, train_loss=0.5, reference="baseline-shallow",
                reference_train_loss=0.125, reference_epoch=7, loss_ratio=4.0, folds_agree=2, folds=3)
    assert full == "train 0.5 vs baseline-shallow 0.125 after 7 epochs (4x), 2/3 folds"
    bare = line(FindingCode.MODEL_BIAS, train_loss=0.5, reference="lin", reference_train_loss=0.25,
                reference_epoch=0, loss_ratio=0.0, folds_agree=2)
    assert bare == "train 0.5 vs lin 0.25, 2 fold(s) agree"
    assert line(FindingCode.MODEL_BIAS, train_loss=True) == "train n/a vs None n/a"


def test_critical_point_line() -> None:
    assert line(FindingCode.CRITICAL_POINT, never_moved=True, train_loss=2.0, grad_to_loss=1e-5,
                reference_grad_to_loss=0.3) == "loss never moved at 2, grad/loss 1e-05 (references 0.3)"
    assert line(FindingCode.CRITICAL_POINT, train_loss=2.0, grad_to_loss=1e-5, reference_grad_to_loss=0.0,
                folds_agree=1, folds=2) == "loss stalled at 2, grad/loss 1e-05 (references 0), 1/2 folds"
    assert line(FindingCode.CRITICAL_POINT, train_loss=2.0) == "loss stalled at 2, grad/loss n/a"


def test_oscillation_line() -> None:
    assert line(FindingCode.OSCILLATION, train_loss=1.5, up_fraction=0.4, grad_ratio=0.9) == (
        "loss stalled at 1.5, 40% of late steps up, grad kept 0.9 of start")
    assert line(FindingCode.OSCILLATION) == "loss stalled at n/a, 0% of late steps up, grad kept n/a of start"


def test_slow_convergence_line() -> None:
    assert line(FindingCode.SLOW_CONVERGENCE, never_moved=True, train_loss=3.0, grad_to_loss=0.01,
                lr_final=1e-4) == "loss never moved (3), grad/loss 0.01, lr at end 0.0001"
    assert line(FindingCode.SLOW_CONVERGENCE, train_loss=0.9, down_fraction=0.75, reference="base",
                reference_train_loss=0.1, lr_final=0.01) == (
        "train 0.9 still falling (75% steps down) vs base 0.1, lr at end 0.01")
    assert line(FindingCode.SLOW_CONVERGENCE, train_loss=0.9) == (
        "train 0.9 still falling (0% steps down) vs reference n/a, lr at end n/a")


def test_overfitting_line() -> None:
    assert line(FindingCode.OVERFITTING, train_loss=0.1, best_val_loss=0.5, val_rise=0.2, best_epoch=4,
                final_val_loss=0.7, reference="base", reference_val_loss=0.4) == (
        "train 0.1, val best 0.5 at epoch 4, final 0.7; base val 0.4")
    assert line(FindingCode.OVERFITTING, train_loss=0.1, best_val_loss=0.5, val_rise=0.2) == (
        "train 0.1, val best 0.5")
    assert line(FindingCode.OVERFITTING, train_loss=0.1, best_val_loss=0.5, best_epoch=4) == (
        "train 0.1, val best 0.5")


def test_mismatch_hessian_healthy_and_other_lines() -> None:
    assert line(FindingCode.MISMATCH, test_loss=2.0, ratio=4.0, val_loss=0.5) == "test loss 2 = 4x val 0.5"
    for code in (FindingCode.SADDLE_POINT, FindingCode.LOCAL_MINIMUM):
        assert line(code, min_eigenvalue=-0.5, max_eigenvalue=12.0, grad_norm=1e-3) == (
            "Hessian eigenvalues -0.5 … 12, grad 0.001")
    assert line(FindingCode.HEALTHY, train_loss=0.2, best_val_loss=0.3) == "train 0.2, val 0.3"
    assert line(FindingCode.DIVERGENCE, train_loss=1.0) == "summary of divergence"


# --- _fit ------------------------------------------------------------------------

def test_longest_word() -> None:
    assert longest_word(["a bb", "ccc d"]) == 3
    assert longest_word([]) == 1
    assert longest_word([""]) == 1


def test_fit_widths_shrinks_the_widest_column_to_its_longest_word() -> None:
    cols = [["name", "baseline-shallow"], ["note", "one two three four"]]
    assert fit_widths(cols, available=100) == [16, 18]
    assert fit_widths(cols, available=30) == [16, 12]
    assert fit_widths(cols, available=31, gap=3) == [16, 12]
    assert fit_widths(cols, available=20) == [16, 5]  # every word whole, wider than asked
    assert fit_widths(cols, available=20, whole=(False, True)) == [5 + 11, 18][:1] + [18]
    assert fit_widths([["ab\ncdefg"]], available=3) == [5]
    assert fit_widths([["abc"], []], available=10) == [3, 1]
    assert fit_widths([["", ""]], available=10) == [0]
    assert fit_widths([["aa bb"]], available=5) == [5]
    cols = [["h", "aaaa bbbb"], ["h", "cc dd"]]
    plain = render(fitted_table(["h", "h"], [["aaaa bbbb", "cc dd"]], available=10, whole=(True, False)), width=40)
    assert fit_widths(cols, available=10, whole=(True, False)) == [9, 2] and "aaaa bbbb" in plain


def test_fitted_tables_show_a_bold_header_and_title() -> None:
    console = Console(width=40, color_system="standard", file=io.StringIO(), force_terminal=True)
    console.print(fitted_table(["name"], [["x"]], available=40))
    console.print(FittedTable(["a", "b"], [["x", "y"]], title="T"), width=3)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[1mname" in out and "\x1b[1mT" in out


def test_fit_widths_takes_from_the_widest_first() -> None:
    cols = [["aaaa bbbb"], ["cc dd ee ff"]]
    assert fit_widths(cols, available=18) == [8, 8]
    assert fit_widths(cols, available=19) == [8, 9]


def test_fitted_table_wraps_whole_words_and_justifies() -> None:
    table = fitted_table(["name", "value"], [["baseline-shallow", "1.5"], ["[b]x[/b]", Text("22")]],
                         available=40, justify=["left", "right"], title="the title")
    out = render(table, width=40)
    lines = out.splitlines()
    assert lines[0].startswith("the title")
    assert lines[1] == "name              value"
    assert "baseline-shallow    1.5" in out and "x                    22" in out
    assert "[b]" not in out
    narrow = render(fitted_table(["a", "b"], [["one two three", "x"]], available=8), width=40)
    assert narrow.splitlines()[1:4] == ["one    x", "two", "three"]


def test_fitted_table_default_justify_is_left() -> None:
    out = render(fitted_table(["col", "c2"], [["a", "bbbbbb"]], available=40, justify=["right"]), width=40)
    assert out.splitlines() == ["col  c2", "  a  bbbbbb"]


def test_fitted_table_as_renderable_drops_optional_columns_then_falls_back_to_records() -> None:
    t = FittedTable(["name", "value", "spread"], [["baseline", "0.125", "±0.01"], ["cand", "2", "±1"]],
                    justify=["left", "right", "right"], title="refs", optional=["spread"])
    wide = render(t, width=60)
    assert wide.splitlines()[1].split() == ["name", "value", "spread"]
    assert "baseline  0.125   ±0.01" in wide
    mid = render(t, width=15)
    assert mid.splitlines()[1].split() == ["name", "value"] and "spread" not in mid and "±" not in mid
    assert "baseline  0.125" in mid
    tight = render(t, width=14)
    assert tight.split() == ["refs", "-", "name:", "baseline", "value:", "0.125", "-", "name:", "cand", "value:", "2"]
    assert tight.splitlines()[3] == "  value: 0.125" and "  spread" not in tight
    untitled = FittedTable(["", "v"], [["x", "1"]], optional=[])
    assert "".join(render(untitled, width=3).split()) == "-xv:1"
    exact = FittedTable(["ab", "cd"], [["x", "y"]])
    assert render(exact, width=6).splitlines() == ["ab  cd", "x   y"]
    assert render(exact, width=5).splitlines() == ["- ab:", "x", "  cd:", "y"]
    three = FittedTable(["ab", "cd", "ef"], [["x", "y", "z"]])  # two gaps of 2 between three columns
    assert render(three, width=10).splitlines() == ["ab  cd  ef", "x   y   z"]
    assert render(three, width=9).splitlines() == ["- ab: x", "  cd: y", "  ef: z"]


# --- _actions ------------------------------------------------------------------------

def report(runs: list[RunReport], patterns: tuple[Pattern, ...] = (), study: tuple[Finding, ...] = (),
           worst: int | None = None, baselines: tuple[Any, ...] = ()) -> Report:
    history = History(Task.REGRESSION, "mse", (*(r.run for r in runs), *baselines))
    return Report(history, tuple(runs), study, patterns, Thresholds(), worst=worst)


def rr(name: str, *findings: Finding, state: str | None = None, **kw: Any) -> RunReport:
    return RunReport(run(name, state=state, **kw), findings)


def pattern(code: FindingCode, parameter: str, op: str, value: Any, n: int = 3) -> Pattern:
    return Pattern(code, parameter, op, value, n, n, n, 10)


def test_actions_weigh_by_severity_and_name_up_to_three_trials() -> None:
    runs = [rr(f"trial-{i}", finding(FindingCode.OVERFITTING, Severity.INFO)) for i in range(5)]
    runs += [rr("trial-9", finding(FindingCode.DIVERGENCE, Severity.ERROR)),
             rr("trial-8", finding(FindingCode.DIVERGENCE, Severity.ERROR))]
    runs += [rr("trial-7", finding(FindingCode.SLOW_CONVERGENCE, Severity.WARNING),
                finding(FindingCode.DIVERGENCE, Severity.ERROR))]
    runs += [rr("trial-6", finding(FindingCode.HEALTHY, Severity.INFO))]
    runs += [rr("trial-5", finding(FindingCode.SHARP_MINIMUM, Severity.INFO))]
    todo = actions(report(runs))
    assert todo == [
        "divergence in 2 trial(s) (#9, #8): lower the learning rate (or clip gradients, add warmup)",
        "overfitting in 5 trial(s) (#0, #1, #2, …): regularize: early stopping (patience > 0), weight decay or "
        "dropout, a smaller model",
        "slow_convergence in 1 trial(s) (#7): raise the learning rate (or its lower bound in the space) or "
        "train longer",
    ]
    assert actions(report(runs), n=4)[3] == "sharp_minimum in 1 trial(s) (#5): see sweepdoctor rules sharp_minimum"
    four = [rr(f"trial-{i}", finding(FindingCode.MISMATCH)) for i in range(4)]
    assert actions(report(four))[0].startswith("mismatch in 4 trial(s) (#0, #1, #2, …): ")
    three = [rr(f"trial-{i}", finding(FindingCode.MISMATCH)) for i in range(3)]
    assert actions(report(three)) == ["mismatch in 3 trial(s) (#0, #1, #2): get training data like the test data "
                                      "(more of the same will not help)"]
    assert actions(report([rr("trial-1", finding(FindingCode.HEALTHY, Severity.INFO))])) == []


def test_actions_move_the_search_space_region_of_a_cause() -> None:
    runs = [rr("trial-1", finding(FindingCode.DIVERGENCE, Severity.ERROR))]
    p_width = pattern(FindingCode.DIVERGENCE, "width", ">", 64)
    p_lr = pattern(FindingCode.DIVERGENCE, "lr", ">", 0.123456)
    p_other = pattern(FindingCode.OVERFITTING, "lr", ">", 0.5)
    todo = actions(report(runs, patterns=(p_other, p_width, p_lr)))
    assert todo == [f"divergence in 1 trial(s) (#1): keep lr <= 0.1235 in the search space ({p_lr.summary})"]
    only_width = actions(report(runs, patterns=(p_other, p_width)))
    assert only_width == [f"divergence in 1 trial(s) (#1): keep width <= 64 in the search space ({p_width.summary})"]
    low = pattern(FindingCode.DIVERGENCE, "lr", "<=", 0.001)
    assert "keep lr > 0.001 in the search space" in actions(report(runs, patterns=(low,)))[0]
    eq = pattern(FindingCode.DIVERGENCE, "optimizer", "==", "sgd")
    assert "drop optimizer=sgd from the search space" in actions(report(runs, patterns=(eq,)))[0]
    other = pattern(FindingCode.MISMATCH, "lr", ">", 0.5)
    mis = [rr("trial-2", finding(FindingCode.MISMATCH))]
    assert "keep lr <= 0.5 in the search space" in actions(report(mis, patterns=(other,)))[0]


# --- _summary ------------------------------------------------------------------------

ERR, WARN, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
BASE = run("baseline-lin", role=Role.BASELINE, curves=(fold([1.0, 0.5], [1.2, 0.6]), fold([2.0, 0.25], [0.9, 0.8])))


def study_runs() -> list[RunReport]:
    return [rr("trial-1", finding(FindingCode.DIVERGENCE, ERR, confidence=0.5), state="complete"),
            rr("trial-2", finding(FindingCode.DIVERGENCE, WARN, confidence=0.9), state="pruned"),
            rr("trial-3", finding(FindingCode.DIVERGENCE, ERR, confidence=0.8), state="complete"),
            rr("trial-10", finding(FindingCode.HEALTHY, INFO, train_loss=0.2, best_val_loss=0.3), state="complete"),
            rr("trial-4", finding(FindingCode.HEALTHY, INFO, train_loss=0.2, best_val_loss=0.3)),
            rr("trial-5", finding(FindingCode.OVERFITTING, WARN), finding(FindingCode.DIVERGENCE, ERR), state="fail")]


def test_the_study_summary_as_a_user_reads_it() -> None:
    runs = study_runs()
    runs[0] = RunReport(dataclasses.replace(runs[0].run, score=0.123456), runs[0].findings)
    rep = report(runs, patterns=(pattern(FindingCode.DIVERGENCE, "lr", ">", 0.5),),
                 study=(finding(FindingCode.MSE_FOR_CLASSIFICATION, WARN, run_name=None),), baselines=(BASE,))
    assert render(StudySummary(rep, title="demo"), width=100).splitlines() == [
        "demo: 6 trials (3 complete, 1 pruned, 1 unknown, 1 fail); regression, loss mse",
        "references (final): baseline-lin train 0.375 val 0.7",
        " trial   score state    sev   conf main finding's evidence",
        "── divergence: main finding of 3 trial(s), 2 of them error(s); found in 1 more as a secondary",
        "finding  · sweepdoctor rules divergence",
        "    #3       - complete error 0.80 summary of divergence",
        "    #1  0.1235 complete error 0.50 summary of divergence",
        "    #2       - pruned   warn  0.90 summary of divergence",
        "── overfitting: main finding of 1 trial(s)  · sweepdoctor rules overfitting",
        "    #5       - fail     warn  1.00 train n/a, val best n/a",
        "── healthy: main finding of 2 trial(s)  · sweepdoctor rules healthy",
        "       #4 #10",
        "where in the search space:",
        "  • 3 of 3 trials with lr > 0.5 diverged",
        "study: warning mse_for_classification: summary of mse_for_classification",
        "the most useful actions:",
        "  1. divergence in 3 trial(s) (#1, #2, #3): keep lr <= 0.5 in the search space (3 of 3 trials with",
        "lr > 0.5 diverged)",
        "  2. overfitting in 1 trial(s) (#5): regularize: early stopping (patience > 0), weight decay or",
        "dropout, a smaller model",
        "more: diagnose --trial N (curves, folds, all evidence) · --all (every row and finding) · sweepdoctor",
        "rules CODE",
    ]


def test_everything_at_a_narrow_terminal_drops_the_state_and_lists_healthy_rows() -> None:
    rep = report(study_runs())
    out = render(StudySummary(rep, everything=True), width=69).splitlines()
    assert out[:2] == ["study: 6 trials (3 complete, 1 pruned, 1 unknown, 1 fail);", "regression, loss mse"]
    assert out[2] == " trial   score sev   conf main finding's evidence"
    row4, row10 = "    #4       - info  1.00 train 0.2, val 0.3", "   #10       - info  1.00 train 0.2, val 0.3"
    assert out.index(row4) < out.index(row10)
    assert not any(x.startswith("more:") or x.startswith("where") or x.startswith("references") for x in out)
    at70 = render(StudySummary(rep), width=70).splitlines()
    assert at70[2] == " trial   score state    sev   conf main finding's evidence"


def test_a_long_study_caps_each_group_and_names_the_worst() -> None:
    runs = [rr(f"trial-{i}", finding(FindingCode.DIVERGENCE, ERR, confidence=1 - i / 100)) for i in range(40)]
    runs += [rr("trial-90", finding(FindingCode.OVERFITTING, INFO))]
    patterns = tuple(pattern(FindingCode.DIVERGENCE, f"p{k}", ">", k) for k in range(6))
    out = render(StudySummary(report(runs, patterns=patterns)), width=100).splitlines()
    assert "       … 23 more (--all)" in out  # 34 rows over two problem groups: 17 each
    assert "   #16       - -        error 0.84 summary of divergence" in out
    assert not any(x.startswith("   #17 ") for x in out)
    assert [x for x in out if x.startswith("  • ")] == [f"  • 3 of 3 trials with p{k} > {k} diverged" for k in range(4)]
    full = render(StudySummary(report(runs, patterns=patterns), everything=True), width=100).splitlines()
    assert len([x for x in full if x.startswith("  • ")]) == 6 and not any("more (--all)" in x for x in full)
    many = [rr(f"trial-{i}", finding(code, WARN)) for i, code in enumerate(
        [FindingCode.OVERFITTING] * 5 + [FindingCode.MISMATCH, FindingCode.OSCILLATION, FindingCode.CRITICAL_POINT,
                                         FindingCode.SLOW_CONVERGENCE, FindingCode.MODEL_BIAS, FindingCode.DIVERGENCE,
                                         FindingCode.LOCAL_MINIMUM, FindingCode.SADDLE_POINT, FindingCode.SHARP_MINIMUM,
                                         FindingCode.OPTIMIZATION_FAILURE])]
    out = render(StudySummary(report(many)), width=100).splitlines()
    assert "       … 2 more (--all)" in out  # eleven groups: at least 3 rows each
    worst = render(StudySummary(report(runs, worst=5)), width=200).splitlines()
    assert worst[1] == ("the worst 5 of 41 candidate runs, ranked by their worst finding's severity (then divergence "
                        "first, then the number of problems):")


def test_groups_order_by_severity_then_priority() -> None:
    runs = [rr("trial-1", finding(FindingCode.OVERFITTING, WARN)),
            rr("trial-2", finding(FindingCode.MISMATCH, WARN)),
            rr("trial-3", finding(FindingCode.SLOW_CONVERGENCE, ERR)),
            rr("trial-4", finding(FindingCode.HEALTHY, INFO)),
            rr("trial-5", finding(FindingCode.DIVERGENCE, WARN)), rr("trial-6", finding(FindingCode.DIVERGENCE, INFO))]
    out = render(StudySummary(report(runs)), width=100)
    heads = [x.split(":")[0] for x in out.splitlines() if x.startswith("── ")]
    assert heads == ["── slow_convergence", "── divergence", "── overfitting", "── mismatch", "── healthy"]
    assert "    #5       - -        warn  1.00" in out
    assert out.index("    #5 ") < out.index("    #6 ")


# --- _detail, _charts ------------------------------------------------------------------------

def detail_report() -> Report:
    cand = run("trial-7", hp={"lr": 0.0123456, "optimizer": "adam"}, state="complete", curves=(
        fold([4.0, 2.0, 1.0], [3.0, 2.5, 2.75], grads=[1.0, 0.5, 0.25], lrs=[0.1, 0.05, 0.01], test=2.5),
        fold([4.0, float("nan"), 3.0], [None, None, None])))
    cand = dataclasses.replace(cand, score=0.5)
    findings = (finding(FindingCode.OVERFITTING, WARN, confidence=0.75, train_loss=1.0, best_val_loss=None, ratio=2.0),
                finding(FindingCode.DIVERGENCE, ERR, confidence=0.5))
    return report([RunReport(cand, findings), rr("trial-8", finding(FindingCode.HEALTHY, INFO))], baselines=(BASE,))


DETAIL_HEAD = [
    "trial-7  complete, score 0.5, 2 folds, 3 epochs",
    "lr=0.01235, optimizer=adam",
    "findings (main first):",
    "warning overfitting  confidence 0.75  (rule-overfitting; sweepdoctor rules overfitting)",
    "  summary of overfitting",
    "  advice: advice for overfitting",
    "  evidence: train_loss=1, ratio=2",
    "error   divergence  confidence 0.50  (rule-divergence; sweepdoctor rules divergence)",
    "  summary of divergence",
    "  advice: advice for divergence",
    "  evidence:",
    "per fold",
]
CURVES = [
    "curves beside the references (fold means; the same scale in each panel):",
    "curve                run           epoch 1..3    first → last (min)",
    "training loss (log)  trial-7       █×▆           4 → 2 (2)",
    "                     baseline-lin  ▅▁            1.5 → 0.375 (0.375)",
    "validation loss      trial-7       not recorded",
    "                     baseline-lin  █▁            1.05 → 0.7 (0.7)",
    "gradient norm        trial-7       not recorded",
    "learning rate        trial-7       █▄▁           0.1 → 0.055 (0.055)",
    "                     baseline-lin  ██            0.1 → 0.1 (0.1)",
]


def test_the_trial_in_depth_as_a_user_reads_it() -> None:
    rep = detail_report()
    assert render(TrialDetail(rep, "trial-7"), width=160).splitlines() == DETAIL_HEAD + [
        "fold  epochs  train first  train final  val best (epoch)  val final  score  grad final  test loss",
        "   0       3            4            1           2.5 (2)       2.75      -        0.25        2.5",
        "   1       3            4            3                 -          -      -           -          -",
    ] + CURVES
    narrow = render(TrialDetail(rep, "trial-7"), width=99).splitlines()
    assert narrow == DETAIL_HEAD + [
        "fold  epochs  train final  val best (epoch)  val final  score  test loss",
        "   0       3            1           2.5 (2)       2.75      -        2.5",
        "   1       3            3                 -          -      -          -",
    ] + CURVES
    wide = render(TrialDetail(rep, "trial-7"), width=100).splitlines()
    assert "train first" in wide[len(DETAIL_HEAD)]


def test_the_fold_table_drops_unknown_late_columns_and_names_a_missing_run() -> None:
    rep = detail_report()
    out = render(fold_table(rep.runs[1]), width=200).splitlines()
    assert out == ["per fold", "fold  epochs  train first  train final  val best (epoch)  val final  score",
                   "   0       1            1            1                 -          -      -"]
    with pytest.raises(KeyError, match="no run named 'nope' in this report"):
        render(TrialDetail(rep, "nope"))


def test_curve_rows_scale_and_empty_panels() -> None:
    flat = run("trial-1", curves=(fold([2.0, 1.0, 0.5], [None] * 3, lrs=[0.1, 0.1, 0.1]),))
    out = render(curve_rows(flat, [run("ref", curves=(fold([3.0]),))], width=8), width=120).splitlines()
    assert out[0].split() == ["curve", "run", "epoch", "1..3", "first", "→", "last", "(min)"]
    assert out[1].split() == ["training", "loss", "trial-1", "█▃▁", "2", "→", "0.5", "(0.5)"]
    assert out[2].split() == ["validation", "loss", "trial-1", "not", "recorded"]
    assert out[4].split() == ["learning", "rate", "trial-1", "▁▁▁", "0.1", "→", "0.1", "(0.1)"]
    long = run("trial-2", curves=(fold([100.0 / (k + 1) for k in range(30)]),))
    spark = render(curve_rows(long, [], width=10), width=120).splitlines()[1].split()
    assert spark[:4] == ["training", "loss", "(log)", "trial-2"] and len(spark[4]) == 10
    assert spark[4][0] == "▇" and spark[4][-1] == "▁"
    tenfold = run("trial-3", curves=(fold([10.0, 1.0]),))
    assert "(log)" not in render(curve_rows(tenfold, []), width=120).splitlines()[1]
    signed = run("trial-4", curves=(fold([-1.0, 20.0]),))
    assert "(log)" not in render(curve_rows(signed, []), width=120).splitlines()[1]


def test_the_png_is_written_and_an_unwritable_path_is_a_config_error(tmp_path: Path) -> None:
    run7 = run("trial-7", curves=(fold([4.0, 2.0, 1.0], [3.0, 2.5, 2.75], grads=[1.0, 0.5, 0.25]),))
    level = run("lin", role=Role.BASELINE, curves=(fold([0.5], [0.6]),))
    path = write_curves_png(run7, (BASE, level), tmp_path / "c.png")
    assert path == tmp_path / "c.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match="--png: cannot write '.*missing/c.png': No such file or directory"):
        write_curves_png(run7, (), tmp_path / "missing" / "c.png")


def test_a_panel_no_run_recorded_says_so_without_warning(tmp_path: Path) -> None:
    """A history without gradient norms (another tool's run): its panel says "not recorded" and
    matplotlib is not asked for a legend of nothing (a warning, an error under -W error)."""
    import warnings

    bare = run("trial-8", curves=(fold([4.0, 2.0, 1.0], [3.0, 2.5, 2.75]),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = write_curves_png(bare, (), tmp_path / "bare.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
