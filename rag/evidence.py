"""Evidence selection: which note sections and lines answer a question.

The grain is a *unit*: one sentence or bullet of a chunk, with its source
line (`rag.notes.units_of`). A unit's score for a query is its dense cosine
plus a weighted share of the query's idf mass it contains. Question mode
picks up to `max_topics` sections among the top hits and the best lines of
each (`gather_evidence`); exam and verify draw their candidate lines from the
same pool (`evidence_pool`). Whether the notes cover a question at all is one
rule, `out_of_scope`, shared by every mode.

Rendering the chosen evidence is `rag/compose.py`'s job.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rag.index import IndexData
from rag.language import HANGUL
from rag.lexical import ENGLISH, STOPWORDS, english_term, tokenize
from rag.params import AbstainParams, ComposeParams
from rag.retrieve import Query
from rag.types import Chunk, Hit


@dataclass(frozen=True)
class ScoredUnit:
    """One note line scored for a query; `index` is its row in the index's unit list."""

    index: int
    score: float
    chunk: Chunk
    line: int
    text: str


def lexical_overlap(query_tokens: list[str], unit_tokens: list[str], idf: dict[str, float]) -> float:
    """Share of the query's idf mass found in the unit (0..1)."""
    terms = [t for t in dict.fromkeys(query_tokens) if t in idf]
    if not terms:
        return 0.0
    present = set(unit_tokens)
    return sum(idf[t] for t in terms if t in present) / sum(idf[t] for t in terms)


def score_units(query: Query, data: IndexData, model_id: str, unit_ids: list[int],
                idf: dict[str, float], lexical_weight: float) -> list[ScoredUnit]:
    """Each unit's match with the query: dense cosine plus weighted lexical overlap."""
    if not unit_ids:
        return []
    dense = data.unit_matrix(model_id)[unit_ids] @ query.vector(model_id)
    out = []
    for index, cosine in zip(unit_ids, dense):
        unit = data.units[index]
        lex = lexical_overlap(query.tokens, data.unit_tokens[index], idf)
        out.append(ScoredUnit(index, float(cosine) + lexical_weight * lex, data.chunk_by_id[unit.chunk_id],
                              unit.line, unit.text))
    return out


def section_units(data: IndexData, section_key: tuple) -> list[int]:
    return [i for chunk in data.chunks_by_section.get(section_key, []) for i in data.units_by_chunk.get(chunk.chunk_id, [])]


def lecture_key(chunk: Chunk) -> tuple:
    """The section key of the chunk's lecture (its `##` ancestor), where 정리 blocks live."""
    return (chunk.source, chunk.heading_path[:2])


def evidence_pool(data: IndexData, hits: list[Hit], sections: int, lectures: int) -> list[int]:
    """Sentence indexes of the top `sections` hit sections and of the top `lectures` hits' lectures."""
    keys = list(dict.fromkeys(h.chunk.section_key for h in hits[:sections]))
    keys += [k for k in dict.fromkeys(lecture_key(h.chunk) for h in hits[:lectures]) if k not in keys]
    return list(dict.fromkeys(i for key in keys for i in section_units(data, key)))


EXAM_BOILERPLATE = frozenset("aws amazon sysop administrator admin exam soa company team engineer developer".split())
SENTENCE_START = re.compile(r"(?:^|[.?!:]\s+|\n)\s*$")


def salient_terms(text: str) -> list[str]:
    """English names in the question: words with a capital (not just sentence-initial) or a digit."""
    terms = []
    for match in ENGLISH.finditer(text):
        word = match.group()
        capitals = sum(ch.isupper() for ch in word)
        has_digit = any(ch.isdigit() for ch in word) and any(ch.isalpha() for ch in word)
        initial_only = capitals == 1 and word[0].isupper() and SENTENCE_START.search(text[: match.start()])
        term = english_term(word)
        if (capitals or has_digit) and not initial_only and term not in STOPWORDS and term not in EXAM_BOILERPLATE:
            terms.append(term)
    return list(dict.fromkeys(terms))


def unknown_terms(text: str, data: IndexData) -> tuple[list[str], int]:
    """Salient terms of `text` that never occur in the notes, and how many salient terms there are."""
    known = data.known_terms
    terms = salient_terms(text)
    unknown = [t for t in terms if t not in known and not all(p in known for p in re.split(r"[-/]", t) if p)]
    return unknown, len(terms)


