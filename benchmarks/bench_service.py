"""Load on loopback against ``sweepdoctor serve``: latency and throughput, with and without two agents.

Builds (once, cached under ``bench-results/``, shared with ``bench_queries``) the SQLite
database of a large study, copies it to a scratch file, starts ``sweepdoctor serve`` on
a free port and, for a bounded time per phase, has ``--clients`` threads (one keep-alive
connection each) ask for

- ``/api/studies/bench-main/trials?where=optimizer=adam&where=lr>=1e-3&state=complete&sort=value&limit=20``
- ``/studies/bench-main`` (the study page: summary, best trial, findings, both plots' data,
  the first 50 trials),
- ``/api/studies`` (the list of studies),

then (unless ``--no-agents``) submits a sweep through the API, starts two ``sweepdoctor agent`` processes on the
same database and measures again while they train. Prints p50 and p99 latency,
requests per second and the server's CPU time per request of each (path, phase), and the
machine's load average (latency on a shared machine follows it; CPU per request much less).

``python -m benchmarks.bench_service --trials 20000 --seconds 5`` is a quicker run.
``--storage URL`` measures on a PostgreSQL or MySQL database instead (built there on first use, when it
holds no ``bench-main`` study; kept between runs; each run's agents train a study of their own).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks._side_by_side import dashboard_figures, drawn_seconds, free_port, rss_mib

RESULTS = Path("bench-results")
TRIALS_PATH = ("/api/studies/bench-main/trials?where=optimizer%3Dadam&where=lr%3E%3D1e-3&state=complete"
               "&sort=value&limit=20")
PAGE_PATH = "/studies/bench-main"
LIST_PATH = "/api/studies"
TOKEN = "bench-token"
AGENT_SWEEP = {
    "data": {"dataset": "digits"},
    "train": {"folds": 3, "epochs": 10, "baselines": False, "threads": 1},
    "study": {"name": "bench-agents", "trials": 10_000, "pruner": "none", "sampler": "random"},
}


def _server_database(url: str, n_trials: int) -> str:
    """``url`` holding the benchmark's studies: built there (an empty database) when it has no ``bench-main``."""
    from sqlalchemy import create_engine, inspect, text

    from benchmarks.bench_queries import build

    engine = create_engine(url)
    with engine.connect() as c:
        built = inspect(c).has_table("studies") and c.execute(
            text("SELECT 1 FROM studies WHERE study_name = 'bench-main'")).first() is not None
    engine.dispose()
    if not built:
        t = time.perf_counter()
        build(url, n_trials)
        print(f"built the study in {url.split('@')[-1]} in {time.perf_counter() - t:.1f} s")
    return url


def _database(n_trials: int) -> Path:
    from benchmarks.bench_queries import build

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"queries-{n_trials}-v1.db"
    if not path.exists():
        t = time.perf_counter()
        tmp = path.with_suffix(".building")
        tmp.unlink(missing_ok=True)
        build(tmp, n_trials)
        tmp.rename(path)
        print(f"built {path} in {time.perf_counter() - t:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")
    scratch = RESULTS / f"service-{n_trials}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    shutil.copy(path, scratch)
    return scratch


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sweepdoctor", *args]


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r.status, r.read()


