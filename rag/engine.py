"""The assistant: keeps the index fresh and answers questions in every mode.

`Assistant` is the one object the CLI, the batch runner, the eval harness
and the web page share. It builds the index on first use, refreshes it when
notes change, and swaps a new generation in atomically: each request reads
one immutable `State`, so no request ever sees half an index.
"""
from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

from rag import index as index_store
from rag.compose import check_citations, compose_abstention, compose_answer, gather_evidence
from rag.embed import Embedder, make_embedder
from rag.errata import Erratum, load_errata, unmatched
from rag.modes import detect_mode, parse_options
from rag.notes import load_corpus
from rag.progress import Progress, silent
from rag.retrieve import LexicalRetriever, Query, make_retriever
from rag.settings import WRITER_KINDS, Settings
from rag.types import Answer, Hit

MODES = ("auto", "qa", "exam", "verify")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class QueryError(ValueError):
    """The question cannot be answered as given; the message says what to do."""


@dataclass(frozen=True)
class State:
    data: index_store.IndexData
    lexical: LexicalRetriever
    errata: list[Erratum]
    generation: str


def clean_question(text: str, max_chars: int) -> tuple[str, tuple[str, ...]]:
    """The question without control characters, truncated with a notice when huge."""
    if not isinstance(text, str):
        raise QueryError("the question must be text")
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates (undecodable argv bytes) become '?'
    text = CONTROL.sub(" ", text).strip()
    if not text:
        raise QueryError('the question is empty; type a question, e.g. "What is a spread placement group?"')
    if len(text) > max_chars:
        return text[:max_chars], (f"질문이 너무 길어 앞의 {max_chars}자만 사용했습니다 (question truncated to {max_chars} characters).",)
    return text, ()


