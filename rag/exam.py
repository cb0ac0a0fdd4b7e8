"""Exam mode: pick the best-supported option of a multiple-choice question.

Options are scored against the note sentences of the sections retrieved for
"question + options", with four signals, each z-scored across the options
so that only the contrast between options counts:

- `use_both`: the best cosine, under the multilingual USE model, between a
  note sentence and "question + option";
- `cooccur`: the option's own terms (those no other option has) found in a
  sentence, weighted by the question's terms in the clause that names the
  option (a list sentence names several options, each with its own words);
- `top5`: the option's own terms found in the five sentences that answer the
  question best (by e5 similarity to the question alone plus term overlap);
- `ranked`: the option's own terms found in the blocks that question mode
  would quote for the question alone (its block ranker, `rag/ranker.py`, on
  the stem's own retrieval), weighted by their probability.

A note sentence names what its section heading names (in `cooccur` and `top5`): a line under "Network Load
Balancer (NLB)" speaks for the NLB option though it never says "NLB" (dev: 63 -> 66 of 87 right; the same for
`ranked`'s blocks gave 63).
An option's own terms leave out the words most note lines use ("인스턴스",
"ec2", `ExamParams.option_min_idf`): "Instance status check" is named by
"instance", not by every line about an instance.
`bench/exam_signals.py` measures each signal alone and combined on the dev
split; equal weights are used. Questions asking for the exception (NOT,
EXCEPT, 아닌, 틀린) pick the lowest-scoring option. How much of the notes'
answer to the question names the pick (its `top5`) becomes a confidence
through a logistic curve fit on dev (`bench/fit_exam.py`); a pick below
`ExamParams.confident` is marked 불확실.
Each option's reason is a note line found with the option's own terms; an
option the notes say nothing about says so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from rag.compose import CitationList, render_line
from rag.evidence import (ScoredUnit, candidate_blocks, compared_sections, described, evidence_pool, rank_answers,
                          score_units)
from rag.language import HANGUL
from rag.lexical import expand_query, expanded_terms, heading_tokens, tokenize
from rag.params import ExamParams
from rag.pipeline import AnswerContext, ModeResult, Request, RetrievalPlan, default_plan
from rag.ranker import Candidate
from rag.types import section_title

NEGATED_QUESTION = re.compile(r"\b(?:NOT|EXCEPT)\b|(?i:\bwhich(?:\s+of\s+(?:the\s+following|these))?(?:\s+[\w-]+){0,4}?\s+(?:is|are|was|were|does|do|did|can|could|would|will|should)\s+(?:not|false|incorrect)\b|\bwhat\s+(?:is|are)\s+not\b)|아닌|않은|틀린|잘못된")


def _distinct_tokens(options: dict[str, str]) -> dict[str, set[str]]:
    """Each option's lexical tokens that no other option has."""
    tokens = {k: set(expanded_terms(v)) for k, v in options.items()}
    out = {}
    for key, own in tokens.items():
        others = set().union(*(t for k, t in tokens.items() if k != key)) if len(tokens) > 1 else set()
        out[key] = own - others
    return out


def telling_tokens(distinct: dict[str, set[str]], idf: dict[str, float], min_idf: float) -> dict[str, set[str]]:
    """Each option's own tokens without those most of the notes use ("인스턴스", "ec2"): an option named only by
    them is named by nearly every line. An option with nothing else keeps all its own tokens."""
    return {key: {t for t in own if idf.get(t, min_idf) >= min_idf} or own for key, own in distinct.items()}


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


def question_focus(stem: str, ids: list[int], data, model_id: str, stem_vector: np.ndarray,
                   params: ExamParams = ExamParams()) -> QuestionFocus:
    """Rank the pool's sentences by e5 similarity to the question alone plus its term overlap."""
    dense = data.unit_rows(model_id, ids) @ stem_vector
    question_tokens = set(expanded_terms(stem))
    overlap = np.array([len(question_tokens & set(data.unit_tokens[i])) / (len(question_tokens) or 1) for i in ids])
    relevance = dense + params.focus_overlap_weight * overlap
    top = np.argsort(-relevance)[:params.focus_sentences]
    weights = np.exp((relevance[top] - relevance[top].max()) * params.focus_temperature)
    return QuestionFocus(question_tokens, overlap, top, weights)


CLAUSE = re.compile(r"[,;·]\s+|\s+(?:또는|그리고|및)\s+")


@lru_cache(maxsize=8192)
def clause_tokens(sentence: str) -> tuple[frozenset[str], ...]:
    """The tokens of each clause of a note sentence; note sentences recur across questions, so Kiwi reads each once."""
    return tuple(frozenset(tokenize(clause)) for clause in CLAUSE.split(sentence))


def clause_overlap(sentence: str, own: set[str], question_tokens: set[str]) -> float:
    """Share of the question's terms in the clause of `sentence` that names the option (its own terms): a list
    sentence names several options, each beside its own description."""
    best = 0.0
    for tokens in clause_tokens(sentence):
        if own & tokens:
            best = max(best, len(question_tokens & tokens) / (len(question_tokens) or 1))
    return best


