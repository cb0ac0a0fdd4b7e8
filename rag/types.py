"""The data types that flow through the pipeline: note → chunk → hit → answer.

Every type is a small frozen dataclass. A `Chunk` is one piece of one note
section; a `Hit` is a chunk found for a query, with its score; an `Answer`
holds the composed Markdown plus everything the JSON output needs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


GENERIC_HEADINGS = frozenset({"개요", "overview", "introduction"})  # headings that name no topic of their own


def section_title(heading_path: tuple[str, ...]) -> str:
    """The deepest heading below the root that names the topic; a generic one (개요) gives way to its parent."""
    below_root = heading_path[1:] or heading_path
    return next((h for h in reversed(below_root) if h.strip().lower() not in GENERIC_HEADINGS), below_root[-1])


@dataclass(frozen=True)
class Chunk:
    """One indexed piece of a note section.

    `heading_path` lists heading texts from the top (`SOA 시험 대비`) down to the
    section, as written on their lines without `#` and `**`. `is_summary` marks
    a lecture's summary block (`정리`); `lang` is the language of its prose.
    Lines are 1-based and inclusive, in the source file.
    """

    chunk_id: str
    source: str
    heading_path: tuple[str, ...]
    line_start: int
    line_end: int
    text: str
    token_count: int
    is_summary: bool = False
    lang: str = "ko"  # the language of the chunk's prose (rag.language.chunk_language)

    @property
    def section_key(self) -> tuple[str, tuple[str, ...]]:
        """Identifies the section this chunk belongs to (file + heading path)."""
        return (self.source, self.heading_path)

    def location(self) -> dict:
        """The citation-style location fields shared by hits and citations."""
        return {
            "chunk_id": self.chunk_id,
            "source": self.source,
            "heading_path": list(self.heading_path),
            "line_start": self.line_start,
            "line_end": self.line_end,
        }


@dataclass(frozen=True)
class Hit:
    """A chunk retrieved for a query. Higher scores are better."""

    chunk: Chunk
    score: float

    def to_json(self, rank: int) -> dict:
        return {"rank": rank, **self.chunk.location(), "score": round(float(self.score), 6)}


@dataclass(frozen=True)
class Citation:
    """A numbered source listed under an answer; `n` is what `[n]` refers to."""

    n: int
    chunk: Chunk

    def to_json(self) -> dict:
        return {"n": self.n, **self.chunk.location()}


@dataclass(frozen=True)
class Verdict:
    """Verify mode's judgement of one sentence of the user's statement."""

    sentence: str
    verdict: str  # "supported" | "contradicted" | "not_covered"
    wrong_span: str | None
    correction: str | None
    citations: tuple[int, ...] = ()
    evidence: str | None = None  # the note sentence that supports or contradicts it; None when not covered
    nearest: tuple[str, ...] = ()  # when not covered: the closest note sentences, which neither support nor contradict it

    def to_json(self) -> dict:
        return {**asdict(self), "citations": list(self.citations), "nearest": list(self.nearest)}


@dataclass(frozen=True)
class Answer:
    """A composed answer with everything `rag ask --json` prints."""

    question: str
    mode: str
    answer_markdown: str
    abstained: bool
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    choice: str | None = None
    is_correct: bool | None = None
    verdicts: tuple[Verdict, ...] | None = None
    timings_ms: dict = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    retrieval_text: str = ""  # the text actually searched (the question, plus follow-up context or exam options)
    confidence: float | None = None  # exam and verify: 0..1, how sure the answerer is
    uncertain: bool = False  # exam and verify: shown as 불확실 wherever the answer appears
    generation: str = ""  # the index generation that answered
    stale: bool = False  # answered from an older generation because the notes' new one could not be built
    provisional: bool = False  # answered by BM25 alone while the first index was being built
    citations_dropped: int = 0  # `[n]` markers that resolved to no source and were removed
    writer: dict | None = None  # the LLM writer's kind, model, lines kept/dropped/marked and fallback reason

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "mode": self.mode,
            "answer_markdown": self.answer_markdown,
            "abstained": self.abstained,
            "citations": [c.to_json() for c in self.citations],
            "hits": [h.to_json(rank) for rank, h in enumerate(self.hits[:10], 1)],
            "choice": self.choice,
            "is_correct": self.is_correct,
            "verdicts": None if self.verdicts is None else [v.to_json() for v in self.verdicts],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "retrieval_text": self.retrieval_text,
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
            "uncertain": bool(self.uncertain),  # exam scores are numpy values: a numpy bool is no JSON
            "generation": self.generation,
            "stale": self.stale,
            "provisional": self.provisional,
            "citations_dropped": self.citations_dropped,
            "writer": self.writer,
        }
