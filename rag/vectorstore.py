"""Vector indexes that follow the corpus size, and an on-disk store for chunk texts.

Two pieces the index module can use when a corpus grows past one notes file:

- `build_vector_index(rows)` picks the index type by size. Up to
  `FLAT_MAX_ROWS` rows it is exact search (`IndexFlatIP`); above that it is
  HNSW over the same full vectors (`IndexHNSWFlat`, inner product). The
  threshold comes from `bench/scale.py --threshold` on this 2-core machine,
  one query at a time on one thread: on a quiet machine flat search p95 was
  2.9 ms at 50k rows and 6.8 ms at 100k, HNSW 2.5 ms and 3.9 ms (recall@10
  1.00); HNSW is faster from about 50k rows on. While the machine was shared
  (load 5-10) flat passed 5 ms already between 30k and 50k rows
  (docs/benchmarks.md). Below 50k an HNSW build costs seconds and buys nothing.
  HNSW keeps the original vectors, so `reconstruct_n` still returns exact rows:
  incremental builds reuse them and the composer scores sentences with them.
  The returned type name ("flat" or "hnsw") goes into the manifest.

- `ChunkTextStore` keeps chunk texts in two files, `texts.bin` (all texts as
  UTF-8, back to back) and `offsets.u64` (n + 1 byte offsets), read through
  mmap. A million texts cost a few pages of memory, not a million Python
  strings; `store.get(i)` decodes one text on demand.

Anything the rest of the project needs from a vector index is the small
`VectorIndex` protocol below, the subset of `faiss.Index` that `rag/index.py`
(`IndexData.chunk_vectors`, `unit_vectors`), `rag/retrieve.py`
(`DenseRetriever`) and `rag/evidence.py` (sentence scores) call. The live index
keeps its chunk texts in a `ChunkTextStore` inside each generation. A FAISS index satisfies it as is;
a server-backed store (Qdrant, Milvus, OpenSearch) would be an adapter class
with these four members (see docs/scaling.md).
"""
from __future__ import annotations

import json
import mmap
from pathlib import Path
from typing import Iterable, Protocol

import faiss
import numpy as np

from rag.progress import Progress, silent

# Exact search up to this many rows, HNSW above. Measured: bench/scale.py --threshold.
FLAT_MAX_ROWS = 50_000
# HNSW graph degree and beam widths. M=32 costs 2*32*4 = 256 bytes of links per
# vector (256 MB at 1M rows, beside 1.5 GB of 384-d float32 vectors).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
# efSearch 512: recall@10 0.973 against exact search at 1M structured rows with
# search p95 6.3 ms on one thread (128: 0.84, 256: 0.93); at 100k rows 256 already
# reaches 0.99. docs/benchmarks.md, "Scale".
HNSW_EF_SEARCH = 512
ADD_BATCH = 50_000

STORE_FORMAT = 1
STORE_MANIFEST = "store.json"
STORE_DATA = "texts.bin"
STORE_OFFSETS = "offsets.u64"


class VectorIndex(Protocol):
    """What the project calls on a vector index; `faiss.Index` already has it.

    Rows are L2-normalised float32, scores are inner products (cosine), and
    ids are row positions 0..ntotal-1 in the order the rows were given.
    """

    d: int
    ntotal: int

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids, each shaped (len(x), k); missing ids are -1."""

    def reconstruct_n(self, i0: int, n: int) -> np.ndarray:
        """Rows i0..i0+n-1 as stored (exact for flat and HNSW)."""


def build_vector_index(rows: np.ndarray, *, flat_max_rows: int = FLAT_MAX_ROWS,
                       progress: Progress = silent) -> tuple[faiss.Index, str]:
    """An inner-product index over `rows` and its type name for the manifest.

    Args:
        rows: (n, d) unit vectors; a `np.memmap` works and is read in batches
            of `ADD_BATCH` rows, so the build streams from disk.
        flat_max_rows: exact search up to this many rows, HNSW above.
        progress: called as progress(done, total, "indexing vectors").

    Returns:
        (index, "flat") or (index, "hnsw").
    """
    if rows.ndim != 2:
        raise ValueError(f"rows must be a 2-D array (n, d), got shape {rows.shape}")
    n, d = rows.shape
    if n <= flat_max_rows:
        index, kind = faiss.IndexFlatIP(d), "flat"
    else:
        index, kind = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT), "hnsw"
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    progress(0, n, "indexing vectors")
    for start in range(0, n, ADD_BATCH):
        index.add(np.ascontiguousarray(rows[start:start + ADD_BATCH], dtype=np.float32))
        progress(min(start + ADD_BATCH, n), n, "indexing vectors")
    return index, kind


class ChunkTextStore:
    """Chunk texts on disk, one UTF-8 blob plus byte offsets, read through mmap.

    `ChunkTextStore.write(texts, folder)` streams the texts out and returns the
    opened store; `ChunkTextStore.open(folder)` opens an existing one.
    `store.get(i)` (or `store[i]`) is text i; `len(store)` is the count.
    """

    def __init__(self, folder: Path, offsets: np.ndarray, data: mmap.mmap | bytes) -> None:
        self.folder = folder
        self._offsets = offsets
        self._data = data

    @classmethod
    def write(cls, texts: Iterable[str], folder: Path | str) -> "ChunkTextStore":
        """Write `texts` (any iterable, consumed once) into `folder` and open it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        offsets = [0]
        position = 0
        with (folder / STORE_DATA).open("wb") as data:
            for text in texts:
                raw = text.encode("utf-8")
                data.write(raw)
                position += len(raw)
                offsets.append(position)
        np.asarray(offsets, dtype="<u8").tofile(folder / STORE_OFFSETS)
        manifest = {"format": STORE_FORMAT, "count": len(offsets) - 1, "bytes": position}
        (folder / STORE_MANIFEST).write_text(json.dumps(manifest) + "\n", encoding="utf-8")
        return cls.open(folder)

    @classmethod
    def open(cls, folder: Path | str) -> "ChunkTextStore":
        """Open a store written by `write`; a missing or damaged file raises ValueError naming it."""
        folder = Path(folder)
        try:
            manifest = json.loads((folder / STORE_MANIFEST).read_text(encoding="utf-8"))
            offsets = np.memmap(folder / STORE_OFFSETS, dtype="<u8", mode="r")
            size = (folder / STORE_DATA).stat().st_size
        except (OSError, ValueError) as err:
            raise ValueError(f"text store in {folder} is missing or unreadable ({err}); rebuild the index") from None
        if manifest.get("format") != STORE_FORMAT or len(offsets) != manifest.get("count", -1) + 1 \
                or int(offsets[-1]) != size:
            raise ValueError(f"text store in {folder} does not match its {STORE_MANIFEST}; rebuild the index")
        if size == 0:  # mmap refuses empty files
            return cls(folder, offsets, b"")
        with (folder / STORE_DATA).open("rb") as handle:
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return cls(folder, offsets, data)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def get(self, i: int) -> str:
        """Text number `i` (0-based; negative counts from the end)."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"text {i} is out of range for a store of {n}")
        i %= n
        return self._data[int(self._offsets[i]):int(self._offsets[i + 1])].decode("utf-8")

    __getitem__ = get

    def close(self) -> None:
        if isinstance(self._data, mmap.mmap):
            self._data.close()
        self._offsets = np.zeros(1, dtype="<u8")

    def __enter__(self) -> "ChunkTextStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
