"""The notes browser's content: the notes rendered line by line, their headings, and search.

Every note line becomes one element carrying its file and line number
(`data-file`, `data-line`), so a citation can open the browser at its lines
and highlight them. Lines are rendered from their own Markdown
(`ui.render.note_line_html`); a line the errata correct is struck through
with the correction under it. Search runs BM25 over the index's note
sentences with the index's own tokens (Kiwi morphemes, whole English
terms, the glossary's other-language terms added to the query).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag.errata import Erratum, render_with_errata
from rag.index import IndexData
from rag.lexical import BM25, expand_query, tokenize
from rag.notes import BOLD_TITLE, COURSE_TAG, HEADING, LECTURE_LEVEL, heading_text, read_note
from ui.render import esc, inline_html, marked_text_html, note_line_html, with_marks

MAX_RESULTS = 30
TOC_DEPTH = 4


@dataclass(frozen=True)
class NoteFile:
    source: str  # the path under the corpus folder, as citations name it
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Heading:
    source: str
    line: int
    level: int
    text: str


@dataclass(frozen=True)
class Match:
    source: str
    line: int
    text: str
    heading: str
    score: float
    spans: tuple[tuple[int, int], ...]


def read_notes(corpus_dir: Path) -> list[NoteFile]:
    """Every `*.md` under `corpus_dir`, named as the index names them."""
    files = sorted(p for p in corpus_dir.rglob("*.md") if p.is_file()) if corpus_dir.is_dir() else []
    return [NoteFile(p.relative_to(corpus_dir).as_posix(), tuple(read_note(p))) for p in files]


def headings_of(note: NoteFile) -> list[Heading]:
    """Heading lines and bold title lines, with the level the chunker gives them."""
    out, level, in_fence = [], 0, False
    for number, line in enumerate(note.lines, 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if in_fence:
            continue
        heading = HEADING.match(stripped)
        if heading:
            level = len(heading.group(1))
            out.append(Heading(note.source, number, level, heading_text(heading.group(2))))
        elif BOLD_TITLE.match(stripped):
            text = heading_text(stripped)
            out.append(Heading(note.source, number, LECTURE_LEVEL if COURSE_TAG.match(text) else level + 1, text))
    return out


def line_attrs(source: str, line: int) -> str:
    return f'data-file="{esc(source)}" data-line="{line}"'


def render_note(note: NoteFile, errata: list[Erratum]) -> str:
    """One file as HTML: a row per line (number, rendered text), corrections under errata lines."""
    rows, in_fence = [], False
    for number, line in enumerate(note.lines, 1):
        fence = line.strip().startswith("```")
        struck, correction = (line, None) if in_fence or fence else render_with_errata(line, errata)
        css, inner = note_line_html(struck, in_fence=in_fence)
        fix = f'<div class="rag-erratum">{inline_html(correction)}</div>' if correction else ""
        rows.append(f'<div class="rag-nl {css}{" rag-corrected" if correction else ""}" {line_attrs(note.source, number)}>'
                    f'<span class="rag-ln">{number}</span><div class="rag-lt">{inner or "&nbsp;"}{fix}</div></div>')
        if fence:
            in_fence = not in_fence
    return (f'<section class="rag-note-file" data-file="{esc(note.source)}">'
            f'<h3 class="rag-note-title">{esc(note.source)}</h3>{"".join(rows)}</section>')


def render_notes(notes: list[NoteFile], errata: list[Erratum]) -> str:
    if not notes:
        return '<p class="rag-empty">노트가 없습니다. corpus/ 폴더에 Markdown 노트(*.md)를 넣고 재색인하세요.</p>'
    return '<div class="rag-notes">' + "".join(render_note(n, errata) for n in notes) + "</div>"


def toc_html(notes: list[NoteFile]) -> str:
    """Heading navigation: one link per heading, indented by level."""
    parts = []
    for note in notes:
        links = "".join(
            f'<a href="#" class="rag-toc-link rag-toc-{min(h.level, TOC_DEPTH)}" {line_attrs(h.source, h.line)}>'
            f"{inline_html(h.text)}</a>"
            for h in headings_of(note) if h.level <= TOC_DEPTH)
        parts.append(f'<div class="rag-toc-file"><b>{esc(note.source)}</b>{links}</div>')
    return '<nav class="rag-toc">' + "".join(parts) + "</nav>"


class NoteSearch:
    """BM25 over the index's note sentences, built once per index generation."""

    def __init__(self, data: IndexData) -> None:
        self.data = data
        self.bm25 = BM25.fit(data.unit_tokens)
        self.chunks = {c.chunk_id: c for c in data.chunks}

    def search(self, query: str, limit: int = MAX_RESULTS) -> list[Match]:
        tokens = tokenize(expand_query(query))
        if not tokens:
            return []
        out, seen = [], set()
        for i, score in self.bm25.top(tokens, limit * 3):  # several sentences of one line count once
            unit = self.data.units[i]
            chunk = self.chunks[unit.chunk_id]
            if (chunk.source, unit.line) in seen:
                continue
            seen.add((chunk.source, unit.line))
            out.append(Match(chunk.source, unit.line, unit.text, chunk.heading_path[-1], score,
                             term_spans(unit.text, tokens)))
            if len(out) == limit:
                break
        return out


def term_spans(text: str, tokens: list[str]) -> tuple[tuple[int, int], ...]:
    """Where the query's tokens occur in `text` (case-insensitive), merged."""
    lowered, spans = text.lower(), []
    for token in set(tokens):
        start = lowered.find(token)
        while start >= 0:
            spans.append((start, start + len(token)))
            start = lowered.find(token, start + len(token))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def results_html(query: str, matches: list[Match]) -> str:
    if not query.strip():
        return ""
    if not matches:
        return f'<p class="rag-empty">“{esc(query)}”에 맞는 노트 문장이 없습니다.</p>'
    items = "".join(
        f'<li><button type="button" class="rag-open-note rag-result" data-file="{esc(m.source)}" '
        f'data-start="{m.line}" data-end="{m.line}"><span class="rag-span">L{m.line}</span> '
        f'<span class="rag-path">{inline_html(m.heading)}</span><br>'
        f"{marked_text_html(with_marks(m.text, list(m.spans)))}"
        f"</button></li>" for m in matches)
    return f'<div class="rag-results-box"><p class="rag-count">{len(matches)}개 문장</p><ol class="rag-results">{items}</ol></div>'
