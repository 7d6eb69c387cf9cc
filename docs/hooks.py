"""MkDocs hook: the manual's rule and threshold tables, generated from the code at build time.

A page holds a marker, the hook puts the code's own text in its place, so the manual
cannot drift from what ``sweepdoctor rules`` prints:

- ``<!-- sweepdoctor:findings -->``: one row per finding code (its rule, the thresholds
  it compares with their default values, the evidence it reads), from ``rule_docs()``;
- ``<!-- sweepdoctor:rules -->``: the shipped ``rules.md`` (the one the findings cite);
- ``<!-- sweepdoctor:thresholds -->``: every field of ``diagnostics.Thresholds`` with its
  default, the rules that read it and the reason for its value (the comment above it in
  the source).

It also drops the Sphinx roles (``:func:``) the docstrings use from the API reference.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from typing import Any

from sweepdoctor import diagnostics

_FIELD = re.compile(r"^    (\w+): [\w| ]+ = ")


def threshold_reasons() -> dict[str, str]:
    """Each threshold's reason: the comment block above it in ``Thresholds``' source.

    Fields without a comment of their own share the one above them (listed together)."""
    reasons: dict[str, str] = {}
    comment: list[str] = []
    current = ""
    for line in inspect.getsource(diagnostics.Thresholds).splitlines():
        stripped = line.strip()
        if stripped.startswith("# ----"):
            comment, current = [], ""
        elif stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
        elif m := _FIELD.match(line):
            if comment:
                current, comment = " ".join(comment), []
            reasons[m.group(1)] = current
        elif not stripped:
            comment = []
    return reasons


def findings_table(rules_page: str = "rules.md") -> str:
    """One row per finding code; each code links to its rule on ``rules_page`` ("" for the page itself)."""
    rows = ["| code | rule | thresholds (default) | evidence it reads |", "|---|---|---|---|"]
    for doc in diagnostics.rule_docs():
        code = doc.code.value
        th = ", ".join(f"`{k}` = {v:g}" for k, v in doc.thresholds.items()) or "–"
        rows.append(f"| [`{code}`]({rules_page}#{code}) | {doc.section} {doc.section_title} | {th} "
                    f"| {doc.evidence or '–'} |")
    return "\n".join(rows)


def rules_markdown() -> str:
    """The shipped rules.md without its title, its headings one level down."""
    lines = diagnostics.rules_text().splitlines()
    body = lines[1:] if lines and lines[0].startswith("# ") else lines
    return "\n".join(("#" + line) if line.startswith("##") else line for line in body)


def thresholds_table() -> str:
    used: dict[str, list[str]] = {}
    for doc in diagnostics.rule_docs():
        for name in doc.thresholds:
            used.setdefault(name, []).append(f"`{doc.code.value}`")
    reasons = threshold_reasons()
    rows = ["| threshold | default | listed by the rules of | why this value |", "|---|---|---|---|"]
    previous = None
    for f in fields(diagnostics.Thresholds):
        default: Any = f.default
        reason = reasons.get(f.name, "")
        why = "(the reason above covers it too)" if reason == previous else reason.replace("|", "\\|")
        previous = reason
        readers = ", ".join(used.get(f.name, [])) or "–"
        rows.append(f"| `{f.name}` | {default:g} | {readers} | {why} |")
    return "\n".join(rows)


_SPHINX_ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|exc|obj):(?=<code>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    """Docstrings use Sphinx roles (``:func:`run```); on the page they read as plain code."""
    return _SPHINX_ROLE.sub("", html)


def on_page_markdown(markdown: str, *, page: Any, **kwargs: Any) -> str:
    on_rules_page = page.file.src_uri == "rules.md"
    markers = {
        "<!-- sweepdoctor:findings -->": lambda: findings_table("" if on_rules_page else "rules.md"),
        "<!-- sweepdoctor:rules -->": rules_markdown,
        "<!-- sweepdoctor:thresholds -->": thresholds_table,
    }
    for marker, make in markers.items():
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
