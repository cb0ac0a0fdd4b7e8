"""Progress on tqdm: the callback type every stage reports to, a terminal bar, and a silent stand-in.

Stages call `progress(done, total, label)`; they never see tqdm. `Bar()` gives
each task (one label) its own `tqdm` object on stderr. On a terminal tqdm
draws and redraws the bar. Without one (CI logs, output piped to a file) the
tqdm object stays silent and `Bar` writes tqdm's own meter as a plain line at
each tenth of the task, about ten lines per task. Either way the tqdm object
exists, so the study page's `gr.Progress(track_tqdm=True)` shows the same
progress in the browser.
"""
from __future__ import annotations

import sys
import time
from typing import Callable

from tqdm import tqdm

Progress = Callable[[int, int, str], None]


def silent(done: int, total: int, label: str) -> None:
    """Progress callback that shows nothing."""


class Bar:
    """`Bar()(done, total, label)`: a tqdm bar per label; a stream that is no terminal gets ~10 lines per task."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self._bar: tqdm | None = None
        self._label, self._total, self._done, self._tenth = "", 0, 0, -1
        self._started = time.monotonic()

    def __call__(self, done: int, total: int, label: str) -> None:
        tty = getattr(self.stream, "isatty", lambda: False)()
        if self._bar is None or (label, total) != (self._label, self._total) or done < self._done:
            self._open(total, label, tty)
        self._bar.update(done - self._done)
        self._done = done
        tenth = done * 10 // max(total, 1)
        if not tty and (tenth != self._tenth or done >= total):
            self._tenth = tenth
            line = tqdm.format_meter(done, total, time.monotonic() - self._started, ncols=90, prefix=label, ascii=True)
            self.stream.write(line + "\n")
            self.stream.flush()
        if done >= total:
            self._close()

    def _open(self, total: int, label: str, tty: bool) -> None:
        self._close()
        self._bar = tqdm(total=total, desc=label, file=self.stream, disable=not tty, leave=True, dynamic_ncols=True)
        self._label, self._total, self._done, self._tenth = label, total, 0, -1
        self._started = time.monotonic()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