def option_texts(stem: str, options: dict[str, str]) -> tuple[str, ...]:
    """What the option model encodes per option: the question with the option."""
    return tuple(f"{stem} {text}" for text in options.values())


def ranked_cover(own: set[str], ranked: list[tuple[float, Candidate]], blocks: int) -> float:
    """Share of an option's own terms in the blocks question mode ranks best for the stem, weighted by the
    ranker's probability that each answers it."""
    top = ranked[:blocks]
    total = sum(p for p, _ in top)
    return sum(p * len(own & c.block_tokens) / (len(own) or 1) for p, c in top) / total if total else 0.0


def sentence_terms(unit: ScoredUnit, data) -> set[str]:
    """The terms a note sentence names: its own and its section heading's ("가용 영역마다 고정 IP를 하나 가진다"
    under "Network Load Balancer (NLB)" names NLB; under a generic "개요", the section it opens names it)."""
    return set(data.unit_tokens[unit.index]) | heading_tokens(section_title(unit.chunk.heading_path))


def score_options(stem: str, options: dict[str, str], distinct: dict[str, set[str]], units: list[ScoredUnit],
                  data, model_id: str, option_model: str, query, ranked: list[tuple[float, Candidate]],
                  params: ExamParams = ExamParams()) -> dict[str, dict[str, float]]:
    """Per option, each signal's raw value (before contrast). `query` holds the encodings: the stem under
    `model_id` (its own vector), each question + option under `option_model` (`Query.companion`); `ranked`
    is question mode's ranking of the blocks for the stem alone (`rank_answers`)."""
    if not units:
        return {k: {name: 0.0 for name in params.weights} for k in options}
    ids = [u.index for u in units]
    focus = question_focus(stem, ids, data, model_id, query.vector(model_id), params)
    both = np.array([query.companion(option_model, text) for text in option_texts(stem, options)])
    option_matrix = data.unit_rows(option_model, ids)
    unit_tokens = [sentence_terms(unit, data) for unit in units]
    line_tokens = [set(data.unit_tokens[i]) for i in ids]
    scores = {}
    texts = [data.units[i].text for i in ids]
    for j, key in enumerate(options):
        own = distinct[key]
        cover = np.array([len(own & t) / (len(own) or 1) for t in unit_tokens])
        near = np.array([clause_overlap(texts[k], own, focus.question_tokens) if own & line_tokens[k] else 0.0
                         for k in range(len(ids))])  # a line named by its heading alone has no clause naming it
        scores[key] = {
            "use_both": float(np.max(option_matrix @ both[j])),
            "cooccur": float(np.max(cover * (1 + near))),
            "top5": float(np.sum(focus.weights * cover[focus.top]) / focus.weights.sum()),
            "ranked": ranked_cover(own, ranked, params.ranked_blocks),
        }
    return scores


def choose(scores: dict[str, dict[str, float]], negated: bool, params: ExamParams = ExamParams(),
           texts: dict[str, str] | None = None) -> str:
    """The picked letter: the best (or, for a negated question, the worst) sum of z-scored signals.

    A tie goes to the option whose text sorts first, never to the one listed first, so the pick does not
    depend on the order the options were pasted in.
    """
    combined = {k: 0.0 for k in scores}
    for signal, weight in params.weights.items():
        for key, z in _zscore({k: s[signal] for k, s in scores.items()}).items():
            combined[key] += weight * z
    sign = 1 if negated else -1
    return min(combined, key=lambda k: (sign * round(combined[k], 9), (texts or {}).get(k, k)))


def confidence_of(support: float, params: ExamParams = ExamParams()) -> float:
    """P(the pick is right) from its support (`ExamSelection.support`): a logistic curve fit on dev
    (bench/fit_exam.py)."""
    return float(1 / (1 + np.exp(-(params.confidence_slope * support + params.confidence_bias))))


def deciding_units(stem: str, units: list[ScoredUnit], data, distinct: dict[str, set[str]], idf: dict[str, float],
                   min_chars: int = ExamParams().min_reason_chars) -> dict[str, ScoredUnit]:
    """Per option, the note line that decides it, found with the option's own terms.

    Among the retrieved lines that hold one of the option's own terms (in the line or its section heading),
    a section named after the option wins, then more of its terms, then the question's. When no retrieved
    line names the option, the whole notes are searched for its terms. An option the notes never name
    gets no line: its reason says the notes have nothing on it.
    """
    question_tokens = set(expanded_terms(stem))
    informative = [u for u in units if len(u.text) >= min_chars] or units

    def is_prose(text: str) -> bool:  # a sentence of the notes, not a bare label such as "Dedicated Hosts (전용 호스트)"
        return len(HANGUL.findall(text)) >= min_chars // 2
    headings = [heading_tokens(section_title(u.chunk.heading_path)) for u in informative]
    sentence_tokens = [set(data.unit_tokens[u.index]) for u in informative]

    def best(own: set[str]) -> ScoredUnit | None:
        fits = [(is_prose(u.text), len(own & heading) * 3 + len(own & tokens) * 2
                 + len(question_tokens & tokens) * 0.5 + u.score, k)
                for k, (u, tokens, heading) in enumerate(zip(informative, sentence_tokens, headings))
                if own & (tokens | heading)]
        if any(prose for prose, _, _ in fits):
            return informative[max(fits)[2]]
        return anywhere(own) or (informative[max(fits)[2]] if fits else None)

    def anywhere(own: set[str]) -> ScoredUnit | None:
        """A prose line naming the option, in a section named after it when there is one (not a bare label)."""
        found = []
        for i, tokens in enumerate(data.unit_tokens):
            text = data.units[i].text
            if not own & set(tokens) or len(text) < min_chars:
                continue
            heading = section_title(data.chunk_by_id[data.units[i].chunk_id].heading_path)
            found.append((is_prose(text), 3 * len(own & heading_tokens(heading))
                          + sum(idf.get(t, 0.0) for t in own & set(tokens)) + 0.5 * len(question_tokens & set(tokens)), i))
        if not found:
            return None
        _, score, index = max(found)
        unit = data.units[index]
        return ScoredUnit(index, score, data.chunk_by_id[unit.chunk_id], unit.line, unit.text)

    out = {key: best(own) for key, own in distinct.items() if own}
    return {key: described(unit, data) for key, unit in out.items() if unit is not None}


