"""The page's handle on the assistant: readiness, the index summary and re-indexing.

One `Service` serves every browser tab. It builds or refreshes the index in
a background thread so the page can open at once and show a notice, with
the build's progress, until the index is ready. On a first start the chat
and the quiz answer at once from BM25 over the notes ("빠른 검색 (색인 중)"),
and switch to hybrid retrieval when the build finishes. It never changes the assistant's settings: each
visitor's search settings travel with their own questions
(`ui/settings_panel.py`), and a re-index keeps every indexed model.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from rag.engine import Assistant
from rag.index import BuildReport
from rag.progress import Progress, silent


class PageProgress:
    """A progress callback that remembers the latest step for the page and forwards it to the terminal."""

    def __init__(self, terminal: Progress = silent) -> None:
        self.terminal = terminal
        self.last: tuple[int, int, str] | None = None

    def __call__(self, done: int, total: int, label: str) -> None:
        self.last = (done, total, label)
        self.terminal(done, total, label)


@dataclass(frozen=True)
class Refresh:
    """What a tab redraws once the index is ready or replaced: `fn()` returns values for `outputs`."""

    fn: Callable
    outputs: list


@dataclass(frozen=True)
class IndexSummary:
    """What the notes tab shows about the index in use."""

    generation: str
    built_at: str
    models: tuple[str, ...]
    chunks: int
    sentences: int
    files: tuple[tuple[str, int, str], ...]  # (file, chunks, sha256 prefix)


class Service:
    def __init__(self, assistant: Assistant, watcher: PageProgress | None = None) -> None:
        self.assistant = assistant
        self.watcher = watcher or PageProgress()
        self.error: str | None = None
        self._ready = threading.Event()
        self._reindexing = threading.Lock()

    # ---- readiness ---------------------------------------------------------------------
    def start(self) -> None:
        """Build or refresh the index in the background."""
        threading.Thread(target=self._prepare, name="rag-index", daemon=True).start()

    def _prepare(self) -> None:
        try:
            self.assistant.ensure_index(provisional=True)
            self.assistant.warm_up()  # the first question after the notice goes pays no model loading
            self._ready.set()
        except Exception as err:  # the page shows it in its notice
            self.error = f"{type(err).__name__}: {err}"
            self.assistant.log(f"index: cannot build it: {self.error}")

    @property
    def ready(self) -> bool:
        """The index is built: every tab works, with hybrid retrieval."""
        return self._ready.is_set()

    @property
    def answering(self) -> bool:
        """Questions get answers: from the index, or from BM25 alone while the first index is built."""
        return self.ready or self.assistant.answering

    def notice(self) -> str:
        """The banner text while the index is not ready ("" once it is)."""
        if self.error:
            return f"⚠ **색인을 만들 수 없습니다.** {self.error}"
        if self.ready:
            return ""
        step = self.watcher.last
        where = "모델을 불러오는 중" if step is None else f"{step[2]} {step[1] and round(100 * step[0] / step[1])}%"
        if self.assistant.answering:
            return (f"**빠른 검색 (색인 중)**: 색인을 만드는 동안 BM25 검색만으로 답합니다 ({where}). "
                    "색인이 끝나면 e5와 BM25를 함께 쓰고 이 안내가 사라집니다.")
        return f"**색인을 준비하는 중입니다** ({where}). 준비되면 이 안내가 사라집니다."

    # ---- the index ---------------------------------------------------------------------
    def indexed_models(self) -> tuple[str, ...]:
        return tuple(self.assistant.state.data.manifest["models"]) if self.ready else ()

    def reindex(self) -> BuildReport | None:
        """Re-embed only the notes that changed; None when nothing did."""
        with self._reindexing:
            return self.assistant.ensure_index()

    def summary(self) -> IndexSummary:
        data = self.assistant.state.data
        manifest = data.manifest
        per_file: dict[str, int] = {}
        for chunk in data.chunks:
            per_file[chunk.source] = per_file.get(chunk.source, 0) + 1
        files = tuple((name, per_file.get(name, 0), digest[:12]) for name, digest in sorted(manifest["files"].items()))
        return IndexSummary(manifest["generation"], manifest["built_at"], tuple(manifest["models"]),
                            len(data.chunks), len(data.units), files)
