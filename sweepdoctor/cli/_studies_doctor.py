"""``sweepdoctor studies doctor NAME``: the health of a study that several workers share.

Lists running trials with their worker and last heartbeat (stale ones flagged; on the
machine that ran a worker, "worker process gone" as soon as its process no longer runs),
trials by state, workers seen, and finished trials whose curves do not match; with
``--fail-stale`` it fails the stale trials and queues their retries, as a running
sweep does by itself. Exit status 0 when healthy, 1 when something needs attention.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console

from sweepdoctor.cli._render import echo_json
from sweepdoctor.cli._studies import studies
from sweepdoctor.studies import check_url, default_storage, examine_study, make_engine

__all__ = ["COMMANDS", "doctor"]

COMMANDS: list[click.Command] = []  # registered on the ``studies`` group below


@studies.command("doctor")
@click.argument("name")
@click.option(
    "--grace", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
    help="A running trial of another host without a heartbeat for this long is stale "
         "[env SWEEPDOCTOR_HEARTBEAT_GRACE, else 15].",
)
@click.option("--fail-stale", is_flag=True, help="Fail the stale trials and queue their retries.")
@click.option("--storage", metavar="URL", default=None,
              help="Database URL (default: $SWEEPDOCTOR_STORAGE, else sqlite:///sweepdoctor.db).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only (for scripts).")
def doctor(name: str, grace: float | None, fail_stale: bool, storage: str | None, as_json: bool) -> None:
    """Running and stale trials, workers seen, curves that do not match the trials.

    \b
    Examples:
      sweepdoctor studies doctor my-study --storage postgresql://user@host/db
      sweepdoctor studies doctor my-study --fail-stale
    """
    url = check_url(storage or default_storage())
    from sweepdoctor.sweep import HeartbeatSettings, fail_stale_in_study  # the sweep's room: torch, on use only

    grace_s = grace if grace is not None else HeartbeatSettings.from_env().grace_s
    failed = fail_stale_in_study(url, name, grace_s=grace_s) if fail_stale else []
    engine = make_engine(url)
    try:
        report = examine_study(engine, name, grace_s=grace_s, failed_now=failed)
    finally:
        engine.dispose()
    if as_json:
        echo_json(report.to_dict())
    else:
        Console(highlight=False).print(report)
    if not report.healthy:
        sys.exit(1)
