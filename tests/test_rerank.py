"""The chunk re-ranker: its features on the fixture notes, and the order it gives the fused chunks."""
from __future__ import annotations

import numpy as np
import pytest

from rag.rerank import CHUNK_FEATURES, DEPTH, ChunkReranker, chunk_features
from rag.types import Hit

pytestmark = pytest.mark.fast

SPREAD_LINE = "이는 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다."


def test_features_describe_each_fused_chunk(hash_assistant):
    state = hash_assistant.state
    query = hash_assistant.query("How many instances per AZ can a spread placement group have?")
    hits = hash_assistant.retriever("hybrid", rerank=False).search(query, DEPTH)
    rows = chunk_features(query, hits, state.data, "hash", state.lexical.bm25.idf)
    column = {name: rows[:, i] for i, name in enumerate(CHUNK_FEATURES)}
    assert rows.shape == (len(hits), len(CHUNK_FEATURES))
    np.testing.assert_allclose(column["fused_rank"], [1 / (1 + r) for r in range(len(hits))])
    assert column["fused"][0] == 1.0 and np.all(np.diff(column["fused"]) <= 0)  # fused order, over the best score
    assert column["best_sentence_gap"].max() == 0.0 and np.all(column["best_sentence_gap"] <= 0)
    assert np.all((0 <= column["chunk_lexical"]) & (column["chunk_lexical"] <= 1))
    assert list(column["summary"]) == [float(h.chunk.is_summary) for h in hits]


def test_the_reranked_hits_are_the_fused_ones_reordered_by_probability(hash_assistant):
    query = hash_assistant.query("스팟 인스턴스는 어떻게 종료돼?")
    fused = hash_assistant.retriever("hybrid", rerank=False).search(query, DEPTH)
    reranked = hash_assistant.retriever("hybrid").search(query, 5)
    assert isinstance(hash_assistant.retriever("hybrid"), ChunkReranker)
    assert not isinstance(hash_assistant.retriever("bm25"), ChunkReranker)  # baselines stay as they are
    assert len(reranked) == 5 and {h.chunk.chunk_id for h in reranked} <= {h.chunk.chunk_id for h in fused}
    scores = [h.score for h in reranked]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)


class FixedOrder:
    """An inner retriever that returns the given chunks in the given order, with falling fused scores."""

    def __init__(self, chunks) -> None:
        self.chunks = chunks

    def search(self, query, k):
        return [Hit(c, 1 / (61 + rank)) for rank, c in enumerate(self.chunks[:k])]


def test_the_chunk_holding_the_asked_sentence_moves_up_from_last_place(hash_assistant):
    state = hash_assistant.state
    holder = next(c for c in state.data.chunks if SPREAD_LINE in c.text)
    others = [c for c in state.data.chunks if c.chunk_id != holder.chunk_id and not c.is_summary][:4]
    reranker = ChunkReranker(FixedOrder([*others, holder]), state.data, "hash", state.lexical.bm25.idf)
    top = reranker.search(hash_assistant.query(SPREAD_LINE), 5)
    assert top[0].chunk.chunk_id == holder.chunk_id
