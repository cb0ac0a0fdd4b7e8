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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from rag import index as index_store
from rag.compose import QuestionMode
from rag.conversation import Turn, context_for, subject_vocabulary
from rag.embed import Embedder, make_embedder
from rag.errata import Erratum, load_errata, unmatched
from rag.exam import ExamMode
from rag.lexical import tokenize
from rag.modes import detect_mode, parse_options
from rag.notes import note_hashes
from rag.pipeline import MODES, AnswerContext, AskOptions, ModeResult, Request, RetrievalPlan, validate_citations
from rag.progress import Progress, silent
from rag.rerank import ChunkReranker
from rag.retrieve import RETRIEVER_KINDS, LexicalRetriever, Query, make_retriever
from rag.settings import WRITER_KINDS, Settings
from rag.text import has_content, normalise
from rag.types import Answer, Hit
from rag.verify import VerifyMode

ANSWER_MODES = {mode.name: mode for mode in (QuestionMode(), ExamMode(), VerifyMode())}
ENCODERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rag-encode")  # a second model's query encode
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class QueryError(ValueError):
    """The question cannot be answered as given; the message says what to do."""


@dataclass(frozen=True)
class State:
    data: index_store.IndexData
    lexical: LexicalRetriever
    errata: list[Erratum]
    generation: str
    vocabulary: frozenset[str]  # heading words that name a subject, for follow-ups
    stale: bool = False  # the notes changed but their index could not be built: answers come from this older one


