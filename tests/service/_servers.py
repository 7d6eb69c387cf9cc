"""Helpers of the tests that run real processes: a small finished sweep, ``sweepdoctor serve`` on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from sweepdoctor import sweep
from tests.sweep.helpers import small_config


def finished_sweep(url: str, name: str = "small", *, trials: int = 6) -> None:
    """A real sweep of iris: 6 trials of 2 folds x 4 epochs, with the reference baselines."""
    cfg = small_config(url, name, trials=trials, epochs=4, folds=2, sampler="random")
    cfg = replace(cfg, train=replace(cfg.train, baselines=True))
    sweep.run(cfg, data=sweep.load_builtin("iris", seed=0))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sweepdoctor", *args]


def wait_http(url: str, *, timeout_s: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout_s} s")


@contextmanager
def serving(url: str, *, token: str | None = None, args: tuple[str, ...] = (),
            said: list[str] | None = None) -> Iterator[str]:
    """``sweepdoctor serve`` over ``url`` (plus ``args``) on a free port; yields its base URL; SIGTERM at the
    end. ``said``: where what the server wrote to stderr goes once it has stopped."""
    port = free_port()
    env = {**os.environ, "SWEEPDOCTOR_TOKEN": token or ""}
    proc = subprocess.Popen(cli("serve", "--storage", url, "--port", str(port), *args), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/api/studies", proc=proc)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            if said is not None:
                said.append(proc.stderr.read().decode())
            proc.stderr.close()
