"""A summary after the docs test: the blocks not run (and why), the lines skipped on their own, time per page."""

from __future__ import annotations

from typing import Any

import pytest

_REPORTS: list[tuple[str, dict[str, Any]]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    if report.when == "call" and "docs_not_run" in props:
        _REPORTS.append((report.nodeid.rpartition("[")[2].rstrip("]"), props))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _REPORTS:
        return
    tr = terminalreporter
    not_run = [item for _, props in _REPORTS for item in props["docs_not_run"]]
    auto = [line for _, props in _REPORTS for line in props.get("docs_auto_skipped", [])]
    tr.write_sep("-", f"docs: {len(_REPORTS)} pages run, {len(not_run)} blocks marked not run, "
                      f"{len(auto)} lines skipped on their own")
    for where, reason in sorted(not_run):
        tr.write_line(f"not run  {where}: {reason}")
    for line in sorted(auto):
        tr.write_line(f"skipped  {line}")
    timed = [(page, props["docs_seconds"]) for page, props in sorted(_REPORTS) if "docs_seconds" in props]
    for page, (wall, cpu) in timed:
        tr.write_line(f"seconds  {page}: {wall} wall, {cpu} CPU")
    if timed:
        tr.write_line(f"seconds  all pages: {sum(w for _, (w, _c) in timed):.1f} wall, "
                      f"{sum(c for _, (_w, c) in timed):.1f} CPU")
