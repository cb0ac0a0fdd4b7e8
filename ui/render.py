"""Turning answers and notes into what the page shows, with every foreign string escaped.

Nothing here imports Gradio. The chat shows Markdown: the user's text is
escaped so it renders literally, and an answer keeps its Markdown (bold,
~~strike~~, lists) but can hold no HTML tag. Note lines (in the sources
panel, the bottom sheet and the notes browser) are rendered from their own
Markdown with raw HTML disabled, so `\\[` reads `[` and `-   ` becomes a
bullet. `honesty_lines` and `honesty_label` say how sure an exam or verify
answer is, wherever such an answer appears.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

from rag.conversation import Turn
from rag.types import Answer, Chunk

MODE_LABELS = {"auto": "자동", "qa": "질문", "exam": "시험", "verify": "검증"}
VERDICT_LABELS = {"supported": "✓ 노트와 일치", "contradicted": "✗ 노트와 다름", "not_covered": "? 노트로 확인할 수 없음"}
UNCERTAIN = "불확실"
STALE = "이전 색인으로 답함"
PROVISIONAL = "빠른 검색 (색인 중)"
MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$])")
CITED_LINE = re.compile(r"^\s*[-*]\s+(.*?)\s*((?:\[\d+\]\s*)+)$")
STRIKE_OR_BOLD = re.compile(r"~~|\*\*")
BULLET = re.compile(r"\s*(?:[-*+]|\d+[.)])\s+")
NOTE_SENTENCE = re.compile(r"\S.*?(?:[.!?](?=\s|$)|$)")
NOTE_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
NOTE_BULLET = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
MIN_QUOTE = 6
PREVIEW_CHARS = 300
MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"  # private-use code points: where <mark> goes once rendered
INLINE = MarkdownIt("commonmark", {"html": False}).enable("strikethrough").disable(["image", "link", "autolink"])


@dataclass(frozen=True)
class Source:
    """One citation of an answer: the chunk and the answer sentences that cite it."""

    n: int
    chunk: Chunk
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class ChatTurn:
    """One question and its reply, with what the sources panel, follow-ups, feedback and re-asking need.

    `mode` is the mode the assistant answered in, or "" when the turn holds a
    refusal or an error instead of an answer. `topic` and `context` are what
    `rag.conversation.turn_of` takes from the answer for the next follow-up.
    `record` is the answer's JSON (`Answer.to_json()` without its hits);
    `options` are the exam options asked with; `searched_with` says how the
    answer was searched (retriever, model, note pieces found).
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
    record: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    searched_with: str = ""  # the retriever, model and number of note pieces the answer was searched with

    @property
    def answered(self) -> bool:
        return bool(self.mode)

    def as_conversation(self) -> Turn:
        """The turn as the engine's follow-up rules read it (`rag.conversation.turn_of`)."""
        return Turn(self.record.get("question", self.question), self.topic, self.context)


def esc(text: str) -> str:
    """HTML-escape, including the characters Gradio's HTML templates treat specially."""
    return template_safe(html.escape(text))


def template_safe(markup: str) -> str:
    """HTML whose `$`, `{` and `}` cannot start a Gradio template expression."""
    return markup.replace("$", "&#36;").replace("{", "&#123;").replace("}", "&#125;")


def literal_markdown(text: str) -> str:
    """Markdown that renders `text` exactly as typed: no tags, no formatting."""
    lines = [MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(line.strip(), quote=False)) for line in text.splitlines()]
    return "\n".join(lines)


