"""Mutation testing (mutmut 3) of the modules whose tests must bite: ``make mutate``.

Each group mutates a few modules and runs only the tests that cover them. It works in a
scratch copy, ``build/mutate/<group>/`` (git-ignored), with its own ``[tool.mutmut]``
table, so the working tree never holds mutated source and the groups do not share state.

    python tools/mutate.py                 # every group
    python tools/mutate.py where service   # some groups
    python tools/mutate.py --list          # the groups, their modules and tests

For each group it prints the kill rate (killed / all mutants, "no tests" and timeouts
counted as not killed), the runtime and the surviving mutants; ``build/mutate/<group>/
mutants/`` keeps the results (``mutmut show NAME`` there shows a mutant's diff).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Group:
    modules: tuple[str, ...]  # files to mutate (globs, relative to the repository root)
    tests: tuple[str, ...]  # the tests that cover them
    functions: tuple[str, ...] = ()  # only mutants of these functions (mutmut name globs); () = all
    args: tuple[str, ...] = ()  # more pytest arguments (e.g. SQLite only: the servers' runs add time, not checks)


GROUPS: dict[str, Group] = {
    "where": Group(("sweepdoctor/studies/query/_where.py",),
                   ("tests/studies/test_where.py", "tests/studies/test_where_edges.py")),
    "diagnostics": Group(("sweepdoctor/diagnostics/*",), ("tests/diagnostics",)),
    "guide": Group(("sweepdoctor/sweep/guide/*",),
                   ("tests/sweep/test_guide.py", "tests/sweep/test_guide_holds.py")),
    "service": Group(
        ("sweepdoctor/service/_render.py", "sweepdoctor/service/_http.py"),
        ("tests/service/test_pages.py", "tests/service/test_api.py", "tests/service/test_escaping.py"),
        # _http.py: the auth part only (the token check); _render.py: all of it.
        ("sweepdoctor.service._render.*", "sweepdoctor.service._http.x_require_token*"),
        ("-k", "not postgres and not mysql"),
    ),
}


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def _prepare(name: str, group: Group) -> Path:
    """A fresh scratch copy of the package and the tests, with this group's mutmut table."""
    work = ROOT / "build" / "mutate" / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db", ".hypothesis")
    shutil.copytree(ROOT / "sweepdoctor", work / "sweepdoctor", ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    for extra in ("examples", ".importlinter"):
        src = ROOT / extra
        if src.is_dir():
            shutil.copytree(src, work / extra, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, work / extra)
    tests = [t for t in group.tests if (ROOT / t).exists()]
    table = (
        "\n[tool.mutmut]\n"
        f'source_paths = ["sweepdoctor"]\n'
        f"only_mutate = {_toml_list(list(group.modules))}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
        f'pytest_add_cli_args = {_toml_list(["-p", "no:xdist", "-p", "no:cacheprovider", "-q", *group.args])}\n'
        "use_git_change_detection = false\n"
    )
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text(encoding="utf-8") + table,
                                         encoding="utf-8")
    return work


def _results(work: Path, group: Group) -> dict[str, str]:
    """mutant name -> status (killed, survived, no tests, timeout, ...) of this group's mutants."""
    out = subprocess.run([str(BIN / "mutmut"), "results", "--all", "true"], cwd=work, capture_output=True,
                         text=True, check=True).stdout
    status = {}
    for line in out.splitlines():
        key, sep, value = line.strip().rpartition(": ")
        if sep and key:
            status[key] = value
    if group.functions:
        from fnmatch import fnmatch

        status = {k: v for k, v in status.items() if any(fnmatch(k, f) for f in group.functions)}
    return status


def run_group(name: str, group: Group, *, children: int) -> dict[str, str]:
    work = _prepare(name, group)
    start = time.monotonic()
    with open(work / "mutmut.log", "w", encoding="utf-8") as log:  # its progress spinner, kept out of the way
        subprocess.run([str(BIN / "mutmut"), "run", "--max-children", str(children), *group.functions], cwd=work,
                       stdout=log, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - start
    status = _results(work, group)
    killed = sum(1 for s in status.values() if s in ("killed", "caught by type check"))
    rate = killed / len(status) if status else float("nan")
    print(f"\n== {name}: {killed}/{len(status)} mutants killed ({rate:.1%}) in {seconds:.0f} s")
    for key, s in sorted(status.items()):
        if s not in ("killed", "caught by type check"):
            print(f"   {s:>9}  {key}")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"groups to run (default: all): {', '.join(GROUPS)}")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default: 2)")
    parser.add_argument("--list", action="store_true", help="list the groups and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, g in GROUPS.items():
            print(f"{name}: {' '.join(g.modules)}  <-  {' '.join(g.tests)}")
        return 0
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group {unknown[0]!r}; choose from {', '.join(GROUPS)}")
    for name in args.groups or list(GROUPS):
        run_group(name, GROUPS[name], children=args.children)
    return 0


if __name__ == "__main__":
    sys.exit(main())
