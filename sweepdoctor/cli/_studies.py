"""``sweepdoctor studies ...``: filled in by the studies work."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
