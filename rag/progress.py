"""A minimal progress bar for the terminal (stderr), and a silent stand-in."""
from __future__ import annotations

import sys
import time
from typing import Callable

Progress = Callable[[int, int, str], None]


def silent(done: int, total: int, label: str) -> None:
    """Progress callback that shows nothing."""


class Bar:
    """`Bar()(done, total, label)` redraws one line; a TTY-less stream gets ~10 lines per task."""

    def __init__(self, stream=None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self._last: tuple[str, int] = ("", -1)
        self._start = time.monotonic()

    def __call__(self, done: int, total: int, label: str) -> None:
        total = max(total, 1)
        tenth = done * 10 // total
        tty = getattr(self.stream, "isatty", lambda: False)()
        if not tty and (label, tenth) == self._last and done != total:
            return
        if label != self._last[0]:
            self._start = time.monotonic()
        self._last = (label, tenth)
        filled = self.width * done // total
        elapsed = time.monotonic() - self._start
        line = f"{label:<22} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {elapsed:5.1f}s"
        end = "\n" if done >= total or not tty else ""
        self.stream.write(("\r" if tty else "") + line + end)
        self.stream.flush()
