"""Exam mode: pick the best-supported option of a multiple-choice question.

Options are scored against the note sentences of the sections retrieved for
"question + options", with three signals, each z-scored across the options
so that only the contrast between options counts:

- `use_both`: the best cosine, under the multilingual USE model, between a
  note sentence and "question + option";
- `cooccur`: the option's own terms (those no other option has) found in a
  sentence that also holds the question's terms;
- `top5`: the option's own terms found in the five sentences that answer the
  question best (by e5 similarity to the question alone plus term overlap).

`bench/exam_signals.py` measures each signal alone and combined on the dev
split; equal weights are used. Questions asking for the exception (NOT,
EXCEPT, 아닌, 틀린) pick the lowest-scoring option. A small margin between
the top two marks the pick as uncertain.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.compose import CitationList, render_line
from rag.evidence import ScoredUnit, evidence_pool, score_units
from rag.lexical import expand_query, tokenize
from rag.params import ExamParams
from rag.pipeline import AnswerContext, ModeResult, Request, RetrievalPlan, default_plan

NEGATED_QUESTION = re.compile(r"\b(?:NOT|EXCEPT|LEAST)\b|(?i:\bwhich(?:\s+of\s+(?:the\s+following|these))?(?:\s+[\w-]+){0,4}?\s+(?:is|are|was|were|does|do|did|can|could|would|will|should)\s+(?:not|false|incorrect)\b|\bwhat\s+(?:is|are)\s+not\b)|아닌|않은|틀린|잘못된")


def _distinct_tokens(options: dict[str, str]) -> dict[str, set[str]]:
    """Each option's lexical tokens that no other option has."""
    tokens = {k: set(tokenize(expand_query(v))) for k, v in options.items()}
    out = {}
    for key, own in tokens.items():
        others = set().union(*(t for k, t in tokens.items() if k != key)) if len(tokens) > 1 else set()
        out[key] = own - others
    return out


def _zscore(values: dict[str, float]) -> dict[str, float]:
    array = np.array(list(values.values()), dtype=float)
    spread = array.std() or 1.0
    return {k: (v - array.mean()) / spread for k, v in values.items()}


@dataclass(frozen=True)
class QuestionFocus:
    """Where the question's answer lies among the pool's sentences."""

    question_tokens: set[str]
    overlap: np.ndarray  # share of the question's terms in each sentence
    top: np.ndarray  # the five sentences that answer the question best
    weights: np.ndarray  # their softmax weights


def question_focus(stem: str, ids: list[int], data, model_id: str, embedder,
                   params: ExamParams = ExamParams()) -> QuestionFocus:
    """Rank the pool's sentences by e5 similarity to the question alone plus its term overlap."""
    dense = data.unit_matrix(model_id)[ids] @ embedder.encode([stem], query=True)[0]
    question_tokens = set(tokenize(expand_query(stem)))
    overlap = np.array([len(question_tokens & set(data.unit_tokens[i])) / (len(question_tokens) or 1) for i in ids])
    relevance = dense + params.focus_overlap_weight * overlap
    top = np.argsort(-relevance)[:params.focus_sentences]
    weights = np.exp((relevance[top] - relevance[top].max()) * params.focus_temperature)
    return QuestionFocus(question_tokens, overlap, top, weights)


def score_options(stem: str, options: dict[str, str], distinct: dict[str, set[str]], units: list[ScoredUnit],
                  data, model_id: str, option_model: str, embedders: dict,
                  params: ExamParams = ExamParams()) -> dict[str, dict[str, float]]:
    """Per option, each signal's raw value (before contrast)."""
    if not units:
        return {k: {name: 0.0 for name in params.weights} for k in options}
    ids = [u.index for u in units]
    focus = question_focus(stem, ids, data, model_id, embedders[model_id], params)
    both = embedders[option_model].encode([f"{stem} {text}" for text in options.values()], query=True)
    option_matrix = data.unit_matrix(option_model)[ids]
    unit_tokens = [set(data.unit_tokens[i]) for i in ids]
    scores = {}
    for j, key in enumerate(options):
        own = distinct[key]
        cover = np.array([len(own & t) / (len(own) or 1) for t in unit_tokens])
        scores[key] = {
            "use_both": float(np.max(option_matrix @ both[j])),
            "cooccur": float(np.max(cover * (1 + focus.overlap))),
            "top5": float(np.sum(focus.weights * cover[focus.top]) / focus.weights.sum()),
        }
    return scores


