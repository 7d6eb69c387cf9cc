"""What ``bench_service`` measures beside its load test: a page drawn in Chromium, and optuna-dashboard.

- :func:`drawn_seconds`: the time from navigation until a page has drawn what a person came
  for (a CSS selector, e.g. the points of the value plot), in Debian's headless chromium driven by
  playwright; ``None`` when not drawn within the timeout.
- :func:`dashboard_figures`: optuna-dashboard (when installed) on the same database, one
  process, loopback: its list of studies (p50/p99 over a few seconds), one study's trials as
  its pages fetch them (``/api/studies/{id}?after=0``: the whole study in one answer), the
  study page drawn in Chromium, and the server's RSS after the page.

Both sides are asked the same questions in the same process, one after the other, so the
ratios do not depend on the machine's load as much as the absolute times.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux), ``None`` when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def drawn_seconds(url: str, selector: str, *, timeout_s: float = 120.0) -> float | None:
    """Seconds until ``selector`` is on the page at ``url`` (chromium, headless); None if not within the timeout."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(CHROMIUM).exists():
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            t0 = time.perf_counter()
            page.goto(url, timeout=timeout_s * 1000, wait_until="commit")
            page.wait_for_selector(selector, timeout=max(1.0, timeout_s - (time.perf_counter() - t0)) * 1000)
            return time.perf_counter() - t0
        except PlaywrightError:  # a timeout, or the server gave up
            return None
        finally:
            browser.close()


def _get(port: int, path: str, timeout_s: float) -> tuple[int, int, float]:
    """Status, body bytes and seconds of one GET on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    t0 = time.perf_counter()
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        return r.status, len(body), time.perf_counter() - t0
    finally:
        conn.close()


def _latencies(port: int, path: str, seconds: float) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times: list[float] = []
    end = time.perf_counter() + seconds
    try:
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            conn.request("GET", path)
            conn.getresponse().read()
            times.append(time.perf_counter() - t0)
    finally:
        conn.close()
    times.sort()
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    return {"p50_ms": 1000 * statistics.median(times), "p99_ms": 1000 * p99, "n": len(times)}


def _wait_up(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> bool:
    end = time.perf_counter() + timeout_s
    while time.perf_counter() < end and proc.poll() is None:
        try:
            if _get(port, "/api/studies", 5)[0] == 200:
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _dashboard_exe() -> str | None:
    found = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    return found or shutil.which("optuna-dashboard")


def dashboard_figures(db: Path, study_id: int, *, seconds: float, timeout_s: float = 180.0) -> dict[str, Any] | None:
    """optuna-dashboard's figures on ``db`` (see the module's doc); ``None`` when it is not installed."""
    exe = _dashboard_exe()
    if exe is None:
        return None
    port = free_port()
    proc = subprocess.Popen([exe, f"sqlite:///{db}", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ},
                            start_new_session=True)
    out: dict[str, Any] = {"version": _version()}
    try:
        if not _wait_up(port, proc):
            return {**out, "error": "did not start"}
        out["list"] = _latencies(port, "/api/studies", seconds)
        try:
            status, size, secs = _get(port, f"/api/studies/{study_id}?after=0", timeout_s)
            out["trials"] = {"status": status, "seconds": secs, "bytes": size}
        except TimeoutError:
            out["trials"] = {"status": None, "seconds": None, "timeout_s": timeout_s}
        out["page_drawn_s"] = drawn_seconds(f"http://127.0.0.1:{port}/dashboard/studies/{study_id}",
                                            ".scatterlayer path.point", timeout_s=timeout_s)
        out["rss_mib"] = rss_mib(proc.pid)
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("optuna-dashboard")
    except PackageNotFoundError:
        return "?"
