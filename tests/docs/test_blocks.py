"""The docs test's reading of a page: which blocks run, what is left out, how runs are made small."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs._blocks import page_blocks, shell_script, shrink_python, small_sweep
from tests.docs._run import PageRun

PAGE = '''# A page

```bash
sweepdoctor sweep --dataset digits --trials 30 --folds 5 --epochs 20 --study d
```

```text
not run: a text block
```

```toml
trials = 30
```

```console
$ sweepdoctor studies list
name  trials
$ echo a \\
  b
```

```python
# not run: needs a GPU
import torch
```

- a list item:

    ```sh
    # not run
    make run
    ```

```python
result = sweep.run(X=X, y=y, n_trials=50, epochs=20, folds=5, seed=3)
```
'''


def _blocks(tmp_path: Path, text: str = PAGE) -> list:
    (tmp_path / "page.md").write_text(text)
    return page_blocks(tmp_path / "page.md", tmp_path)


def test_shell_and_python_blocks_are_found_with_their_line_and_marker(tmp_path: Path) -> None:
    blocks = _blocks(tmp_path)
    assert [(b.line, b.kind, b.lang, b.skip) for b in blocks] == [
        (3, "shell", "bash", None), (15, "shell", "console", None), (22, "python", "python", "needs a GPU"),
        (29, "shell", "sh", ""), (34, "python", "python", None)]
    assert blocks[3].text == "# not run\nmake run\n"  # dedented to its fence
    assert blocks[0].where == "page.md:3 (bash block)"


def test_flags_keywords_and_heredoc_toml_are_made_small(tmp_path: Path) -> None:
    blocks = _blocks(tmp_path)
    assert shell_script(blocks[0]).text.split("\n")[0] == (
        "sweepdoctor sweep --dataset digits --trials 2 --folds 2 --epochs 2 --study d")
    assert shrink_python(blocks[4].text) == "result = sweep.run(X=X, y=y, n_trials=2, epochs=2, folds=2, seed=3)\n"
    heredoc = _blocks(tmp_path, "```bash\ncat > s.toml <<'TOML'\n[study]\ntrials = 30  # many\nseed = 30\n"
                                "TOML\nsweepdoctor sweep --config s.toml --workers 4\n```\n")[0]
    assert shell_script(heredoc).text.splitlines() == [
        "cat > s.toml <<'TOML'", "[study]", "trials = 2  # many", "seed = 30", "TOML",
        "sweepdoctor sweep --trials 2 --epochs 2 --folds 2 --config s.toml --workers 2"]


def test_a_sweep_without_size_flags_is_given_small_ones() -> None:
    small = "sweepdoctor sweep --trials 2 --folds 2 --epochs 1 | jq ."
    assert small_sweep("sweepdoctor sweep --epochs 1 | jq .") == small
    assert small_sweep("sweepdoctor studies list") == "sweepdoctor studies list"


def test_console_blocks_run_only_their_prompt_lines(tmp_path: Path) -> None:
    console = _blocks(tmp_path)[1]
    assert shell_script(console).text == "sweepdoctor studies list\necho a \\\n  b\n"


def test_make_and_pip_are_skipped_and_a_server_must_be_marked_or_backgrounded(tmp_path: Path) -> None:
    block = _blocks(tmp_path, "```bash\npip install 'sweepdoctor[web]'\nmake test\nsweepdoctor serve --port 1\n"
                              "sweepdoctor serve --port 2 &\nsweepdoctor agent --sweep s\n```\n")[0]
    script = shell_script(block)
    assert [n.rpartition(": ")[2] for n in script.notes] == ["pip install 'sweepdoctor[web]'", "make test"]
    assert script.text.startswith(": # skipped: pip install")
    assert len(script.errors) == 1 and "`sweepdoctor serve --port 1` runs until stopped" in script.errors[0]


@pytest.mark.parametrize(
    ("page", "ok"),
    [
        ("```bash\nexport X=7\ncd sub 2>/dev/null || mkdir sub && cd sub\n```\n```sh\ntest \"$X\" = 7 && "
         "test \"$(basename \"$PWD\")\" = sub\n```\n", True),
        ("```python\nimport os\nvalue = 41\n```\n```python\nassert value + 1 == 42 and 'HOME' in os.environ\n"
         "open('made.txt', 'w').write('x')\n```\n```bash\ntest -f made.txt && test -z \"$SWEEPDOCTOR_STORAGE\"\n```\n",
         True),
        ("```bash\nfalse | cat\necho never\n```\n", False),
        ("```python\nraise SystemExit(3)\n```\n", False),
    ],
)
def test_blocks_of_a_page_share_their_state_and_a_failure_is_seen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str, ok: bool) -> None:
    monkeypatch.setenv("SWEEPDOCTOR_STORAGE", "sqlite:///leaked.db")  # the caller's settings do not reach the page
    (tmp_path / "root" / "examples").mkdir(parents=True)
    blocks = _blocks(tmp_path / "root", page)
    (tmp_path / "run").mkdir()
    with PageRun(tmp_path / "root", tmp_path / "run") as run:
        outcomes = [run.block(b) for b in blocks]
    assert all(o.ok for o in outcomes) is ok, [o.detail for o in outcomes]


def test_a_background_server_is_stopped_when_the_page_is_done(tmp_path: Path) -> None:
    (tmp_path / "root" / "examples").mkdir(parents=True)
    block = _blocks(tmp_path / "root", "```bash\nsleep 300 &\necho $! > pid\n```\n")[0]
    (tmp_path / "run").mkdir()
    with PageRun(tmp_path / "root", tmp_path / "run") as run:
        assert run.block(block).ok
        pid = int((tmp_path / "run" / "page" / "pid").read_text())
        assert Path(f"/proc/{pid}").exists()
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
