"""The curves of one run beside its references (``view/_charts.py``): what the terminal rows and
the PNG show, read back from the table's cells and from the matplotlib figure (not pixels)."""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from rich.console import Console
from rich.style import Style
from rich.table import Table

from sweepdoctor.diagnostics import Role, RunHistory
from sweepdoctor.diagnostics.view import curve_rows, write_curves_png
from tests.diagnostics._handmade import fold, run
from tests.diagnostics.test_view_fast import BASE, render

# --- curve_rows ---------------------------------------------------------------------------------


def words(table: Table, width: int = 120) -> list[list[str]]:
    """The rendered table, each line as its words (the column spacing left out)."""
    return [line.split() for line in render(table, width=width).splitlines()]


def styled_cells(table: Table) -> list[list[tuple[str, Style]]]:
    """Each row's cells as (text, the style rich draws it in): a bad style name draws as no style."""
    console = Console()
    columns = [list(col.cells) for col in table.columns]
    rows = []
    for cells in zip(*columns):
        row = []
        for cell in cells:
            text, style = (cell, "") if isinstance(cell, str) else (cell.plain, cell.style)
            row.append((text, console.get_style(style, default=Style.null()) if style else Style.null()))
        rows.append(row)
    return rows


def test_the_run_is_cyan_its_references_and_numbers_dim() -> None:
    run7 = run("trial-7", curves=(fold([4.0, 2.0, 1.0], [None] * 3),))
    rows = styled_cells(curve_rows(run7, [BASE]))
    cyan, dim = Style(color="cyan"), Style(dim=True)
    assert [(label, name) for (label, _), (name, _), _, _ in rows] == [
        ("training loss (log)", "trial-7"), ("", "baseline-lin"),  # 4 / 0.375 > 10
        ("validation loss", "trial-7"), ("", "baseline-lin"),
        ("gradient norm", "trial-7"),
        ("learning rate", "trial-7"), ("", "baseline-lin")]
    assert rows[0][2:] == [("█▆▄", cyan), ("4 → 1 (1)", dim)]
    assert rows[1][2:] == [("▅▁", dim), ("1.5 → 0.375 (0.375)", dim)]
    assert rows[2][2] == ("not recorded", cyan) and rows[2][3][0] == ""  # the run has no validation loss
    assert rows[3][2:] == [("█▁", dim), ("1.05 → 0.7 (0.7)", dim)]
    assert rows[4][2] == ("not recorded", dim) and rows[4][3][0] == ""  # no one recorded a gradient norm


def test_a_non_finite_epoch_is_a_gap_not_a_value() -> None:
    """An exploded epoch (inf) or a NaN is drawn as × and left out of first → last (min)."""
    boom = run("trial-9", curves=(fold([4.0, math.inf, 2.0, 1.0], [3.0, 2.0, math.nan, 2.5]),))
    out = words(curve_rows(boom, []))
    assert out[1] == ["training", "loss", "trial-9", "█×▃▁", "4", "→", "1", "(1)"]
    assert out[2] == ["validation", "loss", "trial-9", "█▁×▅", "3", "→", "2.5", "(2)"]


@pytest.mark.parametrize(("curve", "log"), [
    ([0.5, 0.01], True),  # 50x, every value below 1
    ([10.5, 1.0], True),  # just over 10x
    ([10.0, 1.0], False),  # exactly 10x: linear
    ([20.0, 5.0], False),  # 4x (its product, 100, is no ratio)
    ([1.0, 0.0], False),  # down to zero (an lr schedule's end): no ratio to take
    ([-20.0, -1.0], False),  # negative (a log-likelihood loss): no logarithm
    ([-1.0, 20.0], False),
], ids=["below-one", "over-10x", "10x", "4x", "to-zero", "negative", "signed"])
def test_a_panel_is_logarithmic_only_for_positive_values_spanning_more_than_10x(curve: list[float],
                                                                                log: bool) -> None:
    out = words(curve_rows(run("trial-1", curves=(fold(curve),)), []))
    assert out[1][:3] == ["training", "loss", "(log)" if log else "trial-1"]
    assert len(out[1][4 if log else 3]) == 2  # one character per epoch, drawn on that scale


