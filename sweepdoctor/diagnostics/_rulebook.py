"""The shipped rules (``rules.md`` in this package), one entry per finding code.

Findings cite ``rules.md §N``; :func:`rule_doc` reads a code's entry from the
document, with the live values of the thresholds it names (``- thresholds:`` line,
names in backticks) and what evidence it reads (``- evidence:`` line). The document
is the one source: nothing here repeats its text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sweepdoctor.diagnostics._findings import FindingCode
from sweepdoctor.diagnostics._thresholds import Thresholds
from sweepdoctor.errors import ConfigError

__all__ = ["RuleDoc", "rule_doc", "rule_docs", "rules_text"]

_SECTION = re.compile(r"^## (§\d+) (.+)$")
_CODE = re.compile(r"^### (\w+)$")


def rules_text() -> str:
    """The whole shipped ``rules.md``."""
    return resources.files("sweepdoctor.diagnostics").joinpath("rules.md").read_text(encoding="utf-8")


@dataclass(frozen=True)
class RuleDoc:
    """One rule: its section, what it says, the thresholds it compares (live values), what it reads."""

    code: FindingCode
    section: str  # "§2"
    section_title: str
    text: str
    thresholds: dict[str, float]
    evidence: str

    @property
    def citation(self) -> str:
        return f"rules.md {self.section}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "rule": self.citation, "section_title": self.section_title,
                "text": self.text, "thresholds": dict(self.thresholds), "evidence": self.evidence}


def _entries(text: str) -> dict[str, tuple[str, str, list[str]]]:
    """code -> (section, section title, its lines), in document order."""
    out: dict[str, tuple[str, str, list[str]]] = {}
    section = title = ""
    current: list[str] | None = None
    for line in text.splitlines():
        if m := _SECTION.match(line):
            section, title, current = m.group(1), m.group(2), None
        elif m := _CODE.match(line):
            current = []
            out[m.group(1)] = (section, title, current)
        elif current is not None:
            current.append(line)
    return out


def _field(lines: list[str], name: str) -> str:
    """The text of a ``- name: ...`` item (continued on indented lines)."""
    out: list[str] = []
    for line in lines:
        if line.startswith(f"- {name}:"):
            out.append(line.split(":", 1)[1].strip())
        elif out and line.startswith("  ") and line.strip():
            out.append(line.strip())
        elif out:
            break
    return " ".join(out)


def _doc(code: FindingCode, entry: tuple[str, str, list[str]], th: Thresholds) -> RuleDoc:
    section, title, lines = entry
    body = "\n".join(line for line in lines if not line.startswith(("- ", "  "))).strip()
    body = re.sub(r"(?<!\n)\n(?!\n)", " ", body)  # paragraphs as single lines: the reader's screen wraps
    live = th.as_dict()
    names = re.findall(r"`(\w+)`", _field(lines, "thresholds"))
    return RuleDoc(code, section, title, body, {n: live[n] for n in names if n in live}, _field(lines, "evidence"))


def rule_doc(code: FindingCode | str, *, thresholds: Thresholds | None = None) -> RuleDoc:
    """The rule behind ``code``; an unknown code raises :class:`ConfigError` naming the valid ones."""
    try:
        fc = FindingCode(code)
    except ValueError:
        valid = ", ".join(c.value for c in FindingCode)
        raise ConfigError(f"rules: unknown finding code {code!r}; valid codes: {valid}") from None
    entries = _entries(rules_text())
    if fc.value not in entries:  # a code without its rule: a packaging error, not a user's
        raise ConfigError(f"rules: rules.md has no entry for {fc.value!r}; reinstall sweepdoctor")
    return _doc(fc, entries[fc.value], thresholds or Thresholds())


def rule_docs(*, thresholds: Thresholds | None = None) -> list[RuleDoc]:
    """Every rule, in the order of ``rules.md``."""
    th = thresholds or Thresholds()
    return [_doc(FindingCode(code), entry, th) for code, entry in _entries(rules_text()).items()]