def _wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"bench_service: the server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            if _request(conn, "GET", "/api/studies")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("bench_service: the server did not answer")


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used by process ``pid`` and its children (``--workers``) while alive;
    NaN where ``/proc`` is not there."""
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # a process that ended meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            found = True
    return total if found else math.nan


def _load(port: int, path: str, *, clients: int, seconds: float, server: int) -> dict[str, float]:
    """``clients`` threads ask for ``path`` back to back for ``seconds``; latencies of the 2xx answers and
    the server's CPU time per answer (which, unlike latency, does not grow with the machine's load)."""
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine: list[float] = []
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            status, _body = _request(conn, "GET", path)
            if status != 200:
                errors.append(status)
                continue
            mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)

    t0, cpu0 = time.perf_counter(), _cpu_seconds(server)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall, cpu = time.perf_counter() - t0, _cpu_seconds(server) - cpu0
    if errors or len(latencies) < 2:
        raise SystemExit(f"bench_service: {path} answered {errors[:5]} ({len(errors)} errors)")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"n": len(latencies), "p50_ms": 1e3 * q[49], "p99_ms": 1e3 * q[98], "rps": len(latencies) / wall,
            "server_cpu_ms": 1e3 * cpu / len(latencies)}


def _start_agents(port: int, url: str) -> list[subprocess.Popen[bytes]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    name = f"bench-agents-{time.strftime('%Y%m%d-%H%M%S')}"  # a kept database already has the earlier runs'
    sweep = {**AGENT_SWEEP, "study": {**AGENT_SWEEP["study"], "name": name}}
    status, body = _request(conn, "POST", "/api/sweeps", json.dumps(sweep).encode(),
                            {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    if status != 201:
        raise SystemExit(f"bench_service: submitting the agents' sweep answered {status}: {body[:200]!r}")
    env = {**os.environ, "SWEEPDOCTOR_OVERLAP_EVAL": "0"}
    agents = [subprocess.Popen(_cli("agent", "--storage", url, "--sweep", name, "--poll", "0.5"), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    for _ in range(1200):  # until both agents train (a trial of theirs is running)
        _status, body = _request(conn, "GET", f"/api/studies/{name}/trials?state=running&limit=5")
        if _status == 200 and json.loads(body)["matched"] >= 2:
            return agents
        time.sleep(0.25)
    raise SystemExit("bench_service: the agents did not start training")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench_service", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--trials", type=int, default=100_000, help="trials in the main study (default 100000)")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of load per path and phase (default 10)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent keep-alive clients (default 4)")
    ap.add_argument("--no-agents", action="store_true", help="measure idle only (no agents training)")
    ap.add_argument("--workers", type=int, default=1, help="server processes (serve --workers; default 1)")
    ap.add_argument("--no-browser", action="store_true", help="skip drawing the study page in Chromium")
    ap.add_argument("--no-dashboard", action="store_true",
                    help="skip optuna-dashboard on the same database (run when it is installed; SQLite only)")
    ap.add_argument("--storage", metavar="URL", help="a PostgreSQL or MySQL database to measure on instead of "
                    "a scratch copy of the SQLite one (built there when it holds no bench-main study)")
    args = ap.parse_args(argv)
    url = (_server_database(args.storage, args.trials) if args.storage
           else f"sqlite:///{_database(args.trials).resolve()}")
    port = free_port()
    server = subprocess.Popen(_cli("serve", "--storage", url, "--port", str(port), "--token", TOKEN,
                                   "--workers", str(args.workers)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [server]
    results: dict[str, Any] = {}
    try:
        _wait_up(port, server)
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for path in (TRIALS_PATH, PAGE_PATH):  # warm: caches, the first page's diagnosis
            t = time.perf_counter()
            _request(warm, "GET", path)
            print(f"first {path.split('?')[0]}: {time.perf_counter() - t:.2f} s")
        if not args.no_browser:  # drawn in a browser: the value plot's points are on the page
            results["drawn"] = {"page_drawn_s": drawn_seconds(f"http://127.0.0.1:{port}{PAGE_PATH}",
                                                              "#plot-values .scatterlayer path.point"),
                                "rss_mib": rss_mib(server.pid)}
        for phase in ("idle",) if args.no_agents else ("idle", "two agents"):
            if phase == "two agents":
                procs += _start_agents(port, url)
            for label, path in (("studies", LIST_PATH), ("trials?where", TRIALS_PATH), ("study page", PAGE_PATH)):
                results[f"{label} / {phase}"] = _load(port, path, clients=args.clients, seconds=args.seconds,
                                                      server=server.pid)
    finally:
        _stop(procs[1:])
        _stop(procs[:1])
    backend = url.split(":", 1)[0].split("+")[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.trials:,} trials in bench-main, {backend}, {args.clients} clients on loopback, "
          f"{args.workers} server process{'es' if args.workers > 1 else ''}, "
          f"{args.seconds:.0f} s per row, {os.cpu_count()} cores, load average {load} at the end")
    print(f"{'path / phase':<34}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}{'server CPU ms':>14}")
    drawn = results.pop("drawn", None)
    for key, r in results.items():
        print(f"{key:<34}{r['n']:>9}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['rps']:>8.1f}{r['server_cpu_ms']:>14.1f}")
    if drawn is not None:
        results["drawn"] = drawn
    if not args.no_dashboard and not args.storage:
        results["optuna-dashboard"] = _side_by_side(url, args, ours=results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "service.json").write_text(json.dumps({"trials": args.trials, "clients": args.clients,
                                                      "seconds": args.seconds, "storage": backend,
                                                      "load_average": os.getloadavg(), "results": results},
                                                     indent=1))


def _side_by_side(url: str, args: argparse.Namespace, *, ours: dict[str, Any]) -> dict[str, Any] | None:
    """optuna-dashboard on the same file, after ours, one client: printed beside our figures (ours as measured,
    with ``--clients``)."""
    import optuna

    db = Path(url.removeprefix("sqlite:///"))
    study_id = optuna.storages.RDBStorage(url).get_study_id_from_name("bench-main")
    theirs = dashboard_figures(db, study_id, seconds=min(args.seconds, 5.0))
    if theirs is None:
        print("optuna-dashboard is not installed: no side-by-side figures")
        return None
    ours_list = ours.get("studies / idle", {})
    drawn = ours.get("drawn") or {}
    trials = theirs.get("trials") or {}

    def secs(v: float | None) -> str:
        return "not drawn" if v is None else f"{v:.2f} s"

    clients = f"{args.clients} client{'s' if args.clients > 1 else ''}"
    print(f"\nside by side ({args.trials:,} trials; ours: {clients}, {args.workers} server process"
          f"{'es' if args.workers > 1 else ''}; optuna-dashboard {theirs.get('version')}: one client, one process):")
    their_list = theirs.get("list", {})
    print(f"  list of studies p50/p99: ours {ours_list.get('p50_ms', math.nan):.1f}/"
          f"{ours_list.get('p99_ms', math.nan):.1f} ms, optuna-dashboard "
          f"{their_list.get('p50_ms', math.nan):.1f}/{their_list.get('p99_ms', math.nan):.1f} ms")
    their_trials = ("timed out" if trials.get("seconds") is None
                    else f"{trials['seconds']:.1f} s ({trials.get('bytes', 0) / 2**20:.0f} MiB, the whole study)")
    print(f"  a study's trials: ours a filtered page of 20 at p50 "
          f"{ours.get('trials?where / idle', {}).get('p50_ms', math.nan):.1f} ms; optuna-dashboard {their_trials}")
    print(f"  study page drawn in Chromium: ours {secs(drawn.get('page_drawn_s'))}, "
          f"optuna-dashboard {secs(theirs.get('page_drawn_s'))}")
    print(f"  server RSS after the page: ours {drawn.get('rss_mib') or math.nan:.0f} MiB, "
          f"optuna-dashboard {theirs.get('rss_mib') or math.nan:.0f} MiB")
    return theirs


if __name__ == "__main__":
    main(sys.argv[1:])
