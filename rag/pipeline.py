"""The answer stage's one interface: a typed request in, a typed mode result out.

Every mode (question answering, exam, verify, and a writer layered on top)
has the same shape:

    mode.plan(request)            -> what to retrieve (text, dense models)
    mode.answer(request, context) -> ModeResult

`Assistant.ask` cleans the question, picks the mode, retrieves what the
mode's plan asks for, builds an `AnswerContext` and calls `answer`. It has no
mode-specific branches beyond that dispatch. A mode sees only the narrow
context (the index state it reads, the request's query and hits, the
embedders, its parameters, and a way to search again), never the assistant.

Inside a mode, *selecting* evidence and *rendering* it are separate steps:
`ModeResult.evidence` holds what was selected, so a writer can render the
same evidence differently. Citations are validated once, here: a `[n]` that
does not resolve is dropped and counted, the way paper-qa drops an invented
citation, instead of failing the request.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Protocol

from rag.embed import Embedder
from rag.errata import Erratum
from rag.index import IndexData
from rag.params import AnswerParams
from rag.retrieve import Query
from rag.types import Citation, Hit, Verdict

MODES = ("auto", "qa", "exam", "verify")
CITATION = re.compile(r" ?\[(\d+)\]")


@dataclass(frozen=True)
class AskOptions:
    """One request's own choices. They never change the assistant's settings or its index."""

    mode: str = "auto"
    retriever: str | None = None  # hybrid | dense | bm25; None = the configured one
    top_k: int | None = None
    embedder: str | None = None  # one of the indexed dense models; None = the configured ones
    writer: str | None = None  # extractive | openai (rag/writer.py); None = the configured one

    @property
    def custom_retrieval(self) -> bool:
        return self.retriever is not None or self.top_k is not None or self.embedder is not None


@dataclass(frozen=True)
class Request:
    """A cleaned question with its resolved mode."""

    question: str
    mode: str  # qa | exam | verify
    options: dict[str, str] = field(default_factory=dict)  # exam answer options, letter -> text
    context: str | None = None  # earlier conversation text that retrieval adds
    ask: AskOptions = AskOptions()


@dataclass(frozen=True)
class RetrievalPlan:
    """What a mode wants retrieved for a request, and other texts it will encode, per model, so that they go
    in the same model call as the query (`Query.encode_with`)."""

    text: str
    models: tuple[str, ...]
    companions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    embed_texts: tuple[tuple[str, str], ...] = ()  # (model, text) where a model's query vector is not made of `text`


@dataclass(frozen=True)
class AnswerContext:
    """Everything a mode may read while answering one request."""

    data: IndexData
    errata: list[Erratum]
    idf: dict[str, float]
    query: Query
    hits: list[Hit]
    model_id: str  # scores sentences
    option_model: str  # scores exam options
    embedders: dict[str, Embedder]
    params: AnswerParams
    search: Callable[[Query], list[Hit]]  # retrieve another query with the configured retriever


@dataclass(frozen=True)
class ModeResult:
    """What every mode returns: the evidence it chose, the rendered answer, and the mode's extras."""

    evidence: tuple = ()  # the selected note lines (ScoredUnit), in answer order
    markdown: str = ""
    citations: tuple[Citation, ...] = ()
    abstained: bool = False
    choice: str | None = None  # exam: the picked letter
    is_correct: bool | None = None  # verify: all supported → True, any contradicted → False, else None
    verdicts: tuple[Verdict, ...] | None = None  # verify: one per sentence
    confidence: float | None = None  # exam and verify: 0..1
    uncertain: bool = False


class Mode(Protocol):
    name: str

    def plan(self, request: Request, models: tuple[str, ...], option_model: str) -> RetrievalPlan:
        """The text and dense models to retrieve with."""

    def answer(self, request: Request, context: AnswerContext) -> ModeResult:
        """Select evidence and render the answer."""


def default_plan(request: Request, models: tuple[str, ...]) -> RetrievalPlan:
    """The question, after any conversation context, with the request's models."""
    text = request.question if not request.context else f"{request.context} {request.question}"
    return RetrievalPlan(text, models)


def validate_citations(markdown: str, citations: tuple[Citation, ...]) -> tuple[str, int]:
    """The markdown with every `[n]` that resolves to no listed source removed, and how many were removed."""
    body, sep, sources = markdown.partition("\n출처\n")
    valid = {c.n for c in citations}
    dropped = 0

    def keep(match: re.Match) -> str:
        nonlocal dropped
        if int(match.group(1)) in valid:
            return match.group(0)
        dropped += 1
        return ""

    body = CITATION.sub(keep, body)
    return body + sep + sources, dropped