class Assistant:
    def __init__(self, settings: Settings, progress: Progress = silent, log=None) -> None:
        self.settings = settings
        self.progress = progress
        self.log = log or (lambda message: print(message, file=sys.stderr))
        self.embedders: dict[str, Embedder] = {m: make_embedder(m) for m in settings.indexed_models}
        self._state: State | None = None
        self._lock = threading.Lock()

    # ---- index -------------------------------------------------------------------------
    def ensure_index(self, force: bool = False, fallback: bool = True) -> index_store.BuildReport | None:
        """Load the index, building or refreshing it when missing, damaged or stale.

        When the refreshed index cannot be written, `fallback` keeps answering from the last good one.
        """
        with self._lock:
            previous = None
            reason = "first build"
            _, hashes = load_corpus(self.settings.corpus_dir, self.settings.chunker)
            try:
                previous = index_store.load(self.settings.index_dir)
                reason = index_store.staleness(previous, self.settings, hashes)
                if reason is None and not force:
                    self._install(previous)
                    return None
                reason = reason or "re-index requested"
                self.log(f"index: {reason}; updating")
            except index_store.IndexMissing as err:
                self.log(f"index: {err}")
            except index_store.IndexCorrupt as err:
                self.log(f"index: {err}")
            try:
                report = index_store.build(self.settings, self.embedders, previous, reason, self.progress)
            except index_store.IndexUnwritable as err:
                if previous is None or not fallback:
                    raise
                self.log(f"index: {err}; answering from the last good index ({previous.manifest['generation']})")
                self._install(previous)
                return None
            self._install(index_store.load(self.settings.index_dir))
            self.log(f"index: {report.generation} ready, {report.chunks} chunks, {report.units} sentences, "
                     f"{report.embedded} embedded, {report.reused} reused, {report.seconds:.1f}s")
            return report

    def _install(self, data: index_store.IndexData) -> None:
        errata = load_errata(self.settings.corpus_dir)
        for erratum in unmatched(errata, data.chunks):
            self.log(f"errata: quote no longer found in the notes: {erratum.quote[:60]!r}; update corpus/errata.toml")
        self._state = State(data, LexicalRetriever(data), errata, data.manifest["generation"])

    @property
    def option_model(self) -> str:
        return self.settings.option_model

    @property
    def state(self) -> State:
        if self._state is None:
            self.ensure_index()
        return self._state

    # ---- questions ---------------------------------------------------------------------
    def query(self, text: str) -> Query:
        return Query(text, self.embedders)

    def retriever(self, kind: str | None = None, model_ids: tuple[str, ...] | None = None,
                  state: State | None = None):
        state = state or self.state
        return make_retriever(state.data, kind or self.settings.retriever, model_ids or self.settings.embedders,
                              self.settings.lexical_weight, self.settings.rrf_k, state.lexical)

    def search(self, text: str, k: int | None = None, kind: str | None = None) -> list[Hit]:
        question, _ = clean_question(text, self.settings.max_query_chars)
        return self.retriever(kind).search(self.query(question), k or self.settings.top_k)

    def ask(self, text: str, mode: str = "auto", options: dict[str, str] | None = None,
            kind: str | None = None, context: str | None = None, top_k: int | None = None,
            embedder: str | None = None, writer: str | None = None,
            on_text: Callable[[str], None] | None = None) -> Answer:
        """Answer one question. `context` is earlier conversation text used for retrieval only.

        `kind`, `top_k` and `embedder` (one of the indexed models) are this request's own retrieval options;
        they never change the assistant's settings. `writer` (extractive or openai; default from the
        settings) picks who writes the answer; `on_text` receives the openai writer's text as it streams.
        """
        writer = writer or self.settings.writer.kind
        if writer not in WRITER_KINDS:
            raise QueryError(f"unknown writer {writer!r}; use {' or '.join(WRITER_KINDS)}")
        if writer == "openai" and not self.settings.writer.url:
            raise QueryError("the openai writer needs an endpoint: set url in [writer] of rag.toml or pass --writer-url")
        if embedder is not None and embedder not in self.embedders:
            raise QueryError(f"embedder {embedder!r} is not indexed; use one of {', '.join(self.embedders)}")
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        started = time.perf_counter()
        question, notices = clean_question(text, self.settings.max_query_chars)
        state = self.state
        if options is None:
            question, options = parse_options(question)
        if mode == "auto":
            mode = detect_mode(question, options)
        if mode == "exam" and not options:
            raise QueryError("exam mode needs answer options, e.g. 'A. ... B. ... C. ... D. ...'")
        timings: dict[str, float] = {}
        retrieval_text = question if not context else f"{context} {question}"
        if mode == "exam":
            retrieval_text += " " + " ".join(options.values())
        query = self.query(retrieval_text)
        t0 = time.perf_counter()
        query.vector(self.settings.embedders[0])
        timings["encode_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        models = (embedder,) if embedder else None
        if mode == "exam":  # the option model is loaded for exam anyway; fusing it helps find the options
            models = tuple(dict.fromkeys((*(models or self.settings.embedders), self.option_model)))
        hits = self.retriever(kind, models, state).search(query, top_k or self.settings.top_k)
        timings["retrieve_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        evidence_hits = hits
        if mode == "verify" and (kind is not None or top_k is not None or embedder is not None):
            evidence_hits = None  # verify judges with its default retrieval; these hits are not that
        answer = self._compose(question, mode, options, query, evidence_hits, state)
        timings["compose_ms"] = (time.perf_counter() - t0) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        markdown = answer["markdown"]
        if notices:
            markdown = "\n".join(f"> {n}" for n in notices) + "\n\n" + markdown
        check_citations(markdown, answer["citations"])
        result = Answer(question=question, mode=mode, answer_markdown=markdown, abstained=answer["abstained"],
                        citations=answer["citations"], hits=tuple(hits), choice=answer.get("choice"),
                        is_correct=answer.get("is_correct"), verdicts=answer.get("verdicts"),
                        timings_ms=timings, notices=notices, retrieval_text=retrieval_text,
                        confidence=answer.get("confidence"), uncertain=answer.get("uncertain", False),
                        generation=state.generation)
        if writer == "openai":  # the writer hook: the one place an LLM rewrites the extractive answer
            result = self._write(result, options, query, hits, state, on_text)
        return result

    def _write(self, answer: Answer, options, query: Query, hits: list[Hit], state: State, on_text) -> Answer:
        """The openai writer's answer over this request's evidence, every line checked (rag/writer.py)."""
        from rag import writer

        started = time.perf_counter()
        evidence = gather_evidence(query, hits, state.data, self.settings.embedders[0], state.lexical.bm25.idf)
        written = writer.write_answer(
            answer.mode, answer.question, options or None, writer.evidence_blocks(evidence, answer.citations), answer,
            self.settings.writer, writer.load_instructions(self.settings.corpus_dir, self.settings.skip_sections),
            state.errata, on_text)
        if written.fallback is not None and not answer.abstained:
            self.log(f"writer: {written.fallback}; answered extractively")
        return writer.with_writer(answer, written, self.settings.writer, (time.perf_counter() - started) * 1000)

    def _compose(self, question: str, mode: str, options, query: Query, hits: list[Hit] | None,
                 state: State) -> dict:
        model_id = self.settings.embedders[0]
        idf = state.lexical.bm25.idf
        if mode == "exam":
            from rag.exam import answer_exam

            return answer_exam(question, options, query, hits, state.data, model_id, idf, state.errata, self)
        if mode == "verify":
            from rag.verify import answer_verify

            return answer_verify(question, query, hits, state, model_id, idf, self)
        evidence = gather_evidence(query, hits, state.data, model_id, idf)
        if self.should_abstain(evidence):
            markdown, citations = compose_abstention(hits)
            return {"markdown": markdown, "citations": citations, "abstained": True}
        markdown, citations = compose_answer(evidence, state.errata)
        return {"markdown": markdown, "citations": citations, "abstained": False}

    def should_abstain(self, evidence) -> bool:
        return (not evidence.topics
                or evidence.best_similarity < self.settings.abstain_similarity
                or evidence.unknown_share >= self.settings.abstain_unknown_terms)

