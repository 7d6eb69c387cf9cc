"""The command line: the only place that prints, with one error boundary.

Each command group lives in its own module and is registered here.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, NoReturn

import click

from sweepdoctor import __version__
from sweepdoctor.cli._lazy import LazyGroup
from sweepdoctor.errors import SweepdoctorError

__all__ = ["entry", "main"]


class _Boundary(LazyGroup):
    """Turns the package's errors into one line on stderr and a non-zero exit."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise  # the help text, as click prints it
        except click.UsageError as e:  # a bad flag of the top level: as one line too
            _one_line(e)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SweepdoctorError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.ClickException as e:  # bad flags and values, unwritable output files
            _one_line(e)
        except UnicodeDecodeError as e:  # a last net: each reader says which file itself
            click.echo(f"error: an input file is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8",
                       err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def _one_line(e: click.ClickException) -> NoReturn:
    """Click's usage error (normally a usage block and a message) as one ``error:`` line, exit 2."""
    message = " ".join(e.format_message().split())
    ctx = getattr(e, "ctx", None)
    if isinstance(e, click.UsageError) and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group(
    cls=_Boundary,
    context_settings={"help_option_names": ["-h", "--help"]},
    lazy={
        "sweep": "sweepdoctor.cli._sweep:sweep",
        "diagnose": "sweepdoctor.cli._diagnose:diagnose",
        "rules": "sweepdoctor.cli._rules:rules",
        "studies": "sweepdoctor.cli._studies:studies",
        "serve": "sweepdoctor.cli._serve:serve",
        "agent": "sweepdoctor.cli._serve:agent",
        "report": "sweepdoctor.cli._serve:report",
    },
    summaries={  # `sweepdoctor --help` lists them without importing torch (tests/cli/test_startup.py)
        "agent": "Run submitted sweeps (POST /api/sweeps) on this host, beside agents on other hosts.",
        "diagnose": "Diagnose training: overfitting, optimization failure, divergence, ... "
                    "(the rules: sweepdoctor rules).",
        "report": "Write a study's page as one self-contained HTML file (readable offline: CI artifacts, e-mail).",
        "rules": "The diagnosis rules: what a finding means, its thresholds, the evidence it reads.",
        "serve": "Serve the JSON API (/api, /openapi.json) and web pages over a study database.",
        "studies": "Query, compare, plot, export and delete stored studies (SQLite, PostgreSQL, MySQL).",
        "sweep": "Run (or resume) a k-fold Optuna sweep of a PyTorch MLP (tables) or CNN (images, sequences).",
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


def entry() -> None:
    """The console script (and ``python -m sweepdoctor``): :func:`main`, then the exit.

    A command that imported torch (a sweep, ``diagnose --hessian``) exits without the
    interpreter's teardown of its modules, ~0.6 s of every sweep's wall time: the output
    is flushed and every process the command started has ended by then. Elsewhere (tests,
    ``CliRunner``) :func:`main` is called as it is.
    """
    try:
        main()
    except SystemExit as e:
        if "torch" not in sys.modules:
            raise
        code = e.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
        _exit_now(0 if code is None else int(code))


def _exit_now(code: int) -> NoReturn:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (| head): nothing left to say
            pass
    os._exit(code)
