"""Runs one page's blocks in order: shell blocks with bash, python blocks in one interpreter.

Each page gets a fresh directory (its ``HOME`` and working directory, with a copy of
``examples/`` whose TOML files are shrunk like the blocks), the venv's ``bin`` first on
``PATH`` and no ``SWEEPDOCTOR_*`` variable of the caller. Exported variables and the
working directory carry over from one shell block to the next. Processes a block leaves
in the background are stopped when the page is done.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.docs._blocks import Block, shell_script, shrink_python, shrink_toml_line

WORKER = Path(__file__).with_name("_pyworker.py")
BLOCK_TIMEOUT = 600.0  # seconds one block may take (its shrunk runs take seconds; a loaded machine, minutes)


@dataclass(frozen=True)
class Outcome:
    block: Block
    ok: bool
    seconds: float
    detail: str = ""  # why it failed, the tail of its output
    notes: tuple[str, ...] = ()  # lines skipped automatically


def page_env(home: Path) -> dict[str, str]:
    """The environment of a newcomer's shell: no SWEEPDOCTOR_* settings, the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPDOCTOR_", "PYTEST_", "COV_"))}
    env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", SWEEPDOCTOR_OVERLAP_EVAL="0")
    return env


def copy_examples(root: Path, into: Path) -> None:
    """``examples/`` beside the page (the README names files in it), its TOML files shrunk."""
    shutil.copytree(root / "examples", into / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    for toml in (into / "examples").rglob("*.toml"):
        toml.write_text("\n".join(shrink_toml_line(line) for line in toml.read_text().splitlines()) + "\n")


def _tail(path: Path, n: int = 3000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-n:]


class PageRun:
    """``with PageRun(root, tmp) as run: run.block(b)`` for each block of a page, in order."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.home, self.aux = tmp / "page", tmp / "harness"
        self.home.mkdir()
        self.aux.mkdir()
        copy_examples(root, self.home)
        self.env = page_env(self.home)
        self.groups: list[int] = []
        self.worker: subprocess.Popen[str] | None = None
        self.n = 0

    def __enter__(self) -> PageRun:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def block(self, block: Block) -> Outcome:
        self.n += 1
        start = time.perf_counter()
        if block.kind == "shell":
            script = shell_script(block)
            if script.errors:
                return Outcome(block, False, 0.0, "\n".join(script.errors), tuple(script.notes))
            ok, detail = self._shell(script.text)
            return Outcome(block, ok, time.perf_counter() - start, detail, tuple(script.notes))
        ok, detail = self._python(block)
        return Outcome(block, ok, time.perf_counter() - start, detail)

    def _shell(self, text: str) -> tuple[bool, str]:
        state, log = self.aux / "state.sh", self.aux / f"block-{self.n}.log"
        path = self.aux / f"block-{self.n}.sh"
        path.write_text(
            f'if [ -f "{state}" ]; then . "{state}"; fi\n'
            f"trap 'export -p > \"{state}\"; echo \"cd $(printf %q \"$PWD\")\" >> \"{state}\"' EXIT\n"
            "set -e -o pipefail\n" + text)
        with log.open("w") as out:
            proc = subprocess.Popen(["bash", str(path)], cwd=self.home, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            self.groups.append(proc.pid)
            try:
                code = proc.wait(timeout=BLOCK_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._stop(proc.pid)
                proc.wait()
                return False, f"timed out after {BLOCK_TIMEOUT:.0f} s\n{_tail(log)}"
        return code == 0, "" if code == 0 else f"exit status {code}\n{_tail(log)}"

    def _python(self, block: Block) -> tuple[bool, str]:
        log = self.aux / "python.log"
        if self.worker is None:
            self.worker = subprocess.Popen([sys.executable, str(WORKER), str(log)], cwd=self.home, env=self.env,
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                           start_new_session=True)
            self.groups.append(self.worker.pid)
        assert self.worker.stdin is not None and self.worker.stdout is not None
        name = f"{block.page}:{block.line}"
        self.worker.stdin.write(json.dumps({"code": shrink_python(block.text), "name": name}) + "\n")
        self.worker.stdin.flush()
        with selectors.DefaultSelector() as sel:
            sel.register(self.worker.stdout, selectors.EVENT_READ)
            if not sel.select(timeout=BLOCK_TIMEOUT):
                return False, f"timed out after {BLOCK_TIMEOUT:.0f} s\n{_tail(log)}"
        line = self.worker.stdout.readline()
        if not line:
            return False, f"the python process died\n{_tail(log)}"
        answer = json.loads(line)
        return bool(answer["ok"]), "" if answer["ok"] else f"{answer['error']}\noutput:\n{_tail(log, 1500)}"

    def _stop(self, group: int) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(group, sig)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.5)

    def close(self) -> None:
        if self.worker is not None and self.worker.stdin is not None:
            self.worker.stdin.close()
            try:
                self.worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for group in self.groups:
            self._stop(group)
        if self.worker is not None:
            self.worker.wait()
            if self.worker.stdout is not None:
                self.worker.stdout.close()
