"""The house's shape: short functions, few positional parameters, small package directories."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sweepdoctor"
MAX_LINES = 60  # a function a reader takes in at once
MAX_POSITIONAL = 6  # beyond that, keyword-only parameters or a small dataclass
MAX_MODULES = 12  # per package directory, __init__ not counted
# Directories allowed more: the search keeps one idea per module, as Optuna keeps each
# sampler and pruner in its own (the study, storage, sampler, pruner, reporter, suggest and
# the diagnosis pruner were one 440-line module; issue 21 split it).
MORE_MODULES = {"sweepdoctor/sweep/search": 20}


def _functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}", node))
    return found


def test_no_function_is_longer_than_a_screen() -> None:
    long = [f"{where} ({n.end_lineno - n.lineno + 1} lines)" for where, n in _functions()
            if (n.end_lineno or n.lineno) - n.lineno + 1 > MAX_LINES]
    assert not long, f"functions over {MAX_LINES} lines: {long}"


def test_no_function_takes_many_positional_parameters() -> None:
    many = []
    for where, n in _functions():
        positional = [a.arg for a in n.args.posonlyargs + n.args.args if a.arg not in ("self", "cls")]
        if len(positional) > MAX_POSITIONAL:
            many.append(f"{where} ({len(positional)})")
    assert not many, f"functions with over {MAX_POSITIONAL} positional parameters: {many}"


def test_no_package_directory_is_crowded() -> None:
    crowded = {}
    for init in PACKAGE.rglob("__init__.py"):
        modules = [p for p in init.parent.glob("*.py") if p.name != "__init__.py"]
        where = init.parent.relative_to(PACKAGE.parent).as_posix()
        if len(modules) > MORE_MODULES.get(where, MAX_MODULES):
            crowded[where] = len(modules)
    assert not crowded, f"package directories with over {MAX_MODULES} modules ({MORE_MODULES} excepted): {crowded}"
