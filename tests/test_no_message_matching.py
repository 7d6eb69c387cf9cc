"""The faces decide by an error's type, never by the words of its message (issue 24).

An HTTP status, the agent's stop-or-go and a CLI message were once chosen by substrings
of English messages (``"no submitted sweep" not in str(e)``); a reworded message then
changed behaviour silently. This test reads the faces' source and refuses the pattern:
``in``/``not in`` against ``str(error)`` (or a name holding it), ``str(error).startswith``
and the like, and ``error.args[...]``. The errors to decide on are in ``sweepdoctor.errors``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sweepdoctor"
FACES = ("cli", "service", "sweep/agent")  # where a kind of error picks a status, an exit or a next step
_TEXT_METHODS = {"startswith", "endswith", "partition", "rpartition", "split", "find", "index", "count"}


def _is_error_annotation(node: ast.expr | None) -> bool:
    if node is None:
        return False
    text = ast.unparse(node)
    return any(part.endswith(("Error", "Exception")) for part in text.replace("|", " ").replace(".", " ").split())


class _Finder(ast.NodeVisitor):
    """Collects where a message's words are matched; ``errors``: names that hold an exception."""

    def __init__(self) -> None:
        self.errors: set[str] = set()
        self.messages: set[str] = set()
        self.found: list[tuple[int, str]] = []

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.errors.add(node.name)
        self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
            if _is_error_annotation(arg.annotation):
                self.errors.add(arg.arg)
        self.generic_visit(node)

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def _message(self, node: ast.expr) -> bool:
        """``str(e)``, ``e.args``, or a name assigned from them."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("str", "repr"):
            return any(isinstance(a, ast.Name) and a.id in self.errors for a in node.args)
        if isinstance(node, ast.Attribute) and node.attr == "args":
            return isinstance(node.value, ast.Name) and node.value.id in self.errors
        if isinstance(node, ast.Subscript):
            return self._message(node.value)
        return isinstance(node, ast.Name) and node.id in self.messages

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        if self._message(node.value):
            self.messages.update(t.id for t in node.targets if isinstance(t, ast.Name))

    def visit_Compare(self, node: ast.Compare) -> None:
        if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            if any(self._message(side) for side in (node.left, *node.comparators)):
                self.found.append((node.lineno, ast.unparse(node)))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _TEXT_METHODS and self._message(func.value):
            self.found.append((node.lineno, ast.unparse(node)))
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.value, ast.Attribute) and node.value.attr == "args" and self._message(node.value):
            self.found.append((node.lineno, ast.unparse(node)))
        self.generic_visit(node)


def message_matches(source: str) -> list[tuple[int, str]]:
    """Where ``source`` decides by an exception's words (line, expression)."""
    finder = _Finder()
    tree = ast.parse(source)
    finder.visit(tree)  # first pass: learn the names that hold errors and messages
    finder.found.clear()
    finder.visit(tree)
    return finder.found


def test_the_faces_never_decide_by_an_errors_words() -> None:
    found = []
    for face in FACES:
        for path in sorted((PACKAGE / face).rglob("*.py")):
            for line, expr in message_matches(path.read_text(encoding="utf-8")):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {expr}")
    assert not found, "decide by the error's type (sweepdoctor.errors), not its message: " + "; ".join(found)


@pytest.mark.parametrize(
    "source",
    [
        # each of these once chose a status, an agent's next step or a CLI message
        'def f(g):\n    try:\n        g()\n    except StorageError as e:\n'
        '        return "no submitted sweep" not in str(e)\n',
        'def status(e: SweepdoctorError) -> int:\n    text = str(e)\n    return 404 if any(p in text for p in X) '
        'else 503\n',
        'def status(e: ConfigError) -> int:\n    return 409 if "already submitted" in str(e) else 400\n',
        'def f(g):\n    try:\n        g()\n    except StorageError as e:\n        which = str(e).partition("; ")[2]\n',
        'def f(g):\n    try:\n        g()\n    except OSError as e:\n        return e.args[0] == 2\n',
        'def f(g):\n    try:\n        g()\n    except ValueError as err:\n        return str(err).startswith("x")\n',
    ],
)
def test_the_check_sees_the_patterns_it_forbids(source: str) -> None:
    assert message_matches(source)


def test_the_check_leaves_type_decisions_and_other_strings_alone() -> None:
    source = (
        "def f(g, name: str):\n"
        "    try:\n"
        "        g()\n"
        "    except SweepNotFoundError:\n"
        "        return False\n"
        "    except StorageError as e:\n"
        "        log(str(e))\n"
        "    return 'x' in name and name.startswith('y')\n"
    )
    assert message_matches(source) == []
