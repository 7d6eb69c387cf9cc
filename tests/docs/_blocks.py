"""The fenced code blocks of a Markdown page, and the small-run rewriting the docs test applies.

Pure text in, text out (no processes): ``tests/docs/test_blocks.py`` tests it directly.
The convention it implements is in ``tests/docs/README.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SHELL = frozenset({"bash", "sh", "shell", "console"})
PYTHON = frozenset({"python", "py", "python3"})
SMALL = 2  # what --trials/--epochs/--folds N (N > 2) become

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)(?P<rest>.*)$")
_NOT_RUN = re.compile(r"^(?:\$ )?#\s*not run\b:?(?P<reason>.*)$", re.IGNORECASE)
_SNIPPET = re.compile(r"""^\s*-{1,}8<-{1,}\s+["'](?P<path>[^"']+)["']\s*$""")
_FLAG = re.compile(r"(?P<flag>--(?:trials|epochs|folds))(?P<sep>[ \t]+|=)(?P<n>\d+)\b")
_WORKERS = re.compile(r"(?P<flag>--workers)(?P<sep>[ \t]+|=)(?P<n>\d+)\b")
_KWARG = re.compile(r"\b(?P<flag>n_trials|trials|epochs|max_epochs|folds|n_folds|n_splits)(?P<sep>\s*=\s*)(?P<n>\d+)\b")
_TOML_KEY = re.compile(r"^(?P<flag>\s*(?:trials|epochs|folds|n_trials))(?P<sep>\s*=\s*)(?P<n>\d+)(?=\s*(?:#.*)?$)")
_HEREDOC = re.compile(r"<<(?P<dash>-?)\s*(?P<q>['\"]?)(?P<word>\w+)(?P=q)")
_SWEEP = re.compile(r"\b(?P<cmd>(?:sweepdoctor|python3?\s+-m\s+sweepdoctor)\s+sweep)(?=\s|$)(?P<rest>[^|;&]*)")
_SKIPPED = re.compile(r"^(?:make|pip3?|uv\s+pip|python3?\s+-m\s+pip|sudo)\b")
_LONG_LIVED = re.compile(r"^(?:sweepdoctor\s+serve|sweepdoctor\s+agent|optuna-dashboard|mkdocs\s+serve)\b")


@dataclass(frozen=True)
class Block:
    """One fenced ``bash``/``sh``/``shell``/``console`` or ``python`` block of a page."""

    page: str  # the page's path from the repository root
    line: int  # the line of the opening fence (1-based)
    kind: str  # "shell" or "python"
    lang: str  # the fence's language as written
    text: str  # the block's lines (dedented to the fence), snippets included
    skip: str | None = None  # the reason after "# not run:" ("" if none was given); None: run it

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line} ({self.lang} block)"


@dataclass
class Script:
    """A shell block rewritten for the test: the script, what was left out and why."""

    text: str
    notes: list[str] = field(default_factory=list)  # lines skipped automatically
    errors: list[str] = field(default_factory=list)  # lines the harness refuses to run


def _include_snippets(lines: list[str], root: Path) -> list[str]:
    """pymdownx.snippets lines (``--8<-- "path"``) replaced by the file they name."""
    out: list[str] = []
    for line in lines:
        m = _SNIPPET.match(line)
        out += (root / m["path"]).read_text(encoding="utf-8").splitlines() if m else [line]
    return out


def _dedent(line: str, indent: str) -> str:
    return line[len(indent):] if line.startswith(indent) else line.lstrip(" \t")


def page_blocks(path: Path, root: Path) -> list[Block]:
    """The page's shell and python blocks in order; other fences (text, toml, json) are left out."""
    page = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, fence, indent, lang = i, m["fence"], m["indent"], m["lang"].lower()
        i += 1
        body = []
        while i < len(lines) and not re.match(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", lines[i]):
            body.append(_dedent(lines[i], indent))
            i += 1
        i += 1  # the closing fence
        kind = "shell" if lang in SHELL else "python" if lang in PYTHON else None
        if kind is None:
            continue
        body = _include_snippets(body, root)
        first = next((b.strip() for b in body if b.strip()), "")
        marker = _NOT_RUN.match(first)
        skip = marker["reason"].strip() if marker else None
        blocks.append(Block(page, start + 1, kind, lang, "\n".join(body) + "\n", skip))
    return blocks


def _shrink(m: re.Match[str], limit: int = SMALL) -> str:
    n = int(m["n"])
    return f"{m['flag']}{m['sep']}{min(n, limit)}"


def shrink_flags(line: str) -> str:
    """``--trials/--epochs/--folds N`` at most 2, ``--workers N`` at most 2."""
    return _WORKERS.sub(_shrink, _FLAG.sub(_shrink, line))


def small_sweep(command: str) -> str:
    """A ``sweepdoctor sweep`` command given ``--trials/--epochs/--folds 2`` where it leaves them out
    (its defaults, or a config file's values, would otherwise run a full sweep)."""
    def add(m: re.Match[str]) -> str:
        missing = [f"--{k} {SMALL}" for k in ("trials", "epochs", "folds") if f"--{k}" not in m["rest"]]
        return " ".join([m["cmd"], *missing]) + m["rest"]

    return _SWEEP.sub(add, command)


def shrink_python(code: str) -> str:
    """``n_trials=``, ``epochs=``, ``folds=`` (and the like) integer keywords at most 2."""
    return _KWARG.sub(_shrink, code)


def shrink_toml_line(line: str) -> str:
    """A TOML ``trials``/``epochs``/``folds`` key at most 2."""
    return _TOML_KEY.sub(_shrink, line)


def _commands(block: Block) -> list[str]:
    """The block's command lines: a console block's ``$ `` lines (and their continuations), else every
    line with any ``$ `` prompt taken off."""
    lines = block.text.splitlines()
    if block.lang != "console":
        return [line[2:] if line.startswith("$ ") else line for line in lines]
    out, going_on, end = [], False, None
    for line in lines:
        if end is not None:  # a heredoc's body, up to its end word
            out.append(line)
            end = None if line.strip() == end else end
        elif line.startswith("$ ") or going_on:
            out.append(line[2:] if line.startswith("$ ") and not going_on else line)
            going_on = line.rstrip().endswith("\\")
            end = h["word"] if (h := _HEREDOC.search(line)) is not None else None
    return out


def _logical(lines: list[str]) -> list[list[str]]:
    """Lines grouped into commands: a line ending in a backslash goes on in the next."""
    groups: list[list[str]] = []
    going_on = False
    for line in lines:
        if going_on:
            groups[-1].append(line)
        else:
            groups.append([line])
        going_on = line.rstrip().endswith("\\")
    return groups


def shell_script(block: Block) -> Script:
    """The block as a bash script: prompts off, small flags, heredoc TOML shrunk, make/pip lines left out."""
    script = Script("")
    out: list[str] = []
    heredoc: tuple[str, bool] | None = None  # (end word, <<- strips tabs)
    for group in _logical(_commands(block)):
        if heredoc is not None:
            line = group[0] if len(group) == 1 else "\n".join(group)
            done = (line.lstrip("\t") if heredoc[1] else line) == heredoc[0]
            out.append(line if done else shrink_toml_line(line))
            heredoc = None if done else heredoc
            continue
        command = " ".join(part.rstrip("\\").strip() for part in group).strip()
        if _SKIPPED.match(command):
            script.notes.append(f"{block.where}: skipped (the test's environment is set up): {command}")
            out += [f": # skipped: {part}" if k == 0 else f": # {part}" for k, part in enumerate(group)]
            continue
        if _LONG_LIVED.match(command) and not _ends_in_background(command) and not _exits(command):
            script.errors.append(
                f"{block.where}: `{command}` runs until stopped: mark the block `# not run: <reason>` or end the "
                "line with ` &` (the test stops background processes when the page is done)")
        out += [shrink_flags(small_sweep(part) if k == 0 else part) for k, part in enumerate(group)]
        if (h := _HEREDOC.search(command)) is not None:
            heredoc = (h["word"], bool(h["dash"]))
    script.text = "\n".join(out) + "\n"
    return script


def _ends_in_background(command: str) -> bool:
    return re.search(r"(?<!&)&\s*(?:#.*)?$", command) is not None


def _exits(command: str) -> bool:
    """A command of the long-lived kind that ends by itself (help, an agent bound to one sweep or idle time)."""
    return re.search(r"\s(?:-h|--help|--sweep|--max-idle)\b", command) is not None
