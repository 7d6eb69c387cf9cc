"""Mutation testing (mutmut 3) of the modules whose tests must bite: ``make mutate``.

Each group mutates a few modules and runs only the tests that cover them. It works in a
scratch copy, ``build/mutate/<group>/`` (git-ignored), with its own ``[tool.mutmut]``
table, so the working tree never holds mutated source and the groups do not share state.

    python tools/mutate.py                 # every group
    python tools/mutate.py where service   # some groups
    python tools/mutate.py --list          # the groups, their modules and tests

A large group can be run a part at a time (each part in its own scratch copy,
``build/mutate/<group>.<part>/``): ``--module`` mutates only the files that match (inside
the group's), ``--only`` keeps only the mutants whose names match (mutmut's names,
``sweepdoctor.pkg._mod.x_function__mutmut_3``), ``--tests`` runs other tests (e.g. the
few that cover the part):

    python tools/mutate.py diagnostics --module 'sweepdoctor/diagnostics/_grading.py' \
        --tests tests/diagnostics/test_trust.py
    python tools/mutate.py guide --only 'sweepdoctor.sweep.guide._plan.x_holds*'

For each group it prints the kill rate (killed / all mutants, "no tests" and timeouts
counted as not killed), the runtime and the surviving mutants; ``build/mutate/<group>/
mutants/`` keeps the results (``mutmut show NAME`` there shows a mutant's diff).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from fnmatch import fnmatch
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
                   ("tests/sweep/test_guide.py", "tests/sweep/test_guide_holds.py", "tests/sweep/test_guide_records.py",
                    "tests/sweep/test_guide_rules_exact.py", "tests/sweep/test_guide_probes.py",
                    "tests/sweep/test_suggest_rules.py")),
    "service": Group(
        ("sweepdoctor/service/_render.py", "sweepdoctor/service/_http.py"),
        ("tests/service/test_pages.py", "tests/service/test_api.py", "tests/service/test_escaping.py",
         "tests/service/test_trial_page.py", "tests/service/test_render_parts.py"),
        # _http.py: the auth part only (the token check); _render.py: all of it.
        ("sweepdoctor.service._render.*", "sweepdoctor.service._http.x_require_token*"),
        ("-k", "not postgres and not mysql"),
    ),
}


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def narrowed(name: str, group: Group, *, modules: list[str], only: list[str], tests: list[str]) -> tuple[str, Group]:
    """The part of ``group`` that ``--module``/``--only``/``--tests`` pick, and its scratch name.

    Raises ``ValueError`` when a module glob names no file of the group."""
    if not (modules or only or tests):
        return name, group
    for m in modules:  # a group's globs match as mutmut's do: ``*`` spans ``/`` (sub-packages included)
        files = [str(f.relative_to(ROOT)) for f in ROOT.glob(m) if f.is_file()]
        if not any(fnmatch(f, g) for f in files for g in group.modules):
            raise ValueError(f"--module {m!r} matches no file of group {name!r} ({', '.join(group.modules)})")
    picked = replace(group, modules=tuple(modules) or group.modules, tests=tuple(tests) or group.tests,
                     functions=tuple(only) or group.functions)
    globs = only if len(only) <= 1 else [f"{len(only)}-globs"]
    # each module by its path under the package (``hessian/_report.py`` and ``_report.py`` get two scratch copies)
    parts = [*("_".join(p.lstrip("_") for p in Path(m).with_suffix("").parts[2:]) for m in modules), *globs]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", "_".join(parts) or "tests").strip("_")
    return f"{name}.{slug[-60:]}", picked


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
    parser.add_argument("--module", action="append", default=[], metavar="GLOB",
                        help="mutate only these files of the group (repeatable)")
    parser.add_argument("--only", action="append", default=[], metavar="GLOB",
                        help="only the mutants whose names match (repeatable; replaces the group's own filter)")
    parser.add_argument("--tests", action="append", default=[], metavar="PATH",
                        help="run these tests instead of the group's (repeatable)")
    args = parser.parse_args(argv)
    if args.list:
        for name, g in GROUPS.items():
            print(f"{name}: {' '.join(g.modules)}  <-  {' '.join(g.tests)}")
        return 0
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group {unknown[0]!r}; choose from {', '.join(GROUPS)}")
    chosen = args.groups or list(GROUPS)
    if (args.module or args.only or args.tests) and len(chosen) != 1:
        parser.error("--module, --only and --tests narrow one group: name it")
    for name in chosen:
        try:
            part, group = narrowed(name, GROUPS[name], modules=args.module, only=args.only, tests=args.tests)
        except ValueError as e:
            parser.error(str(e))
        run_group(part, group, children=args.children)
    return 0


if __name__ == "__main__":
    sys.exit(main())
