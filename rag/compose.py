"""Extractive, deterministic composition of answers in the notes' own format.

The user's custom instructions ask for: an overview title, one or more topic
titles with their contents, and a TL;DR, in Korean. Nothing is generated:
every content line is a sentence or bullet of the notes, chosen by how well
it matches the question, and cited as `[n]`. Citations are numbered by
first use and checked against the listed sources before the answer leaves.

    **<overview title>**

    **<topic title>**
    - <note sentence> [1]

    **TL;DR**
    - <정리 bullet> [1]

    출처
    [1] <file> › <heading path> (L<start>–L<end>)
"""
from __future__ import annotations

import re
from dataclasses import dataclass


from rag.errata import Erratum, render_with_errata
from rag.index import IndexData
from rag.lexical import ENGLISH, STOPWORDS, english_term, tokenize
from rag.retrieve import Query
from rag.types import Chunk, Citation, Hit

ABSTAIN_TEXT = "노트에서 관련 내용을 찾지 못했습니다"
LEXICAL_WEIGHT = 0.35
MAX_TOPICS = 3
LINES_PER_TOPIC = 4
MIN_LINE_CHARS = 15
HEADING_WEIGHT = 0.15  # a section whose heading the question names wins close calls
CITATION = re.compile(r"\[(\d+)\]")
HANGUL = re.compile(r"[가-힣]")


@dataclass(frozen=True)
class ScoredUnit:
    index: int
    score: float
    chunk: Chunk
    line: int
    text: str


class CitationList:
    """Numbers sources by first use; `[n]` always resolves to `sources[n-1]`."""

    def __init__(self) -> None:
        self.sources: list[Chunk] = []

    def cite(self, chunk: Chunk) -> int:
        if chunk not in self.sources:
            self.sources.append(chunk)
        return self.sources.index(chunk) + 1

    def citations(self) -> tuple[Citation, ...]:
        return tuple(Citation(n, c) for n, c in enumerate(self.sources, 1))

    def render(self) -> str:
        lines = ["출처"]
        for n, chunk in enumerate(self.sources, 1):
            lines.append(f"[{n}] {source_label(chunk)}")
        return "\n".join(lines)


def source_label(chunk: Chunk) -> str:
    return f"{chunk.source} › {' › '.join(chunk.heading_path)} (L{chunk.line_start}–L{chunk.line_end})"


def lexical_overlap(query_tokens: list[str], unit_tokens: list[str], idf: dict[str, float]) -> float:
    """Share of the query's idf mass found in the unit (0..1)."""
    terms = [t for t in dict.fromkeys(query_tokens) if t in idf]
    if not terms:
        return 0.0
    present = set(unit_tokens)
    return sum(idf[t] for t in terms if t in present) / sum(idf[t] for t in terms)


