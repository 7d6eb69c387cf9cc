"""The report on hand-made runs and findings: scores, ranking, counts, the dict and the rendering (no training)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from sweepdoctor.diagnostics import EpochRecord, FoldHistory, History, Role, RunHistory, Task
from sweepdoctor.diagnostics._findings import Finding, FindingCode, Severity
from sweepdoctor.diagnostics._report import (
    Report,
    RunReport,
    _resample,
    curve_picture,
    fold_scores,
    run_score,
    sparkline,
)
from sweepdoctor.diagnostics._study import Pattern
from sweepdoctor.diagnostics._thresholds import Thresholds
from tests.diagnostics._handmade import fold, run

C, W, E, NOTE = FindingCode, Severity.WARNING, Severity.ERROR, Severity.INFO


def text(obj: object, width: int = 200) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(obj)
    return buf.getvalue()


def finding(code: FindingCode, severity: Severity = W, *, confidence: float = 0.5, summary: str = "s") -> Finding:
    return Finding(code, severity, rule="rules.md §9", summary=summary, advice="do x", evidence={"k": 1},
                   run="r", confidence=confidence)


def metric_fold(metrics: list[float | None], score: float | None = None) -> FoldHistory:
    return FoldHistory(tuple(EpochRecord(i, 1.0, 1.0, None, 0.1, val_metric=m) for i, m in enumerate(metrics)),
                       score=score)


def report_of(*runs: tuple[RunHistory, tuple[Finding, ...]], study: tuple[Finding, ...] = (),
              patterns: tuple[Pattern, ...] = (), worst: int | None = None) -> Report:
    history = History(Task.REGRESSION, "mse", tuple(r for r, _ in runs))
    return Report(history, tuple(RunReport(r, f) for r, f in runs), study, patterns, Thresholds(), worst)


# ---- scores -------------------------------------------------------------------


def test_fold_scores_stored_else_last_finite_metric() -> None:
    r = run(curves=(metric_fold([0.5, 0.7, None]), metric_fold([0.1], score=0.9), metric_fold([None])))
    assert fold_scores(r) == [0.7, 0.9, None]


def test_run_score_stored_mean_or_none_when_failed() -> None:
    curves = (metric_fold([0.4]), metric_fold([0.8]), metric_fold([None]))
    assert run_score(run(curves=curves)) == pytest.approx(0.6)
    assert run_score(RunHistory("r", Role.CANDIDATE, curves, score=0.25)) == 0.25
    assert run_score(RunHistory("r", Role.CANDIDATE, curves, score=0.25, state="fail")) is None
    assert run_score(RunHistory("r", Role.CANDIDATE, curves, state="pruned")) == pytest.approx(0.6)


# ---- RunReport and Report -------------------------------------------------------


def test_badness_ignores_healthy_and_ranks_severity_divergence_count() -> None:
    assert RunReport(run(), (finding(C.HEALTHY, NOTE),)).badness == (0, False, 0)
    assert RunReport(run(), (finding(C.OVERFITTING, NOTE),)).badness == (1, False, 1)
    two = RunReport(run(), (finding(C.OVERFITTING, W), finding(C.MISMATCH, E), finding(C.HEALTHY, E)))
    assert two.badness == (3, False, 2)
    assert RunReport(run(), (finding(C.DIVERGENCE, W),)).badness == (2, True, 1)
    assert two.codes == {C.OVERFITTING, C.MISMATCH, C.HEALTHY}


def test_run_report_to_dict() -> None:
    r = RunHistory("t1", Role.CANDIDATE, (metric_fold([0.3]),), hyperparameters={"lr": 0.1}, state="complete")
    d = RunReport(r, (finding(C.OVERFITTING),)).to_dict()
    assert d == {"name": "t1", "role": "candidate", "state": "complete", "score": 0.3, "fold_scores": [0.3],
                 "hyperparameters": {"lr": 0.1},
                 "findings": [{"code": "overfitting", "severity": "warning", "rule": "rules.md §9", "summary": "s",
                               "advice": "do x", "evidence": {"k": 1}, "confidence": 0.5}]}


def _three() -> Report:
    a = (run("a"), (finding(C.OVERFITTING, W), finding(C.MISMATCH, NOTE)))
    b = (run("b"), (finding(C.DIVERGENCE, E),))
    c = (run("c"), (finding(C.HEALTHY, NOTE),))
    d = (run("d"), (finding(C.MISMATCH, W),))
    base = (run("base", role=Role.BASELINE), (finding(C.OVERFITTING, E),))
    return report_of(a, b, c, d, base, study=(finding(C.SHARP_MINIMUM, W, summary="study"),))


def test_report_queries() -> None:
    rep = _three()
    assert [f.code for f in rep.findings] == [C.OVERFITTING, C.MISMATCH, C.DIVERGENCE, C.HEALTHY, C.MISMATCH,
                                              C.OVERFITTING, C.SHARP_MINIMUM]
    assert [f.code for f in rep.for_run("a")] == [C.OVERFITTING, C.MISMATCH]
    assert [f.code for f in rep.for_run("base")] == [C.OVERFITTING]
    with pytest.raises(KeyError, match="a, b, c, d, base"):
        rep.for_run("zz")
    assert [r.run.name for r in rep.candidates] == ["a", "b", "c", "d"]
    assert [r.run.name for r in rep.worst_runs()] == ["b", "a", "d", "c"]
    assert [r.run.name for r in rep.worst_runs(2)] == ["b", "a"]
    assert rep.has_any([C.SHARP_MINIMUM]) and rep.has_any([C.HEALTHY, C.LOCAL_MINIMUM])
    assert not rep.has_any([C.LOCAL_MINIMUM, C.SADDLE_POINT])


def test_counts_sorted_by_count_then_name() -> None:
    rep = _three()
    assert list(rep.counts().items()) == [("mismatch", 2), ("divergence", 1), ("healthy", 1), ("overfitting", 1)]
    assert list(rep.main_counts().items()) == [("divergence", 1), ("healthy", 1), ("mismatch", 1),
                                               ("overfitting", 1)]
    empty = report_of((run("e"), ()))
    assert empty.main_counts() == {} and empty.counts() == {}


def test_report_to_dict() -> None:
    p = Pattern(C.DIVERGENCE, "lr", ">", 0.1, 2, 2, 2, 4)
    rep = _three()
    rep = Report(rep.history, rep.runs, rep.study_findings, (p,), rep.thresholds)
    d = rep.to_dict()
    assert d["task"] == "regression" and d["loss"] == "mse"
    assert [r["name"] for r in d["runs"]] == ["a", "b", "c", "d", "base"]
    assert d["findings"] == [{"code": "sharp_minimum", "severity": "warning", "rule": "rules.md §9",
                              "summary": "study", "advice": "do x", "evidence": {"k": 1}, "confidence": 0.5}]
    assert d["counts"] == rep.counts() and d["main_counts"] == rep.main_counts()
    assert d["patterns"] == [p.to_dict()] and d["thresholds"] == Thresholds().as_dict()


# ---- pictures -----------------------------------------------------------------


def test_resample_bucket_means() -> None:
    assert _resample([1.0, 2.0], 2) == [1.0, 2.0]
    assert _resample([1.0, 3.0, 5.0, 7.0, None, 1.0], 3) == [2.0, 6.0, None]
    assert _resample([0.0, 1.0, 2.0, 3.0, 4.0], 2) == [0.5, 3.0]


def test_sparkline_levels() -> None:
    assert sparkline([0.0, 1 / 7, 2 / 7, 3 / 7, 4 / 7, 5 / 7, 6 / 7, 1.0], lo=0.0, hi=1.0) == "▁▂▃▄▅▆▇█"
    assert sparkline([-1.0, 2.0], lo=0.0, hi=1.0) == "▁█"
    assert sparkline([1.0, 3.0, 5.0, 7.0, None, 1.0], lo=1.0, hi=7.0, width=3) == "▂▇×"
    assert sparkline([0.5, 1.0], lo=1.0, hi=1.0, log=True) == "▁▁"
    # log scale: 10 is half-way between 1 and 100 (a linear scale puts it near the bottom)
    assert sparkline([10.0, 0.5], lo=1.0, hi=100.0, log=True) == "▅▁"
    assert sparkline([10.0], lo=1.0, hi=100.0) == "▂"
    assert sparkline([float(i) for i in range(100)], lo=0.0, hi=99.0) == sparkline(
        [float(i) for i in range(100)], lo=0.0, hi=99.0, width=40)
    assert len(sparkline([float(i) for i in range(100)], lo=0.0, hi=99.0)) == 40


def test_curve_picture_numbers_and_scale() -> None:
    r = run(curves=(fold([4.0, 2.0, 1.0], [5.0, 3.0, 4.0]), fold([2.0, 2.0], [3.0, 3.0])))
    out = text(curve_picture(r)).splitlines()
    assert out[0] == "train ▆▃▁  3 → 1  (min 1)"
    assert out[1] == "val   █▆█  4 → 4  (min 3)"
    assert out[2] == "3 epochs, 2 folds, linear scale"
    big = run(curves=(fold([100.0, 1.0], [None, None]),))
    lines = text(curve_picture(big)).splitlines()
    assert lines == ["train █▁  100 → 1  (min 1)", "1 epochs, 1 folds, log scale".replace("1 epochs", "2 epochs")]
    edge = run(curves=(fold([10.0, 1.0]),))
    assert text(curve_picture(edge)).splitlines()[-1] == "2 epochs, 1 folds, linear scale"
    assert text(curve_picture(run(curves=(fold([0.0, None]),)))).strip() == "no finite losses to draw"
    assert len(text(curve_picture(run(curves=(fold([float(i + 1) for i in range(50)]),)), width=10))
               .splitlines()[0].split()[1]) == 10


# ---- rendering ----------------------------------------------------------------


def test_render_run_panel_and_counts() -> None:
    cand = RunHistory("trial-1", Role.CANDIDATE, (fold([2.0, 1.0], [3.0, 2.0]),), state="pruned",
                      hyperparameters={"lr": 0.123456, "optimizer": "adam", "other": 5})
    done = RunHistory("trial-2", Role.CANDIDATE, (fold([2.0, 1.0], [3.0, 2.0]),), state="complete")
    f1 = finding(C.OVERFITTING, W, confidence=0.456, summary="val rose")
    out = text(report_of((cand, (f1, finding(C.MISMATCH, E))), (done, (finding(C.HEALTHY, NOTE),))))
    lines = out.splitlines()
    assert lines[0] == "sweepdoctor diagnosis: regression, loss mse"
    assert lines[1] == "2 candidate run(s): how many have each finding (as main finding; in all)"
    assert lines[2:5] == ["  healthy: main finding of 1; found in 1 (50%)",
                          "  mismatch: main finding of 0; found in 1 (50%)",
                          "  overfitting: main finding of 1; found in 1 (50%)"]
    assert "╭─ trial-1 (pruned) ─" in out and "╭─ trial-2 ─" in out and "trial-2 (complete)" not in out
    assert "│ warning overfitting (0.46)  val rose" in out
    assert "│ error   mismatch (0.50)  s" in out
    assert "│         advice: do x" in out
    assert "│         rule: rules.md §9 (sweepdoctor rules overfitting)" in out
    assert "│ lr=0.1235, optimizer=adam" in out and "other=" not in out
    assert out.index("trial-1") < out.index("trial-2")  # the worse first
    assert "the worst" not in out and "reference baselines" not in out and "where in the search" not in out


def test_render_worst_patterns_study_and_baselines() -> None:
    runs = [(run(f"t{i}", curves=(fold([1.0]),)),
             (finding(C.DIVERGENCE if i == 2 else C.HEALTHY, E if i == 2 else NOTE),))
            for i in range(3)]
    base = RunHistory("baseline-linear", Role.BASELINE, (fold([3.0, 2.0], [5.0, 4.0]), fold([1.0, None], [2.0, 6.0])),
                      depth=1)
    empty = RunHistory("baseline-empty", Role.BASELINE, (fold([None], [None]),), depth=2)
    p = Pattern(C.DIVERGENCE, "lr", ">", 0.1, 1, 1, 1, 3)
    rep = report_of(*runs, (base, (finding(C.OVERFITTING), finding(C.HEALTHY))), (empty, (finding(C.HEALTHY),)),
                    study=(finding(C.SHARP_MINIMUM, W, summary="sharper"),), patterns=(p,), worst=1)
    out = text(rep)
    lines = out.splitlines()
    assert "where in the search space:" in lines and f"  • {p.summary}" in lines
    assert "╭─ study ─" in out and "sharper" in out
    assert ("the worst 1 of 3 candidate runs, ranked by their worst finding's severity (then divergence first, "
            "then the number of problems):") in lines
    assert "╭─ t2 ─" in out and "╭─ t0" not in out and "╭─ t1" not in out and "baseline-linear ─" not in out
    assert lines[-3:] == ["reference baselines (same folds, same loss):",
                          "  baseline-linear (depth 1): train loss 1.5, best val loss 3; healthy, overfitting",
                          "  baseline-empty (depth 2): train loss -, best val loss -; healthy"]
    assert out.index("where in the search") < out.index("╭─ study") < out.index("the worst 1") < out.index("╭─ t2")
    all_shown = text(Report(rep.history, rep.runs, (), (), rep.thresholds, worst=3))
    assert "the worst" not in all_shown and "╭─ t0" in all_shown


def test_render_without_candidates() -> None:
    base = RunHistory("b", Role.BASELINE, (fold([1.5], [2.5]),), depth=3)
    out = text(report_of((base, (finding(C.HEALTHY, NOTE),))))
    assert out.splitlines() == ["sweepdoctor diagnosis: regression, loss mse",
                                "reference baselines (same folds, same loss):",
                                "  b (depth 3): train loss 1.5, best val loss 2.5; healthy"]


def test_render_styles() -> None:
    """Colours and weights as a terminal shows them (ANSI SGR codes: 1 bold, 2 dim, 31 red, 33 yellow, 3x colours)."""
    cand = RunHistory("trial-1", Role.CANDIDATE, (fold([2.0, 1.0], [3.0, 2.0]),), hyperparameters={"lr": 0.5})
    base = RunHistory("b", Role.BASELINE, (fold([1.5], [2.5]),), depth=3)
    rep = report_of((cand, (finding(C.OVERFITTING, W, confidence=0.456, summary="val rose"), finding(C.MISMATCH, E))),
                    (base, (finding(C.HEALTHY, NOTE),)), patterns=(Pattern(C.DIVERGENCE, "lr", ">", 0.1, 1, 1, 1, 1),),
                    study=(finding(C.SHARP_MINIMUM, E, summary="sharper"),))
    buf = io.StringIO()
    Console(file=buf, width=120, force_terminal=True, color_system="standard").print(rep)
    out = buf.getvalue()
    for piece in ("\x1b[1msweepdoctor diagnosis: regression, loss mse\x1b[0m\n",
                  "\x1b[1m1 candidate run(s): how many have each finding (as main finding; in all)\x1b[0m\n",
                  "\x1b[1;31m╭─\x1b[0m",  # the panel's border: its worst finding's colour (an error over a warning)
                  "\x1b[33mwarning \x1b[0m\x1b[1moverfitting\x1b[0m\x1b[2m (0.46)\x1b[0m  val rose",
                  "\x1b[1;31merror   \x1b[0m\x1b[1mmismatch\x1b[0m",
                  "\x1b[2m        advice: \x1b[0mdo x",
                  "\x1b[2m        rule: rules.md §9 (sweepdoctor rules overfitting)\x1b[0m",
                  "\x1b[1mtrain \x1b[0m\x1b[36m▅▁\x1b[0m\x1b[2m  2 → 1  (min 1)\x1b[0m",
                  "\x1b[1mval   \x1b[0m\x1b[35m█▅\x1b[0m\x1b[2m  3 → 2  (min 2)\x1b[0m",
                  "\x1b[2m2 epochs, 1 folds, linear scale\x1b[0m",
                  "\x1b[2mlr=0.5\x1b[0m",
                  "\x1b[1mwhere in the search space:\x1b[0m\n",
                  "\x1b[1;31m╭─\x1b[0m\x1b[1;31m \x1b[0m\x1b[1;31mstudy",
                  "\x1b[1mreference baselines (same folds, same loss):\x1b[0m\n"):
        assert piece in out, piece
    note = report_of((cand, (finding(C.HEALTHY, NOTE), finding(C.OVERFITTING, W))))
    buf = io.StringIO()
    Console(file=buf, width=120, force_terminal=True, color_system="standard").print(note)
    assert "\x1b[33m╭─\x1b[0m" in buf.getvalue() and "\x1b[32minfo    \x1b[0m" in buf.getvalue()


def test_log_scale_away_from_one_and_lone_curves() -> None:
    # log10(20/2) / log10(200/2) = 1/2: the middle bar; one flat level draws the bottom bar
    assert sparkline([20.0, 2.0, 200.0], lo=2.0, hi=200.0, log=True) == "▅▁█"
    assert sparkline([2.0, 2.0], lo=2.0, hi=2.0) == "▁▁"
    # 0.5 to 10 spans 20x: a log scale (the product of the ends, 5, is no ratio)
    assert text(curve_picture(run(curves=(fold([10.0, 0.5]),)))).splitlines()[-1] == "2 epochs, 1 folds, log scale"
    val_only = text(curve_picture(run(curves=(fold([None, None], [2.0, 1.0]),)))).splitlines()
    assert val_only == ["val   █▁  2 → 1  (min 1)", "2 epochs, 1 folds, linear scale"]


def test_main_counts_most_first() -> None:
    rep = report_of(*[(run(f"r{i}"), (finding(code),)) for i, code in enumerate([C.MISMATCH, C.OVERFITTING,
                                                                                     C.OVERFITTING])])
    assert list(rep.main_counts().items()) == [("overfitting", 2), ("mismatch", 1)]


def test_curve_picture_on_a_log_scale_puts_a_tenfold_fall_half_way() -> None:
    # 100 to 1 spans 100x: log scale, where 10 is half-way (bar 3.5 of 0-7 rounds to 4, ▅); linear would put it at ▂
    r = run(curves=(fold([100.0, 10.0, 1.0], [10.0, 10.0, 10.0]),))
    assert text(curve_picture(r)).splitlines() == ["train █▅▁  100 → 1  (min 1)", "val   ▅▅▅  10 → 10  (min 10)",
                                                   "3 epochs, 1 folds, log scale"]


def test_curve_picture_is_logarithmic_just_over_tenfold() -> None:
    assert text(curve_picture(run(curves=(fold([10.5, 1.0]),)))).splitlines()[-1] == "2 epochs, 1 folds, log scale"
    assert text(curve_picture(run(curves=(fold([10.0, 1.0]),)))).splitlines()[-1] == "2 epochs, 1 folds, linear scale"


def test_a_run_panel_draws_40_characters_per_curve() -> None:
    # 80 epochs: 40 buckets of two, the first 20 at the top (2.0), the last 20 at the bottom (1.0)
    long = RunHistory("long", Role.CANDIDATE, (fold([2.0] * 40 + [1.0] * 40),))
    lines = text(report_of((long, (finding(C.HEALTHY, NOTE),)))).splitlines()
    assert "│ train " + "█" * 20 + "▁" * 20 + "  2 → 1  (min 1)" in [line.rstrip(" │") for line in lines]
    assert "│ 80 epochs, 1 folds, linear scale" in [line.rstrip(" │") for line in lines]
