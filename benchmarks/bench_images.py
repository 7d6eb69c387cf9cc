"""Image sweeps: the command a user runs against the CNN script a user writes (issue 20's "Measured").

Data sets, each written to an ``.npz`` (arrays ``X`` (N, C, H, W) float32 and ``y``):

- ``digits``: scikit-learn's digits as 1x8x8 images (pixels / 16);
- ``shapes``: a generated, deterministic task (:func:`make_shapes`): 10 classes of noisy
  shapes (squares, outlines, disks, rings, plus and cross signs, shallow and steep lines,
  triangles up and down) at random positions, sizes and intensities, 1x28x28.

For each data set and seed both sides run as fresh processes, one after the other (who
goes first rotates per seed), with ``OMP_NUM_THREADS=MKL_NUM_THREADS=1``:

- ``ours``: ``sweepdoctor sweep --npz F --trials T --folds K --epochs E --seed S --json``
  (the default command: the built-in CNN, folds in lockstep, median pruning, reference
  baselines, the measuring helper) on a fresh SQLite file;
- ``handwritten``: ``python -m benchmarks.baseline_handwritten_cnn F`` (Optuna TPE + a
  plain torch CNN loop, the same space, fold after fold, one torch thread).

Each side runs under a small measuring process of its own (:func:`measure_child`), so that
its figures are its own: wall time of the command; CPU seconds (user + system) of the
command and of every process it started, helpers included (``getrusage(RUSAGE_CHILDREN)``;
the measuring process is a child subreaper, so that a helper left behind is still waited
for and counted); peak RSS of its largest process (``ru_maxrss``); and the peak of the
sampled total PSS of all its processes (``/proc/*/smaps_rollup`` every 0.2 s: shared pages
counted once). Ratios are handwritten / ours: wall, and per core (CPU). Best: the best mean
CV accuracy each side found.

``--memory``: instead, a 50,000 x 3 x 32 x 32 float32 random image set (~600 MB, 10
classes) that our command sweeps with 1 trial x 1 epoch x 5 folds; prints its peak RSS
against the size of the data (issue 20's goal: under 2x the data plus the models).

``python -m benchmarks.bench_images [--datasets digits,shapes] [--seeds 1] [--trials 30] [--epochs 10]``
The full default is long on a 2-core machine (the hand-written script trains 1,500
fold-epochs of the CNN per data set on one thread: hours on ``shapes``); try
``--datasets digits --trials 4 --epochs 3`` first.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path("bench-results")
SIDES = ("handwritten", "ours")
DATASETS = ("digits", "shapes")
SHAPES = ("square", "square outline", "disk", "ring", "plus", "cross", "shallow line", "steep line",
          "triangle up", "triangle down")
PR_SET_CHILD_SUBREAPER = 36
SAMPLE_EVERY_S = 0.2


# --- data ---------------------------------------------------------------------------------------


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as 1x8x8 float32 images in [0, 1]."""
    import numpy as np
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data.reshape(-1, 1, 8, 8) / 16).astype(np.float32), d.target.astype(np.int64)


def _shape_masks(kind: int, dx: np.ndarray, dy: np.ndarray, r: np.ndarray, t: np.ndarray,
                 angle: np.ndarray) -> np.ndarray:
    """Where shape ``kind`` (an index of :data:`SHAPES`) covers the pixels at offsets ``dx, dy``."""
    import numpy as np

    box, dist = np.maximum(abs(dx), abs(dy)), np.hypot(dx, dy)
    u, v = (dx + dy) / np.sqrt(2), (dx - dy) / np.sqrt(2)
    along = dx * np.cos(angle) + dy * np.sin(angle)
    across = -dx * np.sin(angle) + dy * np.cos(angle)
    half = t / 2
    masks = {
        0: lambda: box <= 0.8 * r,
        1: lambda: abs(box - 0.8 * r) <= half,
        2: lambda: dist <= r,
        3: lambda: abs(dist - r) <= half,
        4: lambda: ((abs(dx) <= half) & (abs(dy) <= r)) | ((abs(dy) <= half) & (abs(dx) <= r)),
        5: lambda: ((abs(u) <= half) & (abs(v) <= r)) | ((abs(v) <= half) & (abs(u) <= r)),
        6: lambda: (abs(across) <= half) & (abs(along) <= r),  # angle within 30 degrees of horizontal
        7: lambda: (abs(across) <= half) & (abs(along) <= r),  # angle within 30 degrees of vertical
        8: lambda: (abs(dy) <= r) & (abs(dx) <= (dy + r) / 2),
        9: lambda: (abs(dy) <= r) & (abs(dx) <= (r - dy) / 2),
    }
    return masks[kind]()


