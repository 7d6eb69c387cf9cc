"""SIGINT and SIGTERM handled for the length of a sweep, then given back."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["StopSignals"]

Handler = Callable[[int, "FrameType | None"], None]


class StopSignals:
    """Route SIGINT and SIGTERM to ``handler`` until :meth:`restore`.

    Installed only in the main thread, where Python delivers signals (elsewhere it does
    nothing, and the caller's own handlers stay).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, handler: Handler) -> None:
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, handler)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous = {}
