"""Retrievers with one shape, `search(query, k) -> list[Hit]`, and fusion.

A `Query` carries the question, its glossary expansion, its BM25 tokens and
its vectors per model, each computed once and shared by every retriever and
by the composer. Fusion functions are pure: they take ranked id lists.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from rag.embed import Embedder
from rag.index import IndexData
from rag.lexical import expand_query, tokenize
from rag.settings import RETRIEVER_KINDS
from rag.types import Hit


@dataclass
class Query:
    """One question, with lazily computed and cached representations."""

    text: str
    embedders: dict[str, Embedder]
    # model id -> the text its query vector is made of, when not `embed_text`'s default (exam: e5 reads the stem alone)
    embed_texts: dict[str, str] = field(default_factory=dict)
    _vectors: dict = field(default_factory=dict)  # model id -> the query's vector; (model id, text) -> a companion's
    _tokens: list[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def embed_text(self, model_id: str) -> str:
        """What `model_id` encodes for the query's own vector: the text with the AWS terms' translations."""
        return self.embed_texts.get(model_id) or expand_query(self.text, general=False)

    @property
    def tokens(self) -> list[str]:
        """The lexical tokens: the text with every glossary translation, ordinary words included."""
        if self._tokens is None:
            self._tokens = tokenize(expand_query(self.text))
        return self._tokens

    def vector(self, model_id: str) -> np.ndarray:
        self.encode_with(model_id, ())
        return self._vectors[model_id]

    def encode_with(self, model_id: str, texts: tuple[str, ...]) -> None:
        """Encode `texts` in the same model call as the query itself (one batch costs less than several
        calls); `companion` then returns their vectors. Models may encode on several threads at once."""
        own_text = self.embed_text(model_id)
        with self._lock:
            own = model_id not in self._vectors
            wanted = [t for t in dict.fromkeys(texts) if (model_id, t) not in self._vectors and not (own and t == own_text)]
        if not wanted and not own:
            return
        rows = self.embedders[model_id].encode(([own_text] if own else []) + wanted, query=True)
        with self._lock:
            if own:
                self._vectors[model_id] = self._vectors[(model_id, own_text)] = rows[0]
                rows = rows[1:]
            self._vectors.update({(model_id, t): row for t, row in zip(wanted, rows)})

    def narrowed(self, text: str) -> "Query":
        """`text` as a query of its own, keeping every vector this query already holds for the text a model would
        encode for it (exam: the stem alone is both a companion here and a question of its own)."""
        other = Query(text, self.embedders)
        with self._lock:
            other._vectors.update({m: self._vectors[(m, other.embed_text(m))] for m in self.embedders
                                   if (m, other.embed_text(m)) in self._vectors})
        return other

    def companion(self, model_id: str, text: str) -> np.ndarray:
        """The vector of a text encoded with this query (`encode_with`), encoding it now if it was not."""
        self.encode_with(model_id, (text,))
        return self._vectors[(model_id, text)]


def rrf(rankings: list[list[str]], weights: list[float] | None = None, k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: score(id) = Σ w / (k + rank), rank from 1."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


class DenseRetriever:
    """Cosine search in one model's vector index of chunks, through the `VectorIndex` protocol
    (`rag/vectorstore.py`): FAISS here; an adapter to another vector engine is one class with its members."""

    def __init__(self, data: IndexData, model_id: str) -> None:
        self.data, self.model_id = data, model_id

    def search(self, query: Query, k: int) -> list[Hit]:
        index = self.data.chunk_vectors[self.model_id]
        k = min(k, index.ntotal)
        if k == 0:
            return []
        scores, ids = index.search(query.vector(self.model_id)[None, :].astype(np.float32), k)
        return [Hit(self.data.chunks[i], float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]


class LexicalRetriever:
    """BM25 over the chunks' Korean morphemes and English terms (the generation's saved index)."""

    def __init__(self, data: IndexData) -> None:
        self.data = data
        self.bm25 = data.lexical

    def search(self, query: Query, k: int) -> list[Hit]:
        return [Hit(self.data.chunks[i], score) for i, score in self.bm25.top(query.tokens, k)]


class HybridRetriever:
    """Reciprocal-rank fusion of several retrievers, each with a weight."""

    def __init__(self, retrievers: list, weights: list[float], rrf_k: int = 60, depth: int = 30) -> None:
        self.retrievers, self.weights, self.rrf_k, self.depth = retrievers, weights, rrf_k, depth

    def search(self, query: Query, k: int) -> list[Hit]:
        chunks = {}
        rankings = []
        for retriever in self.retrievers:
            hits = retriever.search(query, self.depth)
            rankings.append([h.chunk.chunk_id for h in hits])
            chunks.update({h.chunk.chunk_id: h.chunk for h in hits})
        fused = rrf(rankings, self.weights, self.rrf_k)[:k]
        return [Hit(chunks[cid], score) for cid, score in fused]


def make_retriever(data: IndexData, kind: str, model_ids: tuple[str, ...], lexical_weight: float = 1.0,
                   rrf_k: int = 60, lexical: LexicalRetriever | None = None):
    """`bm25`, `dense` (the models fused when several), or `hybrid` (dense models + BM25).

    `lexical` reuses a BM25 retriever already made over `data`.
    """
    dense = [DenseRetriever(data, m) for m in model_ids]
    lexical = lexical or LexicalRetriever(data)
    if kind not in RETRIEVER_KINDS:
        raise ValueError(f"unknown retriever {kind!r}; use one of {', '.join(RETRIEVER_KINDS)}")
    if kind == "bm25":
        return lexical
    if kind == "dense":
        return dense[0] if len(dense) == 1 else HybridRetriever(dense, [1.0] * len(dense), rrf_k)
    return HybridRetriever(dense + [lexical], [1.0] * len(dense) + [lexical_weight], rrf_k)