def score_units(query: Query, data: IndexData, model_id: str, unit_ids: list[int],
                idf: dict[str, float]) -> list[ScoredUnit]:
    """Each unit's match with the query: dense cosine plus weighted lexical overlap."""
    if not unit_ids:
        return []
    dense = data.unit_matrix(model_id)[unit_ids] @ query.vector(model_id)
    out = []
    for index, cosine in zip(unit_ids, dense):
        unit = data.units[index]
        lex = lexical_overlap(query.tokens, data.unit_tokens[index], idf)
        out.append(ScoredUnit(index, float(cosine) + LEXICAL_WEIGHT * lex, data.chunk_by_id[unit.chunk_id],
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


@dataclass(frozen=True)
class Evidence:
    """The units chosen for an answer, grouped by topic section."""

    topics: list[tuple[Chunk, list[ScoredUnit]]]
    summary: list[ScoredUnit]
    best_similarity: float
    unknown_share: float
    unknown: tuple[str, ...] = ()


def gather_evidence(query: Query, hits: list[Hit], data: IndexData, model_id: str,
                    idf: dict[str, float]) -> Evidence:
    """Pick up to three topic sections among the top hits and their best lines."""
    candidates: list[tuple] = []
    for hit in hits[:6]:
        if hit.chunk.section_key not in candidates:
            candidates.append(hit.chunk.section_key)
    scored_sections = []
    best_similarity = -1.0
    query_tokens = set(query.tokens)
    for rank, key in enumerate(candidates):
        units = score_units(query, data, model_id, section_units(data, key), idf)
        body = [u for u in units if not u.chunk.is_summary] or units
        if not body:
            continue
        heading_tokens = set(tokenize(key[1][-1])) if len(key[1]) > 1 else set()
        named = len(query_tokens & heading_tokens) / len(heading_tokens) if heading_tokens else 0.0
        top = max(u.score for u in body) + HEADING_WEIGHT * named
        dense_top = max(float(data.unit_matrix(model_id)[u.index] @ query.vector(model_id)) for u in body)
        best_similarity = max(best_similarity, dense_top)
        scored_sections.append((top + 0.08 / (1 + rank), key, body))
    scored_sections.sort(key=lambda s: -s[0])
    topics = []
    if scored_sections:
        lead = scored_sections[0][0]
        for section_score, key, body in scored_sections[:MAX_TOPICS]:
            if topics and section_score < lead - 0.06:
                break
            chosen = pick_lines(body, data)
            chosen.sort(key=lambda u: u.line)
            topics.append((chosen[0].chunk, chosen))
    summary: list[ScoredUnit] = []
    lectures = list(dict.fromkeys(lecture_key(chunk) for chunk, _ in topics))
    for key in lectures:
        ids = [i for chunk in data.chunks_by_section.get(key, []) if chunk.is_summary
               for i in data.units_by_chunk.get(chunk.chunk_id, [])]
        summary.extend(score_units(query, data, model_id, ids, idf))
    summary = [u for u in summary if HANGUL.search(u.text)]  # the TL;DR is Korean prose
    summary.sort(key=lambda u: -u.score)
    unknown, total = unknown_terms(query.text, data)
    return Evidence(topics, summary[:2], best_similarity, len(unknown) / max(total, 1), tuple(unknown))


def pick_lines(body: list[ScoredUnit], data: IndexData) -> list[ScoredUnit]:
    """The section's best lines: close to its top score, informative, and not repeating each other."""
    best = max(u.score for u in body)
    informative = [u for u in body if len(u.text) >= MIN_LINE_CHARS] or body
    chosen: list[ScoredUnit] = []
    for unit in sorted(informative, key=lambda u: -u.score):
        if unit.score < best - 0.1 or len(chosen) == LINES_PER_TOPIC:
            break
        tokens = set(data.unit_tokens[unit.index])
        if all(_jaccard(tokens, set(data.unit_tokens[c.index])) < 0.5 for c in chosen):
            chosen.append(unit)
    return chosen or [max(body, key=lambda u: u.score)]


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def topic_title(chunk: Chunk) -> str:
    return chunk.heading_path[-1] if len(chunk.heading_path) > 1 else chunk.source


def overview_title(topics: list[tuple[Chunk, list[ScoredUnit]]]) -> str:
    lectures = list(dict.fromkeys(c.heading_path[1] if len(c.heading_path) > 1 else c.heading_path[0]
                                  for c, _ in topics))
    return " / ".join(lectures[:2])


def render_line(unit: ScoredUnit, citations: CitationList, errata: list[Erratum]) -> str:
    """A cited bullet; a sentence the errata flag is struck through with the correction below."""
    text, correction = render_with_errata(unit.text, errata)
    line = f"- {text} [{citations.cite(unit.chunk)}]"
    return line if correction is None else f"{line}\n  - {correction}"


def compose_answer(evidence: Evidence, errata: list[Erratum], header: list[str] | None = None) -> tuple[str, tuple[Citation, ...]]:
    """Markdown in the notes' format from the chosen evidence, plus its citations."""
    citations = CitationList()
    lines = list(header or [])
    overview = overview_title(evidence.topics)
    lines += [f"**{overview}**", ""]
    used = set()
    for chunk, units in evidence.topics:
        title = topic_title(chunk)
        lines.append(f"**{'핵심 내용' if title == overview else title}**")
        for unit in units:
            lines.append(render_line(unit, citations, errata))
            used.add(unit.text)
        lines.append("")
    lines.append("**TL;DR**")
    tldr = [u for u in evidence.summary if u.text not in used] or [evidence.topics[0][1][0]]
    for unit in tldr[:2]:
        lines.append(render_line(unit, citations, errata))
    lines += ["", citations.render()]
    return "\n".join(lines), citations.citations()


def compose_abstention(hits: list[Hit], reason: str = "") -> tuple[str, tuple[Citation, ...]]:
    """The honest 'not in the notes' answer, listing the nearest sections."""
    citations = CitationList()
    nearest = []
    for hit in hits:
        if hit.chunk.section_key not in [c.section_key for c in citations.sources]:
            nearest.append(f"- {' › '.join(hit.chunk.heading_path[1:]) or hit.chunk.source} [{citations.cite(hit.chunk)}]")
        if len(nearest) == 3:
            break
    lines = [f"**{ABSTAIN_TEXT}**", ""]
    if reason:
        lines += [f"**{reason}**", ""]
    if nearest:
        lines += ["**가장 가까운 노트 섹션**", *nearest, ""]
    lines += ["**TL;DR**", "- 노트에 없는 내용은 추측하지 않습니다. 노트에 내용을 추가한 뒤 다시 물어보세요.", ""]
    if citations.sources:
        lines.append(citations.render())
    return "\n".join(lines).rstrip() + "\n", citations.citations()


def check_citations(markdown: str, citations: tuple[Citation, ...]) -> None:
    """Raise if any `[n]` in the answer body does not resolve to a listed source."""
    body = markdown.split("\n출처\n")[0]
    numbers = {int(n) for n in CITATION.findall(body)}
    valid = {c.n for c in citations}
    if not numbers <= valid:
        raise AssertionError(f"unresolved citations {sorted(numbers - valid)}")
