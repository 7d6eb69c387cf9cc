"""Run every benchmark module (``python -m benchmarks [name ...]``).

Each ``benchmarks/bench_*.py`` defines ``main(argv: list[str]) -> None`` that prints its
figures as ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    wanted = set(sys.argv[1:])
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if wanted:
        unknown = wanted - {n.removeprefix("bench_") for n in names} - set(names)
        if unknown:
            sys.exit(f"unknown benchmark(s) {sorted(unknown)}; available: {[n.removeprefix('bench_') for n in names]}")
        names = [n for n in names if n in wanted or n.removeprefix("bench_") in wanted]
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        importlib.import_module(f"benchmarks.{name}").main([])


if __name__ == "__main__":
    main()