def make_shapes(n: int, *, seed: int = 0, size: int = 28, noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy 1 x size x size images of the 10 :data:`SHAPES` (balanced, shuffled), and their labels.

    Each shape has a random centre, radius (size/7 to size/2.8), stroke width (1.5 to 3 px),
    intensity (0.6 to 1) and angle (lines); the image adds a random background level and
    Gaussian noise of ``noise``. The same ``seed`` gives the same arrays.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(SHAPES)).astype(np.int64)
    r = rng.uniform(size / 7, size / 2.8, n)
    cx = rng.uniform(r + 1, size - 2 - r)
    cy = rng.uniform(r + 1, size - 2 - r)
    t = rng.uniform(1.5, 3.0, n)
    level = rng.uniform(0.6, 1.0, n)
    angle = rng.uniform(-np.pi / 6, np.pi / 6, n) + np.where(y == 7, np.pi / 2, 0.0)
    background = rng.uniform(0.0, 0.2, n)
    X = rng.normal(0.0, noise, (n, 1, size, size)).astype(np.float32)
    grid = np.arange(size, dtype=np.float64)
    for kind in range(len(SHAPES)):
        i = np.flatnonzero(y == kind)
        col = (lambda a: a[i, None, None])  # noqa: E731 - per-image parameters against the pixel grid
        mask = _shape_masks(kind, grid[None, None, :] - col(cx), grid[None, :, None] - col(cy), col(r), col(t),
                            col(angle))
        X[i, 0] += (mask * col(level) + col(background)).astype(np.float32)
    return X, y


