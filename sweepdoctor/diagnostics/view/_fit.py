"""Column widths that fit a terminal without cutting a word: the widest columns give way
first, each down to its longest word (a number, a code, a name), never below.

rich shrinks wrappable columns itself, but splits words to do it ("baseline-shall|ow")
and, given minimum widths, can overshoot the terminal and crop the last column. Tables
that hold codes and numbers take their widths from :func:`fit_widths` instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

__all__ = ["FittedTable", "fit_widths", "fitted_table", "longest_word"]


def longest_word(cells: Sequence[str]) -> int:
    """The widest word of ``cells``: a column at least this wide wraps its cells whole."""
    return max((len(w) for cell in cells for w in cell.split()), default=1)


def _natural(cells: Sequence[str]) -> int:
    return max((len(line) for cell in cells for line in cell.splitlines() or [""]), default=1)


def fit_widths(columns: Sequence[Sequence[str]], *, available: int, gap: int = 2,
               whole: Sequence[bool] = ()) -> list[int]:
    """A width per column (its cells, header first) so that the row fits ``available``
    characters with ``gap`` between columns; a column marked ``whole`` keeps its full width."""
    keep = list(whole) + [False] * (len(columns) - len(whole))
    widths = [_natural(col) for col in columns]
    floor = [w if k else min(w, longest_word(col)) for w, k, col in zip(widths, keep, columns)]
    excess = sum(widths) + gap * max(0, len(columns) - 1) - available
    while excess > 0:
        slack = [w - f for w, f in zip(widths, floor)]
        i = max(range(len(widths)), key=lambda k: (slack[k] > 0, widths[k]))
        if slack[i] <= 0:
            break  # every column at its longest word: wider than the terminal, nothing is cut
        widths[i] -= 1
        excess -= 1
    return widths


def fitted_table(header: Sequence[str], rows: Sequence[Sequence[str | Text]], *, available: int,
                 justify: Sequence[str] = (), whole: Sequence[bool] = (), title: str | None = None) -> Table:
    """A borderless table whose columns fit ``available`` characters, every cell wrapped whole."""
    cells = [[_text(c) for c in r] for r in rows]
    plain = [[header[k], *(c[k].plain for c in cells)] for k in range(len(header))]
    widths = fit_widths(plain, available=available, whole=whole)
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, show_header=True,
                  header_style="bold")
    for k, name in enumerate(header):
        table.add_column(name, width=widths[k], justify=justify[k] if k < len(justify) else "left",  # type: ignore[arg-type]
                         overflow="fold")
    for c in cells:
        table.add_row(*c)
    return table


def _text(cell: str | Text) -> Text:
    """A cell as text: a string is console markup (escaped where it holds user text)."""
    return cell if isinstance(cell, Text) else Text.from_markup(cell)


class FittedTable:
    """:func:`fitted_table` at the width of the console it is printed on (a rich renderable).

    ``optional`` names the columns (low value, e.g. a spread beside the value) that go,
    in that order, while the table is wider than the console even at its words' widths.
    """

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[str | Text]], *,
                 justify: Sequence[str] = (), title: str | None = None, optional: Sequence[str] = ()) -> None:
        self.header, self.rows, self.justify, self.title = list(header), [list(r) for r in rows], justify, title
        self.optional = list(optional)

    def _without(self, dropped: set[str]) -> tuple[list[str], list[list[str | Text]], list[str]]:
        keep = [k for k, h in enumerate(self.header) if h not in dropped]
        justify = [self.justify[k] if k < len(self.justify) else "left" for k in keep]
        return [self.header[k] for k in keep], [[r[k] for k in keep] for r in self.rows], justify

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        dropped: set[str] = set()
        for name in [None, *self.optional]:
            if name is not None:
                dropped.add(name)
            header, rows, justify = self._without(dropped)
            floor = sum(longest_word([h, *(_text(r[k]).plain for r in rows)]) for k, h in enumerate(header))
            if floor + 2 * (len(header) - 1) <= width:
                yield fitted_table(header, rows, available=width, justify=justify, title=self.title)
                return
        yield from self._records(header, rows)

    def _records(self, header: Sequence[str], rows: Sequence[Sequence[str | Text]]) -> Iterator[Text]:
        """Too many columns for the console even with every word on its own line: one block per
        row, ``column: value`` per line (a narrow terminal reads every number whole)."""
        if self.title:
            yield Text.from_markup(self.title, style="bold")
        for r in rows:
            for k, (h, cell) in enumerate(zip(header, r)):
                line = Text(("- " if k == 0 else "  ") + (f"{h}: " if h else ""))
                yield line.append_text(_text(cell))
