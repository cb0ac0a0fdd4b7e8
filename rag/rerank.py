"""Which retrieved chunk holds the sentence that answers: re-ranking the fused top chunks.

Hybrid retrieval ranks chunks by reciprocal-rank fusion of whole-chunk
scores, so a section's other chunk, or the chunk that only restates the
question, often comes first. `ChunkReranker` takes the fused top `depth`
chunks and orders them by a logistic score over a few features per chunk
(`CHUNK_FEATURES`), fit on the **dev** split only by
`bench/fit_chunk_ranker.py`, which reports cross-validated figures; the
weights ship as `rag/data/chunk_ranker.json`.

The features, in words:
- `fused`, `fused_rank`: the fusion's own score (over the best one) and 1 / (1 + rank);
- `best_sentence`, `best_sentence_gap`: the best e5 cosine of one of the chunk's sentences, and its gap to
  the best of all candidates;
- `sentence_lexical`, `chunk_lexical`: share of the question's idf mass in the best sentence and in the chunk;
- `chunk_bm25`: the chunk's BM25 score over the best candidate's (fusion keeps only ranks);
- `heading_named`: share of the chunk's heading words that the question uses;
- `summary`: a 정리 chunk;
- `section_hits`, `section_first`, `section_best_sentence`: how the chunk's section fares among the candidates
  (its share of them, 1 / (1 + the fused rank of its best chunk), its best sentence), so that a chunk of a
  section the retrievers agree on is not outranked by a stray chunk elsewhere (dev 5-fold CV recall@1
  0.667 → 0.690, MRR 0.786 → 0.800).
"""
from __future__ import annotations

import numpy as np

from rag.evidence import idf_mass, mass_share
from rag.index import IndexData
from rag.lexical import heading_tokens
from rag.ranker import shipped
from rag.retrieve import Query
from rag.types import Hit

CHUNK_FEATURES = ("fused", "fused_rank", "best_sentence", "best_sentence_gap", "sentence_lexical", "chunk_lexical",
                  "chunk_bm25", "heading_named", "summary", "section_hits", "section_first", "section_best_sentence")
DEPTH = 20  # fused chunks re-ranked; dev: the evidence chunk is among the fused top 20 for 0.99 of questions


def chunk_features(query: Query, hits: list[Hit], data: IndexData, model_id: str, idf: dict[str, float]) -> np.ndarray:
    """One row of `CHUNK_FEATURES` per hit, in hit order."""
    if not hits:
        return np.zeros((0, len(CHUNK_FEATURES)))
    units = [data.units_by_chunk.get(h.chunk.chunk_id, []) for h in hits]
    ids = [i for chunk_units in units for i in chunk_units]
    similarity = dict(zip(ids, (data.unit_rows(model_id, ids) @ query.vector(model_id)).tolist())) if ids else {}
    best = [max((similarity[i] for i in chunk_units), default=0.0) for chunk_units in units]
    top_score, top_best = max(h.score for h in hits) or 1.0, max(best)
    query_tokens = set(query.tokens)
    mass = idf_mass(query.tokens, idf)
    bm25 = data.lexical.scores_of(query.tokens, [data.chunk_position[h.chunk.chunk_id] for h in hits])
    bm25 = bm25 / (bm25.max() or 1.0)
    sections = [h.chunk.section_key for h in hits]
    first_rank: dict[tuple, int] = {}
    section_best: dict[tuple, float] = {}
    for rank, (key, best_sentence) in enumerate(zip(sections, best)):
        first_rank.setdefault(key, rank)
        section_best[key] = max(section_best.get(key, best_sentence), best_sentence)
    rows = []
    for rank, (hit, chunk_units, best_sentence) in enumerate(zip(hits, units, best)):
        chunk = hit.chunk
        heading = heading_tokens(chunk.heading_path[-1]) if len(chunk.heading_path) > 1 else frozenset()
        rows.append([
            hit.score / top_score, 1 / (1 + rank), best_sentence, best_sentence - top_best,
            max((mass_share(mass, data.unit_tokens[i]) for i in chunk_units), default=0.0),
            mass_share(mass, data.chunk_tokens[data.chunk_position[chunk.chunk_id]]), float(bm25[rank]),
            len(query_tokens & heading) / len(heading) if heading else 0.0,
            float(chunk.is_summary),
            sections.count(chunk.section_key) / len(hits), 1 / (1 + first_rank[chunk.section_key]),
            section_best[chunk.section_key],
        ])
    return np.array(rows, dtype=float)


class ChunkReranker:
    """A retriever whose fused top `depth` chunks come back ordered by the shipped chunk ranker."""

    def __init__(self, inner, data: IndexData, model_id: str, idf: dict[str, float], depth: int = DEPTH) -> None:
        self.inner, self.data, self.model_id, self.idf, self.depth = inner, data, model_id, idf, depth

    def search(self, query: Query, k: int) -> list[Hit]:
        hits = self.inner.search(query, max(k, self.depth))
        if not hits:
            return []
        rows = chunk_features(query, hits, self.data, self.model_id, self.idf)
        probabilities = shipped("chunk_ranker", CHUNK_FEATURES).probabilities(rows)
        order = sorted(range(len(hits)), key=lambda i: (-probabilities[i], i))
        return [Hit(hits[i].chunk, float(probabilities[i])) for i in order[:k]]
