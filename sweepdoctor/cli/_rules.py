"""``sweepdoctor rules [CODE]``: the diagnosis rules the findings cite, with live thresholds."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.text import Text

from sweepdoctor.cli._render import context_console, echo_json
from sweepdoctor.diagnostics import RuleDoc, rule_doc, rule_docs
from sweepdoctor.diagnostics.view import FittedTable

COMMANDS: list[click.Command] = []


def _print_one(console: Console, doc: RuleDoc) -> None:
    console.print(Text.assemble((doc.code.value, "bold"), f"  ({doc.citation}: {doc.section_title})"))
    console.print(doc.text)
    if doc.thresholds:
        rows = [[name, f"{value:g}"] for name, value in doc.thresholds.items()]
        console.print(FittedTable(["threshold", "value"], rows, justify=["left", "right"],
                                  title="thresholds (live values; override with diagnose --threshold KEY=VALUE)"))
    console.print(Text.assemble(("evidence read: ", "bold"), doc.evidence or "-"))


def _print_all(console: Console, docs: list[RuleDoc]) -> None:
    rows = [[d.code.value, d.citation, ", ".join(d.thresholds) or "-"] for d in docs]  # names wrap whole, never cut
    console.print(FittedTable(["code", "rule", "thresholds"], rows,
                              title="diagnosis rules (sweepdoctor rules CODE for one)"))


@click.command()
@click.argument("code", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON only (for scripts).")
def rules(code: str | None, as_json: bool) -> None:
    """The diagnosis rules: what a finding means, its thresholds, the evidence it reads.

    \b
    Examples:
      sweepdoctor rules
      sweepdoctor rules critical_point
      sweepdoctor rules optimization_failure --json
    """
    doc: Any = rule_doc(code) if code else None
    docs = [doc] if doc is not None else rule_docs()
    if as_json:
        echo_json(doc.to_dict() if doc is not None else [d.to_dict() for d in docs])
        return
    console = context_console(soft_wrap=False)
    if doc is not None:
        _print_one(console, doc)
    else:
        _print_all(console, docs)


COMMANDS.append(rules)
