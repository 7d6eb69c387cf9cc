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
same database and measures again while they train. Prints p50 and p99 latency and
requests per second of each (path, phase).

``python -m benchmarks.bench_service --trials 20000 --seconds 5`` is a quicker run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def _load(port: int, path: str, *, clients: int, seconds: float) -> dict[str, float]:
    """``clients`` threads ask for ``path`` back to back for ``seconds``; latencies of the 2xx answers."""
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

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    if errors or len(latencies) < 2:
        raise SystemExit(f"bench_service: {path} answered {errors[:5]} ({len(errors)} errors)")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"n": len(latencies), "p50_ms": 1e3 * q[49], "p99_ms": 1e3 * q[98], "rps": len(latencies) / wall}


def _start_agents(port: int, url: str) -> list[subprocess.Popen[bytes]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    status, body = _request(conn, "POST", "/api/sweeps", json.dumps(AGENT_SWEEP).encode(),
                            {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    if status != 201:
        raise SystemExit(f"bench_service: submitting the agents' sweep answered {status}: {body[:200]!r}")
    env = {**os.environ, "SWEEPDOCTOR_OVERLAP_EVAL": "0"}
    agents = [subprocess.Popen(_cli("agent", "--storage", url, "--sweep", "bench-agents", "--poll", "0.5"), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    for _ in range(1200):  # until both agents train (a trial of theirs is running)
        _status, body = _request(conn, "GET", "/api/studies/bench-agents/trials?state=running&limit=5")
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
    args = ap.parse_args(argv)
    db = _database(args.trials)
    url = f"sqlite:///{db.resolve()}"
    port = _free_port()
    server = subprocess.Popen(_cli("serve", "--storage", url, "--port", str(port), "--token", TOKEN),
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
        for phase in ("idle",) if args.no_agents else ("idle", "two agents"):
            if phase == "two agents":
                procs += _start_agents(port, url)
            for label, path in (("studies", LIST_PATH), ("trials?where", TRIALS_PATH), ("study page", PAGE_PATH)):
                results[f"{label} / {phase}"] = _load(port, path, clients=args.clients, seconds=args.seconds)
    finally:
        _stop(procs[1:])
        _stop(procs[:1])
    print(f"{args.trials:,} trials in bench-main, SQLite, {args.clients} clients on loopback, "
          f"{args.seconds:.0f} s per row, {os.cpu_count()} cores")
    print(f"{'path / phase':<34}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}")
    for key, r in results.items():
        print(f"{key:<34}{r['n']:>9}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['rps']:>8.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "service.json").write_text(json.dumps({"trials": args.trials, "clients": args.clients,
                                                      "seconds": args.seconds, "results": results}, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
