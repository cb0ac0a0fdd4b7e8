"""Rendering chosen evidence in the notes' own format, and question mode.

The user's custom instructions ask for: an overview title, one or more topic
titles with their contents, and a TL;DR, in Korean. Nothing is generated:
every content line is a sentence or bullet of the notes, chosen by
`rag/evidence.py`, and cited as `[n]`. Citations are numbered by first use;
`rag.pipeline.validate_citations` checks them before the answer leaves.

    **<overview title>**

    **<topic title>**
    - <note sentence> [1]

    **TL;DR**
    - <정리 bullet> [1]

    출처
    [1] <file> › <heading path> (L<start>–L<end>)
"""
from __future__ import annotations

from typing import Sequence

from rag.blocks import Block
from rag.errata import Erratum, render_with_errata
from rag.evidence import Evidence, ScoredUnit, gather_evidence, says_something
from rag.lexical import ENGLISH, english_term
from rag.retrieve import Query
from rag.text import has_content
from rag.pipeline import AnswerContext, ModeResult, Request, RetrievalPlan, default_plan
from rag.types import Chunk, Citation, Hit, section_title

ABSTAIN_TEXT = "노트에서 관련 내용을 찾지 못했습니다"


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


def topic_title(chunk: Chunk) -> str:
    return section_title(chunk.heading_path) if len(chunk.heading_path) > 1 else chunk.source


def overview_title(topics: list[tuple[Chunk, list]]) -> str:
    lectures = list(dict.fromkeys(c.heading_path[1] if len(c.heading_path) > 1 else c.heading_path[0]
                                  for c, _ in topics))
    return " / ".join(lectures[:2])


def render_line(unit: ScoredUnit, citations: CitationList, errata: list[Erratum]) -> str:
    """A cited bullet; a sentence the errata flag is struck through with the correction below."""
    return cited_line(unit.text, unit.chunk, citations, errata)


def cited_line(sentence: str, chunk: Chunk, citations: CitationList, errata: list[Erratum]) -> str:
    text, correction = render_with_errata(sentence, errata)
    line = f"- {text} [{citations.cite(chunk)}]"
    return line if correction is None else f"{line}\n  - {correction}"


def render_block(block: Block, citations: CitationList, errata: list[Erratum]) -> list[str]:
    """A block as nested bullets in the notes' order: its head cited, its children under it."""
    out = []
    for line in block.lines:
        text, correction = render_with_errata(line.text, errata)
        indent = "  " * line.depth
        out.append(f"{indent}- {text} [{citations.cite(block.chunk)}]" if line.depth == 0 else f"{indent}- {text}")
        if correction is not None:
            out.append(f"{indent}  - {correction}")
    return out


def compose_answer(evidence: Evidence, errata: list[Erratum]) -> tuple[str, tuple[Citation, ...]]:
    """Markdown in the notes' format from the chosen evidence, plus its citations."""
    citations = CitationList()
    overview = overview_title(evidence.topics)
    lines = [f"**{overview}**", ""]
    for chunk, blocks in evidence.topics:
        title = topic_title(chunk)
        lines.append(f"**{'핵심 내용' if title == overview else title}**")
        for block in blocks:
            lines += render_block(block, citations, errata)
        lines.append("")
    lines.append("**TL;DR**")
    if evidence.summary:
        lines += [render_line(unit, citations, errata) for unit in evidence.summary]
    else:  # the main topic's first line that says something, with its correction when the errata correct it
        block = evidence.topics[0][1][0]
        line = next((line for line in block.lines if says_something(line.text)), block.lines[0])
        lines.append(cited_line(line.text, block.chunk, citations, errata))
    lines += ["", citations.render()]
    return "\n".join(lines), citations.citations()


def compose_abstention(hits: list[Hit], unknown: Sequence[str] = ()) -> tuple[str, tuple[Citation, ...]]:
    """The honest 'not in the notes' answer, listing the names the notes never mention (as code, so a name
    such as `my_var` stays as typed) and the nearest sections."""
    citations = CitationList()
    nearest = []
    for hit in hits:
        if hit.chunk.section_key not in [c.section_key for c in citations.sources]:
            nearest.append(f"- {' › '.join(hit.chunk.heading_path[1:]) or hit.chunk.source} [{citations.cite(hit.chunk)}]")
        if len(nearest) == 3:
            break
    lines = [f"**{ABSTAIN_TEXT}**", ""]
    if unknown:
        lines += ["**노트에 나오지 않는 이름**", "- " + ", ".join(f"`{name}`" for name in unknown), ""]
    if nearest:
        lines += ["**가장 가까운 노트 섹션**", *nearest, ""]
    lines += ["**TL;DR**", "- 노트에 없는 내용은 추측하지 않습니다. 노트에 내용을 추가한 뒤 다시 물어보세요.", ""]
    if citations.sources:
        lines.append(citations.render())
    return "\n".join(lines).rstrip() + "\n", citations.citations()


def unknown_names(question: str, unknown: tuple[str, ...]) -> list[str]:
    """The names the notes never mention (`Evidence.unknown`, normalised), as the question spells them."""
    return list(dict.fromkeys(m.group() for m in ENGLISH.finditer(question) if english_term(m.group()) in unknown))


class QuestionMode:
    """Question mode: the best sections' lines in the notes' format, or an honest abstention."""

    name = "qa"

    def plan(self, request: Request, models: tuple[str, ...], option_model: str) -> RetrievalPlan:
        return default_plan(request, models)

    def answer(self, request: Request, context: AnswerContext) -> ModeResult:
        focus = Query(request.question, context.embedders) if request.context else None
        evidence = gather_evidence(context.query, context.hits, context.data, context.model_id, context.idf,
                                   context.params.compose, focus, context.errata)
        contentless = not has_content(request.question) and not request.context  # a follow-up "왜?" leans on its context
        if contentless or not evidence.covers(context.params.abstain):
            unknown = unknown_names(request.question, evidence.unknown)
            markdown, citations = compose_abstention(context.hits, unknown)
            return ModeResult((), markdown, citations, abstained=True)
        markdown, citations = compose_answer(evidence, context.errata)
        return ModeResult(evidence.blocks + tuple(evidence.summary), markdown, citations)