def random_images(n: int = 50_000, *, seed: int = 0, shape: tuple[int, ...] = (3, 32, 32),
                  classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 images of Gaussian noise and random labels: the memory check's data."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = np.empty((n, *shape), dtype=np.float32)
    rng.standard_normal(out=X.reshape(n, -1), dtype=np.float32)
    return X, rng.integers(0, classes, n).astype(np.int64)


def write_npz(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    import numpy as np

    np.savez(path, X=X, y=y)
    return path


def dataset_npz(name: str, tmp: Path, *, n_images: int) -> Path:
    if name == "digits":
        return write_npz(tmp / "digits.npz", *digits_images())
    return write_npz(tmp / f"shapes-{n_images}.npz", *make_shapes(n_images, seed=0))


# --- measuring one command ------------------------------------------------------------------------


def _descendants(root: int) -> list[int]:
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        found += kids
        frontier = kids
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass  # the process ended between the listing and the read: it holds nothing now
    return 0


def _sample_pss(stop: threading.Event, peak: list[int]) -> None:
    me = os.getpid()
    while not stop.wait(SAMPLE_EVERY_S):
        peak[0] = max(peak[0], sum(_pss_kb(p) for p in _descendants(me)))


def _reap_orphans(deadline_s: float) -> int:
    """Wait for the processes the command left behind (reparented to us); how many still run after the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid == 0:
            if time.monotonic() > end:
                return len(_descendants(os.getpid()))
            time.sleep(0.05)


def measure_child(out_path: str, cmd: list[str]) -> None:
    """Run ``cmd`` (stdout and stderr passed through) and write its figures as JSON to ``out_path``.

    Runs in a fresh, small process (``python -c``), so that ``RUSAGE_CHILDREN`` holds only
    the command and the processes it started.
    """
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=_sample_pss, args=(stop, peak), daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    rc = subprocess.run(cmd).returncode
    wall = time.perf_counter() - t0
    left = _reap_orphans(60.0)
    stop.set()
    sampler.join()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    Path(out_path).write_text(json.dumps({
        "returncode": rc, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "maxrss_mb": ru.ru_maxrss / 1024,
        "peak_pss_mb": peak[0] / 1024, "left_running": left,
    }))


@dataclass(frozen=True)
class Measured:
    wall: float
    cpu: float
    maxrss_mb: float
    peak_pss_mb: float
    output: dict[str, Any]


def measured(cmd: list[str], tmp: Path) -> Measured:
    """Run ``cmd`` as a fresh process under :func:`measure_child`, one torch/OpenMP/MKL thread."""
    out = tmp / "measured.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    runner = "import sys; from benchmarks.bench_images import measure_child; measure_child(sys.argv[1], sys.argv[2:])"
    proc = subprocess.run([sys.executable, "-c", runner, str(out), *cmd], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    figures = json.loads(out.read_text())
    if figures["returncode"]:
        raise SystemExit(f"bench_images: {' '.join(cmd)} exited {figures['returncode']}:\n{proc.stderr[-3000:]}")
    if figures["left_running"]:
        print(f"bench_images: {figures['left_running']} process(es) of {cmd[0]} still ran 60 s after it ended; "
              "their CPU time is not counted", file=sys.stderr)
    return Measured(figures["wall"], figures["cpu"], figures["maxrss_mb"], figures["peak_pss_mb"],
                    _json_output(proc.stdout))


def _json_output(stdout: str) -> dict[str, Any]:
    text = stdout.strip()
    if not text:
        return {}
    try:
        return json.loads(text)  # type: ignore[no-any-return]  # our --json: one indented document
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[-1])  # type: ignore[no-any-return]  # the script: one line at the end


# --- the comparison ------------------------------------------------------------------------------


@dataclass
class Side:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    best: list[float] = field(default_factory=list)
    maxrss_mb: list[float] = field(default_factory=list)
    peak_pss_mb: list[float] = field(default_factory=list)


def _sweepdoctor() -> list[str]:
    script = Path(sys.executable).parent / "sweepdoctor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sweepdoctor"]


def command(side: str, npz: Path, args: argparse.Namespace, *, seed: int, db: Path) -> list[str]:
    common = ["--trials", str(args.trials), "--folds", str(args.folds), "--epochs", str(args.epochs),
              "--seed", str(seed), "--device", args.device]
    if side == "handwritten":
        return [sys.executable, "-m", "benchmarks.baseline_handwritten_cnn", str(npz), *common]
    return [*_sweepdoctor(), "sweep", "--npz", str(npz), *common, "--study", db.stem,
            "--storage", f"sqlite:///{db}", "--json"]


def bench_dataset(name: str, args: argparse.Namespace, tmp: Path, log: Any) -> dict[str, Side]:
    npz = dataset_npz(name, tmp, n_images=args.n_images)
    sides = {s: Side() for s in SIDES}
    for seed in range(args.seeds):
        for side in SIDES[seed % 2:] + SIDES[: seed % 2]:
            m = measured(command(side, npz, args, seed=seed, db=tmp / f"{name}-{seed}.db"), tmp)
            best = float(m.output["best_value"])
            s = sides[side]
            for key, value in (("wall", m.wall), ("cpu", m.cpu), ("best", best), ("maxrss_mb", m.maxrss_mb),
                               ("peak_pss_mb", m.peak_pss_mb)):
                getattr(s, key).append(value)
            print(f"  {name:<8} seed {seed} {side:<12} {m.wall:7.1f} s wall {m.cpu:7.1f} s cpu  best {best:.4f}  "
                  f"peak RSS {m.maxrss_mb:6.0f} MB (all processes {m.peak_pss_mb:6.0f} MB PSS)", file=log, flush=True)
    return sides


def ratios(sides: dict[str, Side]) -> dict[str, float]:
    hand, ours = sides["handwritten"], sides["ours"]
    m = statistics.fmean
    return {"wall": m(hand.wall) / m(ours.wall), "per_core": m(hand.cpu) / m(ours.cpu),
            "best_difference": m(ours.best) - m(hand.best)}


def table(name: str, sides: dict[str, Side]) -> list[str]:
    m = statistics.fmean
    lines = [f"{name:<8} {side:<12} {m(s.wall):7.1f} s wall {m(s.cpu):7.1f} s cpu  best {m(s.best):.4f}  "
             f"peak RSS {m(s.maxrss_mb):6.0f} MB (all processes {m(s.peak_pss_mb):6.0f} MB PSS)"
             for side, s in sides.items()]
    r = ratios(sides)
    per_seed = " ".join(f"{h / o:.2f}" for h, o in zip(sides["handwritten"].wall, sides["ours"].wall))
    lines.append(f"{name:<8} ratio        wall x{r['wall']:.2f} [{per_seed}]  per core (cpu) x{r['per_core']:.2f}  "
                 f"best ours - script {r['best_difference']:+.4f}  (goal: >= x3 wall, >= x2.5 per core, within 0.005)")
    return lines


# --- memory --------------------------------------------------------------------------------------


def model_mb(sample_shape: tuple[int, ...], *, folds: int, n_out: int = 10) -> float:
    """The k fold models' weights, gradients and two optimizer moments (Adam), in MB."""
    from benchmarks.baseline_handwritten_cnn import build_cnn_by_hand

    n = sum(p.numel() for p in build_cnn_by_hand(sample_shape, n_out, 0.0).parameters())
    return folds * n * 4 * 4 / 2**20


def bench_memory(args: argparse.Namespace, tmp: Path, log: Any) -> tuple[dict[str, float], list[str]]:
    """Our command on ~600 MB of images, 1 trial x 1 epoch x 5 folds: its peak RSS against the data."""
    X, y = random_images(args.memory_images, seed=0)
    data_mb, shape = X.nbytes / 2**20, tuple(X.shape[1:])
    npz = write_npz(tmp / "memory.npz", X, y)
    del X, y
    print(f"  memory: {data_mb:.0f} MB of images written; sweeping ...", file=log, flush=True)
    base = measured([sys.executable, "-c", "import torch, optuna, sklearn, sqlalchemy, sweepdoctor.cli"], tmp)
    opts = argparse.Namespace(trials=1, epochs=1, folds=5, device=args.device)
    m = measured(command("ours", npz, opts, seed=0, db=tmp / "memory.db"), tmp)
    models = model_mb(shape, folds=5)
    goal, goal_imports = 2 * data_mb + models, 2 * data_mb + models + base.maxrss_mb
    fig = {"data_mb": data_mb, "models_mb": models, "imports_rss_mb": base.maxrss_mb, "peak_rss_mb": m.maxrss_mb,
           "peak_pss_all_mb": m.peak_pss_mb, "wall": m.wall, "cpu": m.cpu, "rss_over_data": m.maxrss_mb / data_mb,
           "goal_mb": goal, "goal_with_imports_mb": goal_imports}
    met = {True: "met", False: "NOT met"}
    lines = [
        f"memory   {args.memory_images:,} x {' x '.join(map(str, shape))} float32: data {data_mb:.0f} MB, "
        f"5 fold models (+grads, Adam) {models:.0f} MB; interpreter + imports alone {base.maxrss_mb:.0f} MB",
        f"memory   peak RSS of our largest process {m.maxrss_mb:.0f} MB = {m.maxrss_mb / data_mb:.2f} x data; "
        f"{(m.maxrss_mb - base.maxrss_mb) / data_mb:.2f} x data above the imports",
        f"memory   goal < 2 x data + models = {goal:.0f} MB: {met[m.maxrss_mb < goal]}; "
        f"+ the imports = {goal_imports:.0f} MB: {met[m.maxrss_mb < goal_imports]}",
        f"memory   all processes (sampled PSS) {m.peak_pss_mb:.0f} MB = {m.peak_pss_mb / data_mb:.2f} x data; "
        f"{m.wall:.1f} s wall {m.cpu:.1f} s cpu",
    ]
    return fig, lines


# --- command line --------------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench_images", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["digits,shapes"],
                    help="digits, shapes (comma- or space-separated)")
    ap.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 [1]")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--n-images", type=int, default=12_000, help="images of the shapes task [12000]")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--memory", action="store_true", help="only the memory check (50,000 x 3 x 32 x 32 images)")
    ap.add_argument("--memory-images", type=int, default=50_000, help="images of the memory check [50000]")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = ap.parse_args(argv)
    args.datasets = [d for part in args.datasets for d in part.split(",") if d]
    unknown = sorted(set(args.datasets) - set(DATASETS))
    if unknown:
        ap.error(f"--datasets: unknown {unknown}; choose from {', '.join(DATASETS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    log = sys.stderr if args.json else sys.stdout
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    doc: dict[str, Any] = {"settings": vars(args), "cores": cores}
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        if args.memory:
            doc["memory"], lines = bench_memory(args, Path(tmp), log)
        else:
            print(f"bench_images: {args.trials} trials x {args.epochs} epochs x {args.folds} folds, {args.seeds} "
                  f"seed(s), {cores} cores, {args.device}; ratio = handwritten / ours", file=log, flush=True)
            doc["cells"], doc["ratios"] = {}, {}
            for name in args.datasets:
                sides = bench_dataset(name, args, Path(tmp), log)
                doc["cells"][name] = {k: vars(v) for k, v in sides.items()}
                doc["ratios"][name] = ratios(sides)
                lines += table(name, sides)
    doc["lines"] = lines
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"images-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(doc, indent=2))
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print("\n" + "\n".join(lines) + f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
