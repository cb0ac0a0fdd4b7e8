"""Turning answers and notes into what the page shows, with every foreign string escaped.

Nothing here imports Gradio. The chat shows Markdown: the user's text is
escaped so it renders literally, and an answer keeps its Markdown (bold,
~~strike~~, lists) but can hold no HTML tag. The sources panel is HTML built
here, where every note string goes through `esc`.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from rag.conversation import Turn
from rag.types import Answer, Chunk

MODE_LABELS = {"auto": "자동", "qa": "질문", "exam": "시험", "verify": "검증"}
MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")
CITED_LINE = re.compile(r"^\s*[-*]\s+(.*?)\s*((?:\[\d+\]\s*)+)$")
STRIKE_OR_BOLD = re.compile(r"~~|\*\*")
BULLET = re.compile(r"\s*(?:[-*+]|\d+[.)])\s+")
NOTE_SENTENCE = re.compile(r"\S.*?(?:[.!?](?=\s|$)|$)")
MIN_QUOTE = 6
PREVIEW_CHARS = 300


@dataclass(frozen=True)
class Source:
    """One citation of an answer: the chunk and the answer sentences that cite it."""

    n: int
    chunk: Chunk
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class ChatTurn:
    """One question and its reply, with what the sources panel and follow-ups need.

    `mode` is the mode the assistant answered in, or "" when the turn holds a
    refusal or an error instead of an answer.
    """

    number: int
    user_markdown: str
    reply_markdown: str
    question: str = ""
    mode: str = ""
    sources: tuple[Source, ...] = ()
    topic: str = ""
    context: str | None = None
    seconds: float = 0.0

    @property
    def answered(self) -> bool:
        return bool(self.mode)

    def as_conversation(self) -> Turn:
        return Turn(self.question, self.topic, self.context)


def esc(text: str) -> str:
    """HTML-escape, including the characters Gradio's HTML templates treat specially."""
    return html.escape(text).replace("$", "&#36;").replace("{", "&#123;").replace("}", "&#125;")


def literal_markdown(text: str) -> str:
    """Markdown that renders `text` exactly as typed: no tags, no formatting."""
    lines = [MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(line.strip(), quote=False)) for line in text.splitlines()]
    return "\n".join(lines)


def safe_markdown(markdown: str) -> str:
    """An answer's Markdown with HTML neutralised; formatting and links stay, images become text."""
    return markdown.replace("&", "&amp;").replace("<", "&lt;").replace("![", "!\\[")


def preview(text: str) -> str:
    """The user's message as shown in the chat, clipped when huge."""
    if len(text) <= PREVIEW_CHARS * 4:
        return literal_markdown(text)
    return literal_markdown(text[:PREVIEW_CHARS]) + f" … *({len(text):,}자)*"


def cited_sentences(markdown: str) -> dict[int, list[str]]:
    """For each citation number, the answer lines that cite it, without markup."""
    out: dict[int, list[str]] = {}
    for line in markdown.splitlines():
        match = CITED_LINE.match(line)
        if not match:
            continue
        sentence = STRIKE_OR_BOLD.sub("", match.group(1)).strip()
        for n in re.findall(r"\d+", match.group(2)):
            out.setdefault(int(n), []).append(sentence)
    return out


def sources_of(answer: Answer) -> tuple[Source, ...]:
    cited = cited_sentences(answer.answer_markdown)
    return tuple(Source(c.n, c.chunk, tuple(cited.get(c.n, ()))) for c in answer.citations)


def topic_of(answer: Answer) -> str:
    """The heading of the first cited section, which follow-up questions inherit."""
    if answer.abstained or not answer.citations:
        return ""
    return answer.citations[0].chunk.heading_path[-1]


def messages(turns: list[ChatTurn]) -> list[dict]:
    """The chatbot value: one user and one assistant message per turn."""
    out = []
    for turn in turns:
        out.append({"role": "user", "content": turn.user_markdown})
        out.append({"role": "assistant", "content": turn.reply_markdown})
    return out


def cited_spans(line: str, sentences: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where `line` holds cited text: an answer sentence found in the line, or a
    sentence of the line quoted inside an answer line ("노트: …", "노트 원문: …")."""
    spans = []
    for sentence in sentences:
        start = line.find(sentence) if sentence else -1
        if start >= 0:
            spans.append((start, start + len(sentence)))
    bullet = BULLET.match(line)
    offset = bullet.end() if bullet else 0
    for piece in NOTE_SENTENCE.finditer(line, offset):
        text = piece.group(0).strip()
        if len(text) >= MIN_QUOTE and any(text in sentence for sentence in sentences):
            spans.append((piece.start(), piece.start() + len(text)))
    return sorted(spans)


def highlight(line: str, sentences: tuple[str, ...]) -> str:
    """`line` as HTML with every cited sentence in it wrapped in <mark>."""
    out, position = [], 0
    for start, end in cited_spans(line, sentences):
        if start < position:
            continue
        out += [esc(line[position:start]), "<mark>", esc(line[start:end]), "</mark>"]
        position = end
    out.append(esc(line[position:]))
    return "".join(out)


def location(chunk: Chunk) -> str:
    return " › ".join((chunk.source, *chunk.heading_path))


def line_html(line: str, number: int | None, sentences: tuple[str, ...]) -> str:
    marked = highlight(line, sentences)
    value = "" if number is None else f" value={number}"
    cited = " class=rag-cited" if "<mark>" in marked else ""
    return f"<li{value}{cited}>{marked}</li>"


def source_html(turn: int, source: Source) -> str:
    """One citation as a collapsible block: location, line span, and the text with cited lines marked."""
    chunk = source.chunk
    lines = chunk.text.splitlines()
    numbered = len(lines) == chunk.line_end - chunk.line_start + 1
    items = "".join(line_html(line, chunk.line_start + i if numbered else None, source.sentences)
                    for i, line in enumerate(lines))
    return (f'<details class="rag-src" id="rag-src-{turn}-{source.n}" data-n="{source.n}">'
            f'<summary><span class="rag-n">[{source.n}]</span> <span class="rag-path">{esc(location(chunk))}</span> '
            f'<span class="rag-span">L{chunk.line_start}–L{chunk.line_end}</span></summary>'
            f'<ol class="rag-lines{"" if numbered else " rag-unnumbered"}">{items}</ol></details>')


def sources_panel(turns: list[ChatTurn]) -> str:
    """The sources of every answered turn, newest first, each citation collapsible."""
    answered = [t for t in reversed(turns) if t.sources]
    if not answered:
        return ('<div class="rag-sources"><p class="rag-empty">답변의 출처가 여기에 표시됩니다. '
                '답변 속 <b>[1]</b> 같은 번호를 누르면 그 출처가 열립니다.</p></div>')
    sections = []
    for turn in answered:
        question = turn.question if len(turn.question) <= 120 else turn.question[:120] + "…"
        mode = MODE_LABELS.get(turn.mode, turn.mode)
        context = (f'<p class="rag-context">이어지는 질문으로 보고 함께 검색: “{esc(turn.context)}”</p>'
                   if turn.context else "")
        sections.append(
            f'<section class="rag-turn" id="rag-turn-{turn.number}"><header>'
            f'<span class="rag-turn-n">#{turn.number}</span> <span class="rag-mode">{mode}</span> '
            f'<span class="rag-q">{esc(question)}</span> <span class="rag-time">{turn.seconds:.1f}s</span></header>'
            f'{context}{"".join(source_html(turn.number, s) for s in turn.sources)}</section>')
    return '<div class="rag-sources">' + "".join(sections) + "</div>"
