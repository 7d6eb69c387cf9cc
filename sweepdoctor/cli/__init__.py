"""The command line: the only place that prints, with one error boundary.

Each command group lives in its own module and is registered here.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from sweepdoctor import __version__
from sweepdoctor.cli._lazy import LazyGroup
from sweepdoctor.errors import SweepdoctorError

__all__ = ["main"]


class _Boundary(LazyGroup):
    """Turns the package's errors into one line on stderr and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SweepdoctorError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(
    cls=_Boundary,
    context_settings={"help_option_names": ["-h", "--help"]},
    lazy={
        "sweep": "sweepdoctor.cli._sweep:sweep",
        "diagnose": "sweepdoctor.cli._diagnose:diagnose",
        "studies": "sweepdoctor.cli._studies:studies",
    },
)
@click.version_option(__version__, prog_name="sweepdoctor")
def main() -> None:
    """Tune PyTorch models with Optuna and k-fold cross-validation, then diagnose
    what went wrong in training (overfitting, optimization failure, divergence, ...).

    \b
    Start with:   sweepdoctor sweep --dataset digits --trials 30
    Then:         sweepdoctor diagnose --study <name>
                  sweepdoctor studies list
    """