def test_the_sparkline_is_40_characters_and_the_table_200_by_default() -> None:
    hundred = run("trial-5", curves=(fold([float(k + 1) for k in range(100)]),))
    out = words(curve_rows(hundred, []), width=300)
    assert out[0][:4] == ["curve", "run", "epoch", "1..100"]
    assert out[1][:4] == ["training", "loss", "(log)", "trial-5"] and len(out[1][4]) == 40
    # a name of many words: it wraps whole within 200 characters
    name = " ".join(["trial"] * 40)
    lines = render(curve_rows(run(name, curves=(fold([4.0, 2.0, 1.0]),)), [BASE]), width=300).splitlines()
    assert max(len(line) for line in lines) == 200
    assert lines[1].split()[:3] == ["training", "loss", "(log)"] and lines[1].split()[-4:] == ["4", "→", "1", "(1)"]
    assert lines[1].split().count("trial") + lines[2].split().count("trial") == 40


def test_at_a_narrow_terminal_words_wrap_whole_and_the_sparkline_column_keeps_its_header() -> None:
    run7 = run("trial-7", curves=(fold([100.0, 10.0, 1.0], [3.0, None, 2.0], grads=[1.0, 0.5, 0.25]),))
    table = curve_rows(run7, [BASE], available=45)
    lines = render(table, width=120).splitlines()
    assert max(len(line) for line in lines) == 45  # each column at its longest word
    assert [line.split() for line in lines[:8]] == [
        ["first", "→"], ["last"], ["curve", "run", "epoch", "1..3", "(min)"],
        ["training", "trial-7", "█▅▂", "100", "→", "1"], ["loss", "(log)", "(1)"],
        ["baseline-lin", "▃▁", "1.5", "→"], ["0.375"], ["(0.375)"]]
    assert lines[8].split() == ["validation", "trial-7", "█×▅", "3", "→", "2"]


# --- write_curves_png ------------------------------------------------------------------------------


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Figure]]:
    """The figures write_curves_png saves (it still writes them)."""
    figures: list[Figure] = []
    save = Figure.savefig

    def keep(self: Figure, *args: Any, **kwargs: Any) -> None:
        figures.append(self)
        save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    yield figures


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    return width, height


def lines_of(ax: Axes) -> list[tuple[str, list[float], list[float], str]]:
    """(label, x, y, line style) of each line drawn in a panel, in drawing order."""
    return [(str(ln.get_label()), np.asarray(ln.get_xdata(), dtype=float).tolist(),
             np.asarray(ln.get_ydata(), dtype=float).tolist(), str(ln.get_linestyle())) for ln in ax.get_lines()]


def legend_of(ax: Axes) -> list[str] | None:
    legend = ax.get_legend()
    return None if legend is None else [t.get_text() for t in legend.get_texts()]


def references() -> tuple[RunHistory, RunHistory]:
    """A linear model's converged fit (one epoch), then a two-fold reference with gradient norms."""
    level = run("lin", role=Role.BASELINE, curves=(fold([0.5], [0.6]),))
    other = run("ref-b", curves=(fold([2.0, 1.0], [2.5, 1.5], grads=[1.0, 0.5]),
                                 fold([4.0, 3.0], [3.5, 2.5], grads=[3.0, 1.5])))
    return level, other


def test_the_png_draws_four_panels_of_the_run_beside_its_references(tmp_path: Path,
                                                                    drawn: list[Figure]) -> None:
    run7 = run("trial-7", state="complete",
               curves=(fold([100.0, 10.0, 1.0], [3.0, None, 2.0], lrs=[0.1, 0.05, 0.01]),))  # no gradient norms
    path = write_curves_png(run7, references(), tmp_path / "c.png")
    assert path == tmp_path / "c.png" and png_size(path) == (1000, 700)
    (fig,) = drawn
    assert fig.get_suptitle() == "trial-7 (complete) beside its references"
    train, val, grad, lr = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["training loss", "validation loss", "gradient norm",
                                                  "learning rate"]
    assert [ax.get_xlabel() for ax in fig.axes] == ["epoch"] * 4
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "linear", "linear", "linear"]  # 100 / 0.5 > 10
    level = ("lin (converged fit)", [0.0, 1.0])  # across the whole panel, in axes coordinates
    assert lines_of(train) == [("trial-7", [1, 2, 3], [100, 10, 1], "-"), (*level, [0.5, 0.5], ":"),
                               ("ref-b", [1, 2], [3, 2], "--")]
    assert lines_of(val) == [("trial-7", [1, 3], [3, 2], "-"), (*level, [0.6, 0.6], ":"),  # epoch 2 unknown
                             ("ref-b", [1, 2], [3, 2], "--")]
    assert lines_of(grad) == [("ref-b", [1, 2], [2, 1], "--")]  # the run recorded none; its reference did
    assert lines_of(lr)[0] == ("trial-7", [1, 2, 3], [0.1, 0.05, 0.01], "-")
    assert [legend_of(ax) for ax in fig.axes] == [["trial-7", "lin (converged fit)", "ref-b"]] * 2 + [
        ["ref-b"], ["trial-7", "lin (converged fit)", "ref-b"]]
    legend = train.get_legend()
    assert legend is not None and [t.get_fontsize() for t in legend.get_texts()] == [7] * 3  # four panels, one page
    assert not any(ax.texts for ax in fig.axes)  # every panel has a curve: no "not recorded"


