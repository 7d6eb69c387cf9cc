"""Every shell and python block of README.md and docs/ runs as written (issue 25: docs that run).

One test per page, so a failure names the page, then each failing block by its line.
The convention (which blocks run, ``# not run: <reason>``, the small-run rewriting, what
is skipped on its own, background processes) is in ``tests/docs/README.md``.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from tests.docs._blocks import page_blocks
from tests.docs._run import PageRun

ROOT = Path(__file__).resolve().parents[2]


def _children_cpu() -> float:
    """CPU seconds of the processes this one has waited for (the page's shells and python)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pages() -> list[str]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [p.relative_to(ROOT).as_posix() for p in pages if p.exists() and page_blocks(p, ROOT)]


@pytest.mark.parametrize("page", _pages())
def test_page_runs_as_written(page: str, tmp_path: Path, record_property: pytest.RecordProperty) -> None:
    blocks = page_blocks(ROOT / page, ROOT)
    unexplained = [b.where for b in blocks if b.skip == ""]
    record_property("docs_not_run", [(b.where, b.skip) for b in blocks if b.skip])
    failures, notes, start, cpu = [], [], time.perf_counter(), _children_cpu()
    with PageRun(ROOT, tmp_path) as run:
        for block in blocks:
            if block.skip is not None:
                continue
            outcome = run.block(block)
            notes += outcome.notes
            if not outcome.ok:
                failures.append(f"{block.where} failed ({outcome.seconds:.1f} s):\n{block.text}---\n{outcome.detail}")
    record_property("docs_auto_skipped", notes)
    record_property("docs_seconds", (round(time.perf_counter() - start, 1), round(_children_cpu() - cpu, 1)))
    assert not unexplained, f"blocks marked `# not run` without a reason (write `# not run: <why>`): {unexplained}"
    assert not failures, f"{len(failures)} block(s) of {page} failed:\n\n" + "\n\n".join(failures)
