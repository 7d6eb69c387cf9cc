"""Rendered rich output as a terminal gets it: each piece of text with its style (for tests of colours and emphasis)."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType
from rich.style import Style


def segments(obj: RenderableType, width: int = 120) -> list[tuple[str, Style]]:
    """What the terminal gets: each piece of text with its (combined) style."""
    console = Console(width=width, color_system="truecolor", force_terminal=True, file=io.StringIO())
    return [(s.text, s.style or Style.null()) for s in console.render(obj) if s.text.strip()]


def style_of(segs: list[tuple[str, Style]], text: str, *, whole: bool = False) -> Style:
    """The style of the first piece that contains ``text`` (that is ``text``, stripped, when ``whole``)."""
    for piece, style in segs:
        if (piece.strip() == text) if whole else (text in piece):
            return style
    raise AssertionError(f"{text!r} is not rendered as one piece: {[p for p, _ in segs]}")


def color(style: Style) -> str | None:
    return style.color.name if style.color else None
