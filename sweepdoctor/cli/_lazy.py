"""Click groups whose subcommands are imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    """A group whose subcommands are imported when first used.

    ``lazy`` maps a command name to ``"module:attribute"``. Importing torch takes
    seconds; ``sweepdoctor studies list`` should not pay for it, nor ``--help``:
    ``summaries`` gives the one-line help of the commands it lists without importing
    them (a test checks that each is the command's own first line).
    """

    def __init__(
        self, *args: Any, lazy: dict[str, str] | None = None, summaries: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})
        self.summaries = dict(summaries or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, attr = self.lazy[name].split(":")
            cmd = getattr(importlib.import_module(module), attr)
            if name not in self.commands:  # the module may register itself
                self.add_command(cmd, name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands and their one-line help, importing only those without a summary."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(n) for n in names), default=0)
        rows = []
        for name in names:
            if name in self.summaries and name not in self.commands:
                rows.append((name, _shorten(self.summaries[name], limit)))
            elif (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _shorten(text: str, limit: int) -> str:
    """As click shortens a command's help for this list."""
    return click.Command(None, help=text).get_short_help_str(limit)