def code_span(text: str) -> str:
    """`text` as one Markdown code span, shown literally whatever backticks it holds."""
    flat = " ".join(text.split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    return f"{fence} {flat} {fence}"


def safe_markdown(markdown: str) -> str:
    """An answer's Markdown with HTML neutralised; formatting and links stay, images become text."""
    return markdown.replace("&", "&amp;").replace("<", "&lt;").replace("![", "!\\[")


def preview(text: str) -> str:
    """The user's message as shown in the chat, clipped when huge."""
    if len(text) <= PREVIEW_CHARS * 4:
        return literal_markdown(text)
    return literal_markdown(text[:PREVIEW_CHARS]) + f" … *({len(text):,}자)*"


# ---- honesty: how sure an answer is ------------------------------------------------------

def confidence_text(record: dict) -> str:
    """"확신도 42%" for an exam or verify answer ("확신도 정보 없음" when the answerer gave none); "" otherwise."""
    if record.get("mode") not in ("exam", "verify"):
        return ""
    value = record.get("confidence")
    return "확신도 정보 없음" if value is None else f"확신도 {round(float(value) * 100)}%"


def honesty_label(record: dict) -> str:
    """One plain line for tables and study sheets: 불확실, the confidence, and the stale and provisional marks."""
    parts = [UNCERTAIN] if record.get("uncertain") and record.get("mode") in ("exam", "verify") else []
    marks = (STALE if record.get("stale") else "", PROVISIONAL if record.get("provisional") else "")
    parts += [p for p in (confidence_text(record), *marks) if p]
    return " · ".join(parts)


def verdict_lines(record: dict) -> list[str]:
    """Verify mode: one Markdown line per judged sentence, with the page's wording for each verdict."""
    return [f"- {VERDICT_LABELS.get(v.get('verdict'), v.get('verdict', ''))}: {literal_markdown(v.get('sentence', ''))}"
            for v in record.get("verdicts") or []]


def honesty_lines(record: dict) -> list[str]:
    """Markdown lines shown above an answer: the index marks, 불확실 and the confidence (exam, verify), verdicts."""
    lines = []
    if record.get("stale"):
        lines.append(f"*{STALE}* (노트의 새 색인을 만들지 못해 색인 {literal_markdown(record.get('generation', ''))}로 답했습니다)")
    if record.get("provisional"):
        lines.append(f"*{PROVISIONAL}*: 첫 색인을 만드는 동안 BM25 검색만으로 답했습니다. 색인이 끝나면 e5와 BM25를 함께 씁니다.")
    confidence = confidence_text(record)
    if confidence:
        uncertain = f"⚠ **{UNCERTAIN}** · " if record.get("uncertain") else ""
        lines.append(f"{uncertain}{confidence}")
    verdicts = verdict_lines(record)
    if verdicts:
        lines += ["", "**문장별 판정**", *verdicts]
    return lines


def reply_markdown(record: dict) -> str:
    """The chat message for an answer: honesty lines, the answer, and the text that was searched."""
    head = honesty_lines(record)
    searched = record.get("retrieval_text") or record.get("question") or ""
    parts = ["\n".join(head)] if head else []
    parts += [safe_markdown(record["answer_markdown"]), f"검색: {code_span(searched)}"]
    return "\n\n".join(parts)


# ---- answers: sources and follow-up topics -----------------------------------------------

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


def messages(turns: list[ChatTurn] | tuple[ChatTurn, ...]) -> list[dict]:
    """The chatbot value: one user and one assistant message per turn."""
    out = []
    for turn in turns:
        out.append({"role": "user", "content": turn.user_markdown})
        out.append({"role": "assistant", "content": turn.reply_markdown})
    return out


# ---- note lines ---------------------------------------------------------------------------

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


def with_marks(line: str, spans: list[tuple[int, int]]) -> str:
    """`line` with mark sentinels around each non-overlapping span."""
    out, position = [], 0
    for start, end in spans:
        if start < position:
            continue
        out += [line[position:start], MARK_OPEN, line[start:end], MARK_CLOSE]
        position = end
    out.append(line[position:])
    return "".join(out)


def inline_html(text: str) -> str:
    """One line of note Markdown as inline HTML: emphasis, code and strike rendered, raw HTML shown as text."""
    rendered = INLINE.renderInline(text).replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>")
    return template_safe(rendered)


def marked_text_html(text: str) -> str:
    """Plain text as HTML, with its mark sentinels turned into <mark>."""
    return esc(text).replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>")


def note_line_html(line: str, in_fence: bool = False, spans: list[tuple[int, int]] | None = None) -> tuple[str, str]:
    """(CSS class, inner HTML) of one note line; `spans` are character ranges to highlight."""
    marked = with_marks(line, spans or [])
    if in_fence or line.strip().startswith("```"):
        return "rag-code", marked_text_html(marked)
    heading = NOTE_HEADING.match(marked)
    if heading:
        level = len(heading.group(1))
        return f"rag-h rag-h{level}", inline_html(heading.group(2))
    bullet = NOTE_BULLET.match(marked)
    if bullet:
        depth = len(bullet.group(1).replace("\t", "    ")) // 2
        marker = "•" if bullet.group(2) in "-*+" else esc(bullet.group(2))
        return (f"rag-li rag-depth-{min(depth, 6)}",
                f'<span class="rag-bullet">{marker}</span>{inline_html(bullet.group(3))}')
    if marked.lstrip().startswith(">"):
        return "rag-quote", inline_html(marked.lstrip()[1:].lstrip())
    if marked.lstrip().startswith("|"):
        return "rag-code", marked_text_html(marked)
    return "rag-p", inline_html(marked)


def location_html(chunk: Chunk) -> str:
    """"file › heading › heading" with each heading's Markdown rendered (`\\[SAA]` reads `[SAA]`)."""
    return " › ".join((esc(chunk.source), *(inline_html(h) for h in chunk.heading_path)))


def line_html(line: str, number: int | None, sentences: tuple[str, ...]) -> str:
    css, inner = note_line_html(line, spans=cited_spans(line, sentences))
    value = "" if number is None else f" value={number}"
    cited = " rag-cited" if "<mark>" in inner else ""
    return f'<li{value} class="{css}{cited}">{inner}</li>'


def open_note_button(chunk: Chunk) -> str:
    """A button that opens the notes browser at the chunk's lines."""
    return (f'<button type="button" class="rag-open-note" data-file="{esc(chunk.source)}" '
            f'data-start="{chunk.line_start}" data-end="{chunk.line_end}">노트에서 보기</button>')


def source_html(turn: int | str, source: Source) -> str:
    """One citation as a collapsible block: location, line span, the rendered lines with cited ones marked."""
    chunk = source.chunk
    lines = chunk.text.splitlines()
    numbered = len(lines) == chunk.line_end - chunk.line_start + 1
    items = "".join(line_html(line, chunk.line_start + i if numbered else None, source.sentences)
                    for i, line in enumerate(lines))
    return (f'<details class="rag-src" id="rag-src-{turn}-{source.n}" data-n="{source.n}">'
            f'<summary><span class="rag-n">[{source.n}]</span> <span class="rag-path">{location_html(chunk)}</span> '
            f'<span class="rag-span">L{chunk.line_start}–L{chunk.line_end}</span></summary>'
            f'<ol class="rag-lines{"" if numbered else " rag-unnumbered"}">{items}</ol>'
            f'{open_note_button(chunk)}</details>')


def sources_panel(turns: list[ChatTurn] | tuple[ChatTurn, ...]) -> str:
    """The sources of every answered turn, newest first, each citation collapsible."""
    answered = [t for t in reversed(turns) if t.sources]
    if not answered:
        return ('<div class="rag-sources"><p class="rag-empty">답변의 출처가 여기에 표시됩니다. '
                '답변 속 <b>[1]</b> 같은 번호를 누르면 그 출처가 열립니다.</p></div>')
    sections = []
    for turn in answered:
        question = turn.question if len(turn.question) <= 120 else turn.question[:120] + "…"
        mode = MODE_LABELS.get(turn.mode, turn.mode)
        context = (f'<p class="rag-context rag-follow-up">이어지는 질문으로 보고 함께 검색: “{esc(turn.context)}”</p>'
                   if turn.context else "")
        searched = f'<p class="rag-context rag-searched">{esc(turn.searched_with)}</p>' if turn.searched_with else ""
        sections.append(
            f'<section class="rag-turn" id="rag-turn-{turn.number}"><header>'
            f'<span class="rag-turn-n">#{turn.number}</span> <span class="rag-mode">{mode}</span> '
            f'<span class="rag-q">{esc(question)}</span> <span class="rag-time">{turn.seconds:.1f}s</span></header>'
            f'{searched}{context}{"".join(source_html(turn.number, s) for s in turn.sources)}</section>')
    return '<div class="rag-sources">' + "".join(sections) + "</div>"