def out_of_scope(best_similarity: float, unknown_share: float, params: AbstainParams) -> bool:
    """The one rule that says the notes do not cover a text: nothing close enough, or names the notes lack."""
    return best_similarity < params.similarity or unknown_share >= params.unknown_terms


@dataclass(frozen=True)
class Evidence:
    """The units chosen for an answer, grouped by topic section."""

    topics: list[tuple[Chunk, list[ScoredUnit]]]
    summary: list[ScoredUnit]
    best_similarity: float
    unknown_share: float
    unknown: tuple[str, ...] = ()

    def covers(self, params: AbstainParams) -> bool:
        return bool(self.topics) and not out_of_scope(self.best_similarity, self.unknown_share, params)

    @property
    def units(self) -> tuple[ScoredUnit, ...]:
        """Every chosen line, topics first, then the summary."""
        return tuple(u for _, units in self.topics for u in units) + tuple(self.summary)


def gather_evidence(query: Query, hits: list[Hit], data: IndexData, model_id: str,
                    idf: dict[str, float], params: ComposeParams = ComposeParams()) -> Evidence:
    """Pick up to `max_topics` topic sections among the top hits and their best lines."""
    candidates: list[tuple] = []
    for hit in hits[:params.candidate_hits]:
        if hit.chunk.section_key not in candidates:
            candidates.append(hit.chunk.section_key)
    scored_sections = []
    best_similarity = -1.0
    query_tokens = set(query.tokens)
    for rank, key in enumerate(candidates):
        units = score_units(query, data, model_id, section_units(data, key), idf, params.lexical_weight)
        body = [u for u in units if not u.chunk.is_summary] or units
        if not body:
            continue
        heading_tokens = set(tokenize(key[1][-1])) if len(key[1]) > 1 else set()
        named = len(query_tokens & heading_tokens) / len(heading_tokens) if heading_tokens else 0.0
        top = max(u.score for u in body) + params.heading_weight * named
        dense_top = max(float(data.unit_matrix(model_id)[u.index] @ query.vector(model_id)) for u in body)
        best_similarity = max(best_similarity, dense_top)
        scored_sections.append((top + params.rank_bonus / (1 + rank), key, body))
    scored_sections.sort(key=lambda s: -s[0])
    topics = []
    if scored_sections:
        lead = scored_sections[0][0]
        for section_score, key, body in scored_sections[:params.max_topics]:
            if topics and section_score < lead - params.topic_gap:
                break
            chosen = pick_lines(body, data, params)
            chosen.sort(key=lambda u: u.line)
            topics.append((chosen[0].chunk, chosen))
    summary: list[ScoredUnit] = []
    lectures = list(dict.fromkeys(lecture_key(chunk) for chunk, _ in topics))
    for key in lectures:
        ids = [i for chunk in data.chunks_by_section.get(key, []) if chunk.is_summary
               for i in data.units_by_chunk.get(chunk.chunk_id, [])]
        summary.extend(score_units(query, data, model_id, ids, idf, params.lexical_weight))
    summary = answer_language_first(summary)
    summary.sort(key=lambda u: -u.score)
    unknown, total = unknown_terms(query.text, data)
    return Evidence(topics, summary[:params.summary_lines], best_similarity, len(unknown) / max(total, 1), tuple(unknown))


def answer_language_first(units: list[ScoredUnit]) -> list[ScoredUnit]:
    """The TL;DR is prose in the answer's language (Korean); notes in another language offer their own lines."""
    return [u for u in units if HANGUL.search(u.text)] or [u for u in units if u.chunk.lang != "ko"]


def pick_lines(body: list[ScoredUnit], data: IndexData, params: ComposeParams = ComposeParams()) -> list[ScoredUnit]:
    """The section's best lines: close to its top score, informative, and not repeating each other."""
    best = max(u.score for u in body)
    informative = [u for u in body if len(u.text) >= params.min_line_chars] or body
    chosen: list[ScoredUnit] = []
    for unit in sorted(informative, key=lambda u: -u.score):
        if unit.score < best - params.line_gap or len(chosen) == params.lines_per_topic:
            break
        tokens = set(data.unit_tokens[unit.index])
        if all(_jaccard(tokens, set(data.unit_tokens[c.index])) < params.duplicate_jaccard for c in chosen):
            chosen.append(unit)
    return chosen or [max(body, key=lambda u: u.score)]


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0