def test_each_run_keeps_its_colour_in_every_panel_and_the_run_is_drawn_thickest(tmp_path: Path,
                                                                               drawn: list[Figure]) -> None:
    run7 = run("trial-7", curves=(fold([4.0, 2.0, 1.0], [3.0, 2.5, 2.75]),))
    write_curves_png(run7, references(), tmp_path / "c.png")
    (fig,) = drawn
    colours: dict[str, set[str]] = {}
    widths: dict[str, set[float]] = {}
    for ax in fig.axes:
        for ln in ax.get_lines():
            name = str(ln.get_label()).removesuffix(" (converged fit)")
            colours.setdefault(name, set()).add(to_hex(ln.get_color()))
            widths.setdefault(name, set()).add(float(ln.get_linewidth()))
    # the run first, then its references, in matplotlib's colour cycle C0, C1, C2
    assert colours == {"trial-7": {to_hex("C0")}, "lin": {to_hex("C1")}, "ref-b": {to_hex("C2")}}
    assert widths == {"trial-7": {2.0}, "lin": {1.0}, "ref-b": {1.0}}  # the run twice as thick as the others


def test_the_epoch_axis_has_whole_numbers(tmp_path: Path, drawn: list[Figure]) -> None:
    write_curves_png(run("trial-7", curves=(fold([4.0, 2.0, 1.0]),)), (), tmp_path / "c.png")
    (fig,) = drawn
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        ticks = [float(t) for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(t == round(t) for t in ticks), (ax.get_title(), ticks)


def test_the_panels_labels_do_not_overlap_and_the_png_size_ignores_the_users_dpi(tmp_path: Path,
                                                                                 drawn: list[Figure]) -> None:
    run7 = run("trial-7", curves=(fold([4.0, 2.0, 1.0], [3.0, 2.5, 2.75], grads=[1.0, 0.5, 0.25]),))
    with matplotlib.rc_context({"figure.dpi": 200, "figure.figsize": (4, 3)}):  # a user's matplotlibrc
        path = write_curves_png(run7, (BASE,), tmp_path / "c.png")
    assert png_size(path) == (1000, 700)
    (fig,) = drawn
    assert len(fig.axes) == 4
    renderer = FigureCanvasAgg(fig).get_renderer()  # the figure as saved (its layout done)
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]  # each panel with its title, tick labels, x label
    assert all(boxes)
    overlapping = [(a, b) for (a, box), (b, other) in itertools.combinations(enumerate(boxes), 2)
                   if box is not None and other is not None and box.overlaps(other)]
    assert overlapping == []


def test_a_panel_no_run_recorded_says_so_in_grey_in_its_middle(tmp_path: Path, drawn: list[Figure]) -> None:
    bare = run("trial-8", curves=(fold([4.0, 2.0, 1.0], [3.0, 2.5, 2.75]),))  # no state, no gradient norms
    write_curves_png(bare, (), tmp_path / "bare.png")
    (fig,) = drawn
    assert fig.get_suptitle() == "trial-8 (run) beside its references"
    grad = fig.axes[2]
    assert grad.get_title() == "gradient norm" and len(grad.get_lines()) == 0 and grad.get_legend() is None
    (note,) = grad.texts
    assert note.get_text() == "not recorded" and to_hex(note.get_color()) == to_hex("grey")
    renderer = FigureCanvasAgg(fig).get_renderer()  # the figure as saved (its layout done)
    box, panel = note.get_window_extent(renderer), grad.get_window_extent(renderer)
    assert box.x0 > panel.x0 and box.x1 < panel.x1 and box.y0 > panel.y0 and box.y1 < panel.y1
    assert abs((box.x0 + box.x1) - (panel.x0 + panel.x1)) < 2 and abs((box.y0 + box.y1) - (panel.y0 + panel.y1)) < 2
    assert [len(ax.texts) for ax in fig.axes] == [0, 0, 1, 0]
