"""``sweepdoctor diagnose``: filled in by the diagnostics work."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
