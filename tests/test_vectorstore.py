"""The size-following vector index and the mmap text store, on tiny exact cases."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

from rag.vectorstore import FLAT_MAX_ROWS, HNSW_EF_SEARCH, ChunkTextStore, build_vector_index


def unit_rows(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_store_round_trip(tmp_path):
    texts = ["EC2 인스턴스", "", "spread placement group: 7 per AZ", "한글 ✓ mixed"]
    store = ChunkTextStore.write(iter(texts), tmp_path / "texts")
    assert len(store) == 4
    assert [store.get(i) for i in range(4)] == texts
    assert store[-1] == "한글 ✓ mixed"
    reopened = ChunkTextStore.open(tmp_path / "texts")
    assert [reopened[i] for i in range(len(reopened))] == texts
    # offsets are UTF-8 byte positions: each Hangul syllable and ✓ take 3 bytes
    assert np.fromfile(tmp_path / "texts" / "offsets.u64", dtype="<u8").tolist() == [0, 16, 16, 48, 64]
    with pytest.raises(IndexError):
        reopened.get(4)
    reopened.close()
    store.close()


def test_store_empty_and_damaged(tmp_path):
    empty = ChunkTextStore.write([], tmp_path / "empty")
    assert len(empty) == 0
    with pytest.raises(IndexError):
        empty.get(0)
    ChunkTextStore.write(["abc", "de"], tmp_path / "cut")
    (tmp_path / "cut" / "texts.bin").write_bytes(b"abc")
    with pytest.raises(ValueError, match="rebuild the index"):
        ChunkTextStore.open(tmp_path / "cut")
    with pytest.raises(ValueError, match="missing"):
        ChunkTextStore.open(tmp_path / "nowhere")


def test_flat_below_threshold_is_exact():
    rows = unit_rows(50)
    index, kind = build_vector_index(rows)
    assert kind == "flat" and 50 <= FLAT_MAX_ROWS
    assert isinstance(index, faiss.IndexFlatIP) and index.ntotal == 50
    scores, ids = index.search(rows[[3]], 3)
    assert ids[0, 0] == 3
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-6)
    assert np.array_equal(index.reconstruct_n(0, 50), rows)


def test_hnsw_above_a_forced_threshold(tmp_path):
    rows = unit_rows(400, d=16, seed=1)
    calls = []
    index, kind = build_vector_index(rows, flat_max_rows=100, progress=lambda d, t, l: calls.append((d, t)))
    assert kind == "hnsw"
    assert isinstance(index, faiss.IndexHNSWFlat) and index.ntotal == 400
    assert calls[0] == (0, 400) and calls[-1] == (400, 400)
    # HNSW keeps the full vectors: reconstruction is exact, so incremental builds can reuse rows
    assert np.array_equal(index.reconstruct_n(0, 400), rows)
    # on 400 rows the graph search finds every exact top-5
    exact = faiss.IndexFlatIP(16)
    exact.add(rows)
    _, truth = exact.search(rows[:20], 5)
    _, found = index.search(rows[:20], 5)
    assert np.array_equal(np.sort(found, axis=1), np.sort(truth, axis=1))
    # the search beam survives a save/load round trip, so loading needs no tuning
    faiss.write_index(index, str(tmp_path / "v.faiss"))
    loaded = faiss.read_index(str(tmp_path / "v.faiss"))
    assert loaded.hnsw.efSearch == HNSW_EF_SEARCH


def test_build_rejects_one_dimensional_rows():
    with pytest.raises(ValueError, match="2-D"):
        build_vector_index(np.zeros(4, np.float32))
