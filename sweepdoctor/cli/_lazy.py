"""Click groups whose subcommands are imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    """A group whose subcommands are imported when first used.

    ``lazy`` maps a command name to ``"module:attribute"``. Importing torch takes
    seconds; ``sweepdoctor studies list`` should not pay for it.
    """

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, attr = self.lazy[name].split(":")
            cmd = getattr(importlib.import_module(module), attr)
            if name not in self.commands:  # the module may register itself
                self.add_command(cmd, name)
        return super().get_command(ctx, name)
