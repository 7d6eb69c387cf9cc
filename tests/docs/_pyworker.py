"""Runs a page's python blocks in one namespace: ``python _pyworker.py LOG``, one block per request.

Requests come on stdin, one JSON object a line (``{"code": ..., "name": ...}``); each answer is
one JSON line (``{"ok": true}`` or ``{"ok": false, "error": <traceback>}``) on the stdout the
worker was started with. What the blocks print (and any child process) goes to LOG.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import traceback
import types
from typing import Any

SMALL = 2


def small_sweeps() -> None:
    """``sweep.run`` given at most 2 trials, epochs and folds, whatever the block or its config file asks
    (the blocks' literal keywords are shrunk already; this covers the defaults and config files)."""
    from sweepdoctor import sweep

    if getattr(sweep.run, "docs_small", False):
        return
    original = sweep.run

    @functools.wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        for key in ("n_trials", "epochs", "folds"):
            kwargs[key] = min(kwargs.get(key) or SMALL, SMALL)
        return original(*args, **kwargs)

    run.docs_small = True  # type: ignore[attr-defined]
    sweep.run = run


def main(log_path: str) -> None:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    page = types.ModuleType("__main__")  # a clean namespace; what a block defines lives in __main__, as in a script
    page.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = page
    namespace = page.__dict__
    for request in sys.stdin:
        block = json.loads(request)
        print(f"---- {block['name']}", flush=True)
        try:
            if re.search(r"\bsweep\b", block["code"]):
                small_sweeps()
            exec(compile(block["code"], block["name"], "exec"), namespace)  # noqa: S102 - the docs' own code
            answer: dict[str, object] = {"ok": True}
        except BaseException:  # SystemExit and KeyboardInterrupt of a block are its failure too
            answer = {"ok": False, "error": traceback.format_exc()}
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main(sys.argv[1])