def choose(scores: dict[str, dict[str, float]], negated: bool, params: ExamParams = ExamParams()) -> tuple[str, bool]:
    """The picked letter, and whether the pick is uncertain (a small margin over the runner-up)."""
    combined = {k: 0.0 for k in scores}
    for signal, weight in params.weights.items():
        for key, z in _zscore({k: s[signal] for k, s in scores.items()}).items():
            combined[key] += weight * z
    ranked = sorted(combined, key=lambda k: combined[k], reverse=not negated)
    margin = abs(combined[ranked[0]] - combined[ranked[1]]) if len(ranked) > 1 else 99.0
    return ranked[0], bool(margin < params.uncertain_margin)


def deciding_units(stem: str, units: list[ScoredUnit], data, distinct: dict[str, set[str]],
                   min_chars: int = ExamParams().min_reason_chars) -> dict[str, ScoredUnit]:
    """Per option, the sentence that best decides it: a section named after the option, its own terms,
    then the question's."""
    if not units:
        return {}
    question_tokens = set(tokenize(expand_query(stem)))
    informative = [u for u in units if len(u.text) >= min_chars] or units
    headings = {h: set(tokenize(h)) for h in {u.chunk.heading_path[-1] for u in informative}}
    sentence_tokens = [set(data.unit_tokens[u.index]) for u in informative]

    def best(own: set[str]) -> ScoredUnit:
        fits = [len(own & headings[u.chunk.heading_path[-1]]) * 3 + len(own & tokens) * 2
                + len(question_tokens & tokens) * 0.5 + u.score for u, tokens in zip(informative, sentence_tokens)]
        return informative[int(np.argmax(fits))]

    return {key: best(own) for key, own in distinct.items()}


@dataclass(frozen=True)
class ExamSelection:
    """Exam mode's evidence: the pick and, per option, the note line that decides it."""

    letter: str
    uncertain: bool
    deciding: dict[str, ScoredUnit]


def select_exam(request: Request, context: AnswerContext) -> ExamSelection:
    """Score the options against the pool's sentences and pick one."""
    params, data = context.params.exam, context.data
    pool = evidence_pool(data, context.hits, sections=params.pool_sections, lectures=params.pool_lectures)
    units = score_units(context.query, data, context.model_id, pool, context.idf, context.params.compose.lexical_weight)
    distinct = _distinct_tokens(request.options)
    scores = score_options(request.question, request.options, distinct, units, data, context.model_id,
                           context.option_model, context.embedders, params)
    letter, uncertain = choose(scores, bool(NEGATED_QUESTION.search(request.question)), params)
    deciding = deciding_units(request.question, units, data, distinct, params.min_reason_chars)
    return ExamSelection(letter, uncertain, deciding)


def render_exam(request: Request, selection: ExamSelection, context: AnswerContext) -> ModeResult:
    """`**정답: X**`, a line per option with its deciding sentence, TL;DR, sources."""
    letter, deciding, errata = selection.letter, selection.deciding, context.errata
    citations = CitationList()
    head = f"**정답: {letter}{' (불확실)' if selection.uncertain else ''}**"
    lines = [head, ""]
    if selection.uncertain:
        lines += ["**노트만으로는 선택지를 확실히 가릴 수 없어, 근거가 가장 많은 선택지를 골랐습니다.**", ""]
    top = context.hits[0].chunk if context.hits else None
    overview = top.heading_path[1] if top is not None and len(top.heading_path) > 1 else "시험 문제 풀이"
    lines += [f"**{overview}**", "", "**선택지 분석**"]
    for key in request.options:
        verdict = "정답" if key == letter else "오답"
        if key not in deciding:
            lines.append(f"- **{key}** ({verdict}) — 노트에서 근거를 찾지 못했습니다.")
            continue
        lines.append(f"- **{key}** ({verdict}) — 노트: {render_line(deciding[key], citations, errata)[2:]}")
    lines += ["", "**TL;DR**"]
    if letter in deciding:
        lines.append(f"- 정답은 {letter}: {render_line(deciding[letter], citations, errata)[2:]}")
    else:
        lines.append(f"- 정답은 {letter}이지만 노트에서 직접적인 근거를 찾지 못했습니다.")
    lines += ["", citations.render()]
    evidence = tuple(dict.fromkeys(deciding[k] for k in request.options if k in deciding))
    return ModeResult(evidence, "\n".join(lines), citations.citations(), choice=letter, uncertain=selection.uncertain)


class ExamMode:
    """Exam mode: pick the best-supported option of a multiple-choice question."""

    name = "exam"

    def plan(self, request: Request, models: tuple[str, ...], option_model: str) -> RetrievalPlan:
        """Retrieve with the options too, and fuse the option model: it is loaded for exam anyway."""
        base = default_plan(request, models)
        return RetrievalPlan(" ".join([base.text, *request.options.values()]), tuple(dict.fromkeys((*models, option_model))))

    def answer(self, request: Request, context: AnswerContext) -> ModeResult:
        return render_exam(request, select_exam(request, context), context)
