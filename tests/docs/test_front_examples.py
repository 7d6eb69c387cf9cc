"""``examples/front_*``: the README's three examples as scripts, kept identical to its blocks, and run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs._blocks import Block, page_blocks
from tests.docs._run import PageRun

ROOT = Path(__file__).resolve().parents[2]
FRONT = {"front_command_line.sh": ("shell", "bash"), "front_own_model.py": ("python", "python"),
         "front_own_loop.py": ("python", "python")}


def test_every_readme_example_is_a_script_in_examples() -> None:
    scripts = {name: (ROOT / "examples" / name).read_text() for name in FRONT}
    blocks = [b for b in page_blocks(ROOT / "README.md", ROOT) if b.skip is None]
    stale = [name for name, text in scripts.items() if not any(b.text in text for b in blocks)]
    assert not stale, f"examples/{stale} no longer hold a README block as written: copy the block into the script"
    missing = [b.where for b in blocks if not any(b.text in text for text in scripts.values())]
    assert not missing, f"README blocks without a script in examples/front_*: {missing}"


@pytest.mark.parametrize("name", sorted(FRONT))
def test_the_script_runs(name: str, tmp_path: Path) -> None:
    kind, lang = FRONT[name]
    block = Block(f"examples/{name}", 1, kind, lang, (ROOT / "examples" / name).read_text())
    with PageRun(ROOT, tmp_path) as run:
        outcome = run.block(block)
    assert outcome.ok, outcome.detail