@dataclass(frozen=True)
class ExamSelection:
    """Exam mode's evidence: the pick and, per option, the note line that decides it."""

    letter: str
    uncertain: bool
    deciding: dict[str, ScoredUnit]
    confidence: float
    support: float  # how much of the notes' answer to the question names the pick (its `top5`); 0 when negated


def stem_ranking(stem: str, context: AnswerContext) -> list[tuple[float, Candidate]]:
    """Question mode's ranking of the blocks for the stem alone, retrieved on its own: the options' words pull
    the exam's retrieval toward every option's section. The stem's vector is shared, not encoded again."""
    query = context.query.narrowed(stem)
    candidates = candidate_blocks(query, context.search(query), context.data, context.model_id, context.idf,
                                  context.params.compose, compared_sections(query, context.data))
    return rank_answers(query, candidates)


def select_exam(request: Request, context: AnswerContext) -> ExamSelection:
    """Score the options against the pool's sentences and pick one."""
    params, data = context.params.exam, context.data
    pool = evidence_pool(data, context.hits, sections=params.pool_sections, lectures=params.pool_lectures)
    units = score_units(context.query, data, context.model_id, pool, context.idf, context.params.compose.lexical_weight)
    distinct = telling_tokens(_distinct_tokens(request.options), context.idf, params.option_min_idf)
    ranked = stem_ranking(request.question, context)
    scores = score_options(request.question, request.options, distinct, units, data, context.model_id,
                           context.option_model, context.query, ranked, params)
    negated = bool(NEGATED_QUESTION.search(request.question))
    letter = choose(scores, negated, params, request.options)
    support = 0.0 if negated else scores[letter]["top5"]  # no dev question is negated: no curve for them
    confidence = confidence_of(support, params)
    deciding = deciding_units(request.question, units, data, distinct, context.idf, params.min_reason_chars)
    return ExamSelection(letter, confidence < params.confident, deciding, confidence, support)


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
            lines.append(f"- **{key}** ({verdict}) — 노트에 이 선택지에 대한 내용이 없습니다.")
            continue
        lines.append(f"- **{key}** ({verdict}) — 노트: {render_line(deciding[key], citations, errata)[2:]}")
    lines += ["", "**TL;DR**"]
    if letter in deciding:
        lines.append(f"- 정답은 {letter}: {render_line(deciding[letter], citations, errata)[2:]}")
    else:
        lines.append(f"- 정답은 {letter}이지만 노트에서 직접적인 근거를 찾지 못했습니다.")
    lines += ["", citations.render()]
    evidence = tuple(dict.fromkeys(deciding[k] for k in request.options if k in deciding))
    return ModeResult(evidence, "\n".join(lines), citations.citations(), choice=letter, uncertain=selection.uncertain,
                      confidence=selection.confidence)


class ExamMode:
    """Exam mode: pick the best-supported option of a multiple-choice question."""

    name = "exam"

    def plan(self, request: Request, models: tuple[str, ...], option_model: str) -> RetrievalPlan:
        """BM25 and the option model read the question with its options; the first model reads the question
        alone, as question mode would read it, which is also the question's focus (`score_options`) and the
        stem's own retrieval (`stem_ranking`), so it encodes one short text.

        Dev: the first model on the question alone picked 38/51 against 37/51 on question + options, in a
        third of the time (one short e5 text instead of a long one and the stem).
        """
        base = default_plan(request, models)
        models = tuple(dict.fromkeys((*models, option_model)))
        companions = ((option_model, option_texts(request.question, request.options)),)
        stem = expand_query(request.question, general=False)  # what a question of the stem alone encodes
        return RetrievalPlan(" ".join([base.text, *request.options.values()]), models, companions,
                             ((models[0], stem),))

    def answer(self, request: Request, context: AnswerContext) -> ModeResult:
        return render_exam(request, select_exam(request, context), context)