def clean_question(text: str, max_chars: int) -> tuple[str, tuple[str, ...]]:
    """The question without control characters, truncated with a notice when huge."""
    if not isinstance(text, str):
        kind = "null" if text is None else type(text).__name__
        raise QueryError(f'the question must be text, not {kind}; send e.g. "What is a spread placement group?"')
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates (undecodable argv bytes) become '?'
    text = CONTROL.sub(" ", normalise(text)).strip()
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
    def ensure_index(self, force: bool = False, fallback: bool = True,
                     provisional: bool = False) -> index_store.BuildReport | None:
        """Load the index, building or refreshing it when missing, damaged or stale.

        When the refreshed index cannot be written, `fallback` keeps answering from the last good one, marked
        stale; a build of the same notes that failed before is not retried then until the disk has room.
        With `provisional`, an assistant that has no index yet answers from BM25 over the notes, built in
        memory in seconds (`index.provisional`), until the build finishes.
        """
        with self._lock:
            previous = None
            reason = "first build"
            hashes = note_hashes(self.settings.corpus_dir)  # no chunking (and no tokenizer) to see that nothing changed
            try:
                previous = index_store.load(self.settings.index_dir)
                reason = index_store.staleness(previous, self.settings, hashes, self.embedders)
                if reason is None and not force:
                    self._install(previous)
                    return None
                reason = reason or "re-index requested"
                failed = index_store.failed_build(self.settings, hashes) if fallback else None
                if failed:
                    self.log(f"index: {reason}, but building it failed before ({failed}); answering from the last "
                             f"good index ({previous.manifest['generation']}), marked stale, until the disk has "
                             "room or `rag index` succeeds")
                    self._install(previous, stale=True)
                    return None
                self.log(f"index: {reason}; updating")
            except index_store.IndexMissing as err:
                self.log(f"index: {err}")
            except index_store.IndexCorrupt as err:
                self.log(f"index: {err}")
            if provisional and self._state is None:
                quick = index_store.provisional(self.settings, self.embedders)
                self._install(quick)
                self.log(f"index: answering from BM25 alone ({len(quick.chunks)} chunks) until the index is built")
                previous = previous or quick  # lends its tokens to the build
            try:
                report = index_store.build(self.settings, self.embedders, previous, reason, self.progress,
                                           self.log, force)
            except index_store.IndexUnwritable as err:
                if previous is None or not fallback:
                    raise
                self.log(f"index: {err}; answering from the last good index ({previous.manifest['generation']}), "
                         "marked stale")
                self._install(previous, stale=True)
                return None
            self._install(index_store.load(self.settings.index_dir))
            self.log(f"index: {report.generation} ready, {report.chunks} chunks, {report.units} sentences, "
                     f"{report.embedded} embedded, {report.reused} reused, {report.seconds:.1f}s")
            return report

    def warm_up(self) -> None:
        """Load every indexed model and the Korean analyser now, so that the first question pays no loading."""
        for embedder in self.embedders.values():
            embedder.encode(["준비 warm-up"], query=True)
        tokenize("준비")

    def _install(self, data: index_store.IndexData, stale: bool = False) -> None:
        errata = load_errata(self.settings.corpus_dir)
        for erratum in unmatched(errata, data.chunks):
            self.log(f"errata: quote no longer found in the notes: {erratum.quote[:60]!r}; update corpus/errata.toml")
        vocabulary = subject_vocabulary([h for chunk in data.chunks for h in chunk.heading_path[1:]])
        self._state = State(data, LexicalRetriever(data), errata, data.manifest["generation"], vocabulary, stale)

    @property
    def option_model(self) -> str:
        return self.settings.option_model

    @property
    def answering(self) -> bool:
        """Whether questions are answered now, from the index or from the provisional BM25 one."""
        return self._state is not None

    @property
    def state(self) -> State:
        if self._state is None:
            self.ensure_index()
        return self._state

    # ---- questions ---------------------------------------------------------------------
    def query(self, text: str) -> Query:
        return Query(text, self.embedders)

    def query_for(self, plan: RetrievalPlan) -> Query:
        """The query a mode's plan retrieves with (each model embedding its own text of the plan)."""
        return Query(plan.text, self.embedders, dict(plan.embed_texts))

    def retriever(self, kind: str | None = None, model_ids: tuple[str, ...] | None = None,
                  state: State | None = None, rerank: bool = True):
        """The retriever of `kind` (the settings' by default); hybrid's fused chunks are re-ranked by the chunk
        ranker (`rag/rerank.py`) unless `rerank` is False."""
        state = state or self.state
        kind = "bm25" if state.data.provisional else kind or self.settings.retriever  # provisional: no vectors yet
        retriever = make_retriever(state.data, kind, model_ids or self.settings.embedders,
                                   self.settings.lexical_weight, self.settings.rrf_k, state.lexical)
        if kind != "hybrid" or not rerank:
            return retriever
        return ChunkReranker(retriever, state.data, self.settings.embedders[0], state.lexical.bm25.idf)

    def search(self, text: str, k: int | None = None, kind: str | None = None) -> list[Hit]:
        question, _ = clean_question(text, self.settings.max_query_chars)
        return self.retriever(kind).search(self.query(question), k or self.settings.top_k)

    def ask(self, text: str, mode: str = "auto", options: dict[str, str] | None = None,
            kind: str | None = None, context: str | None = None, top_k: int | None = None,
            embedder: str | None = None, history: Sequence[Turn] = (), writer: str | None = None,
            on_text: Callable[[str], None] | None = None) -> Answer:
        """Answer one question.

        `history` holds the conversation's earlier turns (`rag.conversation.turn_of(answer)`); a follow-up
        is searched with the context they lend (`Answer.retrieval_text` shows it). `context` sets that
        retrieval context directly instead. `kind`, `top_k` and `embedder` (one of the indexed models) are
        this request's own retrieval options; they never change the assistant's settings. `writer`
        (extractive or openai) picks who writes the answer; `on_text` receives the openai writer's text as
        it streams.
        """
        return self.answer(text, AskOptions(mode, kind, top_k, embedder, writer), options, context, history, on_text)

    def answer(self, text: str, ask: AskOptions = AskOptions(), options: dict[str, str] | None = None,
               context: str | None = None, history: Sequence[Turn] = (),
               on_text: Callable[[str], None] | None = None) -> Answer:
        """Answer one question with this request's own options: clean, pick the mode, retrieve, dispatch."""
        state = self.state
        if state.data.provisional:  # the first build waits between its batches meanwhile
            with index_store.FOREGROUND.answering():
                return self._answer(state, text, ask, options, context, history, on_text)
        return self._answer(state, text, ask, options, context, history, on_text)

    def _answer(self, state: State, text: str, ask: AskOptions, options: dict[str, str] | None,
                context: str | None, history: Sequence[Turn], on_text: Callable[[str], None] | None) -> Answer:
        started = time.perf_counter()
        request, notices = self.prepare(text, ask, options, context)
        if context is None and history:
            request = replace(request, context=context_for(request.question, history, state.vocabulary))
        mode = ANSWER_MODES[request.mode]
        plan = mode.plan(request, (ask.embedder,) if ask.embedder else self.settings.embedders, self.option_model)
        timings: dict[str, float] = {}
        query = self.query_for(plan)
        timings["encode_ms"] = self._encode(query, plan)
        t0 = time.perf_counter()
        hits = self.retriever(ask.retriever, plan.models, state).search(query, ask.top_k or self.settings.top_k)
        timings["retrieve_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        result = mode.answer(request, self._context(query, hits, state))
        timings["compose_ms"] = (time.perf_counter() - t0) * 1000
        markdown, dropped = validate_citations(result.markdown, result.citations)
        if dropped:
            self.log(f"answer: dropped {dropped} citation(s) that resolve to no source ({request.mode} mode)")
        if notices:
            markdown = "\n".join(f"> {n}" for n in notices) + "\n\n" + markdown
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        answer = Answer(question=request.question, mode=request.mode, answer_markdown=markdown,
                        abstained=result.abstained, citations=result.citations, hits=tuple(hits), choice=result.choice,
                        is_correct=result.is_correct, verdicts=result.verdicts, timings_ms=timings, notices=notices,
                        retrieval_text=plan.text, confidence=result.confidence, uncertain=result.uncertain,
                        generation=state.generation, stale=state.stale, provisional=state.data.provisional,
                        citations_dropped=dropped)
        if self.writer_kind(ask) == "openai":  # the writer hook: after any mode
            answer = self._write(answer, request, result, state, on_text)
        return answer

    def _encode(self, query: Query, plan: RetrievalPlan) -> float:
        """Encode the query and the plan's companion texts, one call per model; returns the first model's ms.

        The other models (exam mode's option model) encode on a second thread meanwhile: both engines
        release the GIL, so on two cores their calls overlap instead of adding up.
        """
        companions = dict(plan.companions)
        first = self.settings.embedders[0]
        own = companions.pop(first, ())
        beside = [ENCODERS.submit(query.encode_with, model_id, texts) for model_id, texts in companions.items()]
        t0 = time.perf_counter()
        query.encode_with(first, own)
        encode_ms = (time.perf_counter() - t0) * 1000
        for future in beside:
            future.result()
        return encode_ms

    def writer_kind(self, ask: AskOptions) -> str:
        """Who writes this request's answer: its own choice, else the configured writer."""
        return ask.writer or self.settings.writer.kind

    def _write(self, answer: Answer, request: Request, result: ModeResult, state: State, on_text) -> Answer:
        """The openai writer's answer over the mode's evidence, every line checked (rag/writer.py)."""
        from rag import writer

        started = time.perf_counter()
        written = writer.write_answer(
            request.mode, request.question, request.options or None, writer.evidence_blocks(result.evidence, answer.citations),
            answer, self.settings.writer, writer.load_instructions(self.settings.corpus_dir, self.settings.skip_sections),
            state.errata, on_text)
        if written.fallback is not None and not answer.abstained:
            self.log(f"writer: {written.fallback}; answered extractively")
        return writer.with_writer(answer, written, self.settings.writer, (time.perf_counter() - started) * 1000)

    def prepare(self, text: str, ask: AskOptions, options: dict[str, str] | None,
                context: str | None) -> tuple[Request, tuple[str, ...]]:
        """The cleaned request with its mode resolved, and any notices for the user."""
        if ask.mode not in MODES:
            raise QueryError(f"unknown mode {ask.mode!r}; use one of {', '.join(MODES)}")
        if ask.embedder is not None and ask.embedder not in self.embedders:
            raise QueryError(f"embedder {ask.embedder!r} is not indexed; use one of {', '.join(self.embedders)}")
        if ask.retriever is not None and ask.retriever not in RETRIEVER_KINDS:
            raise QueryError(f"unknown retriever {ask.retriever!r}; use one of {', '.join(RETRIEVER_KINDS)}")
        if self.writer_kind(ask) not in WRITER_KINDS:
            raise QueryError(f"unknown writer {ask.writer!r}; use {' or '.join(WRITER_KINDS)}")
        if self.writer_kind(ask) == "openai" and not self.settings.writer.url:
            raise QueryError("the openai writer needs an endpoint: set url in [writer] of rag.toml or pass --writer-url")
        question, notices = clean_question(text, self.settings.max_query_chars)
        if options is None:
            question, options = parse_options(question)
        mode = detect_mode(question, options) if ask.mode == "auto" else ask.mode
        if mode == "verify" and not has_content(question):
            mode = "qa"  # '.', '!!!', 'ㅋㅋㅋ': nothing to check; question mode gives the standard abstention
        if mode == "exam" and not options:
            raise QueryError("exam mode needs answer options, e.g. 'A. ... B. ... C. ... D. ...'")
        return Request(question, mode, dict(options) if mode == "exam" else {}, context, ask), notices

    def _context(self, query: Query, hits: list[Hit], state: State) -> AnswerContext:
        def search(again: Query) -> list[Hit]:
            return self.retriever(state=state).search(again, self.settings.top_k)

        return AnswerContext(data=state.data, errata=state.errata, idf=state.lexical.bm25.idf, query=query,
                             hits=hits, model_id=self.settings.embedders[0], option_model=self.option_model,
                             embedders=self.embedders, params=self.settings.params, search=search)
