"""Verify mode: check each sentence of a statement against the notes.

Every sentence is retrieved on its own and compared with its best evidence
sentences. It is *contradicted* when the contradiction finder
(`rag/contradiction.py`: a different number, a sibling term, a pair split
across clauses, an opposite qualifier or comparison or mode, a flipped
polarity, "only X" against a list, a contrast set's other member) shows where
it disagrees with them, or when it says the wrong part of a known erratum (the
notes themselves are wrong).

Otherwise it is *supported* when one note sentence carries it: the claim's
numbers, and either its key terms (weighted by their idf) close in meaning,
with the same polarity, or an e5 cosine clearly ahead of every other line
of the pool (a paraphrase of one line, not a topic), unless that sentence
is about a sibling of the claim's subject or the claim states a default the
sentence does not. Else it is *not covered*,
which is also the verdict when the notes hold nothing close (the same test
that makes question mode abstain). The wrong part is struck through and a
bold Korean explanation quotes the note, with its citation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from rag.compose import CitationList, render_line
from rag.contradiction import (digits, find_contradiction, find_contrast, find_misplaced_member, find_outranked,
                               find_wider_scope, names_sibling)
from rag.errata import matching
from rag.evidence import (ScoredUnit, described, evidence_pool, names_identifier, out_of_scope, score_units,
                          unknown_terms)
from rag.language import negation
from rag.lexical import expanded_terms, lucene_idf, tokenize
from rag.params import VerifyParams
from rag.pipeline import AnswerContext, ModeResult, Request, RetrievalPlan, default_plan
from rag.types import Verdict, section_title

SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|(?<=다\.)\s*|\n+")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_SPLIT.split(text) if s and len(s.strip()) > 3]


@dataclass(frozen=True)
class Examination:
    """What the notes say about one sentence, before the support thresholds decide."""

    verdict: str | None  # not_covered or contradicted when already decided, else None
    span: str | None
    units: list[ScoredUnit]  # evidence lines, best first
    supports: "list[Support]"  # the candidate supporting sentences (`candidate_supports`)


@dataclass(frozen=True)
class Judgement:
    """One sentence of the statement, judged against its best evidence line."""

    sentence: str
    verdict: str  # supported | contradicted | not_covered
    span: str | None
    evidence: ScoredUnit | None
    nearest: tuple[ScoredUnit, ...] = ()  # not covered, though the notes hold these close sentences


def examine(query, hits, context: AnswerContext) -> Examination:
    """Coverage, errata, contradictions, then the best supporting sentence for one sentence."""
    sentence, data, params = query.text, context.data, context.params.verify
    pool = evidence_pool(data, hits, sections=params.pool_sections, lectures=params.pool_lectures)
    units = sorted(score_units(query, data, context.model_id, pool, context.idf, context.params.compose.lexical_weight),
                   key=lambda u: -u.score)
    if not units:
        return Examination("not_covered", None, [], [])
    nearest = data.unit_rows(context.model_id, [u.index for u in units[:10]])
    dense_best = float((nearest @ query.vector(context.model_id)).max())
    unknown, total = unknown_terms(sentence, data)
    if out_of_scope(dense_best, len(unknown) / max(total, 1), context.params.abstain,
                    names_identifier=names_identifier(sentence, data, context.idf)):
        return Examination("not_covered", None, units[:1], [])
    erratum = matching(units[0].text, context.errata)
    if erratum is not None and erratum.repeated_in(sentence):  # it repeats what AWS documentation corrects
        return Examination("contradicted", erratum.wrong or sentence, units[:1], [])
    found = (find_contradiction(sentence, units[:params.evidence_lines], params)
             or find_wider_scope(sentence, units[:params.wide_lines])
             or find_outranked(sentence, units[:params.wide_lines])
             or find_misplaced_member(sentence, units[:params.wide_lines], data, context.idf, params))
    if found:
        span, unit = found
        return Examination("contradicted", span, [unit], [])
    sections = list(dict.fromkeys(u.chunk.section_key for u in units[:params.evidence_lines]))
    contrast = find_contrast(sentence, sections, data, context.idf, params)
    if contrast is not None:
        return Examination("contradicted", contrast.span, [contrast.evidence], [])
    return Examination(None, None, units, candidate_supports(sentence, query, units, context))


def supported(support: "Support", params: VerifyParams) -> bool:
    """A note sentence says it: the claim's numbers, and either its key terms close in meaning, or a sentence
    that stands clearly above every other line of the pool. Topic is not enough."""
    return (support.numbers_present and not support.about_sibling and not support.default_unstated
            and ((support.coverage >= params.support_coverage and support.similarity >= params.support_similarity
                  and not support.polarity_clash)
                 or support.margin >= params.support_margin))


def judge(query, hits, context: AnswerContext) -> Judgement:
    """The verdict on one sentence (`query.text`), given its query and hits. A sentence the notes hold something
    close to, but do not say, gets the nearest note sentences: the pool's best, and the one carrying most of
    its key terms."""
    sentence = query.text
    found = examine(query, hits, context)
    if found.verdict is not None:
        return Judgement(sentence, found.verdict, found.span if found.verdict == "contradicted" else None,
                         found.units[0] if found.units else None)
    support = best_support(found.supports, context.params.verify)
    if supported(support, context.params.verify):
        return Judgement(sentence, "supported", None, support.unit)
    closest = (described(found.units[0], context.data), described(support.unit, context.data))  # labels say little
    return Judgement(sentence, "not_covered", None, found.units[0], tuple({u.index: u for u in closest}.values()))


@dataclass(frozen=True)
class Support:
    """How well one note sentence carries a claim: its key terms, its numbers, its meaning."""

    unit: ScoredUnit
    coverage: float  # idf-weighted share of the claim's key terms (glossary translations count) in the sentence
    numbers_present: bool  # every number of the claim is in the sentence
    similarity: float  # e5 cosine between the claim and the sentence
    margin: float = 0.0  # its cosine minus the best other pool sentence's (near-duplicate lines left out)
    about_sibling: bool = False  # the sentence (with its heading) names a sibling of what the claim names, not it
    default_unstated: bool = False  # the claim states a default and the sentence states none
    polarity_clash: bool = False  # one of the two denies something and the other denies nothing


# a stated default: a claim about what happens unless configured needs a line that states the default
DEFAULT = re.compile(r"\bdefault|기본|(?:별도로|따로)\s*설정하지\s*않으면|unless (?:you|it is) (?:set|configured|changed)",
                     re.IGNORECASE)
DUPLICATE = 0.95  # e5 cosine above which two note lines say the same (a 정리 line repeats a section line)


def claim_terms(text: str) -> list[str]:
    """The claim's checkable terms: English terms and numbers, Korean content morphemes."""
    return list(dict.fromkeys(tokenize(text)))


def term_weight(idf, chunks: int) -> Callable[[str], float]:
    """A key term's weight: its BM25 idf, or for a term the notes never use, the idf of a word in one chunk."""
    rarest = lucene_idf(chunks, 1)
    return lambda term: idf.get(term, rarest)


def support_of(claim: str, unit: ScoredUnit, similarity: float, margin: float = 0.0,
               weight: Callable[[str], float] = lambda term: 1.0) -> Support:
    """How well `unit` carries `claim`. Its coverage weighs each key term by `weight` (verify passes the
    term's BM25 idf, `term_weight`): "쓸 수 있다" matters less than "150GB 미만"."""
    terms = claim_terms(claim)
    line = f"{section_title(unit.chunk.heading_path)} {unit.text}"
    found = expanded_terms(line)
    weights = {t: weight(t) for t in terms}
    total = sum(weights.values())
    coverage = sum(w for t, w in weights.items() if t in found) / total if total else 0.0
    present = digits(claim) <= digits(unit.text)
    return Support(unit, coverage, present, similarity, margin, names_sibling(claim, line),
                   bool(DEFAULT.search(claim)) and not DEFAULT.search(line),
                   (negation(claim) is None) != (negation(unit.text) is None))


def candidate_supports(claim: str, query, units: list[ScoredUnit], context: AnswerContext) -> list[Support]:
    """The sentences that may carry the claim, each with its lead over the rest of the pool `units` (best
    first): the best `evidence_lines` of the pool and the pool's closest sentence by e5."""
    weight = term_weight(context.idf, len(context.data.chunks))
    vectors = context.data.unit_rows(context.model_id, [u.index for u in units])
    similarity = vectors @ query.vector(context.model_id)
    closest = int(np.argmax(similarity))
    supports = []
    for i in dict.fromkeys([*range(min(context.params.verify.evidence_lines, len(units))), closest]):
        others = similarity[(vectors @ vectors[i] < DUPLICATE) & (np.arange(len(units)) != i)]
        margin = float(similarity[i] - others.max()) if others.size else 0.0
        supports.append(support_of(claim, units[i], float(similarity[i]), margin, weight))
    return supports


def best_support(supports: list[Support], params: VerifyParams) -> Support:
    """The candidate that carries the most of the claim, one that passes `supported` first."""
    return max(supports, key=lambda s: (supported(s, params), s.numbers_present, s.coverage, s.similarity))


def quote_user(text: str) -> str:
    """The user's words with brackets escaped, so `[3]` in them never reads as a citation."""
    return text.replace("[", "\\[").replace("]", "\\]")


def strike(sentence: str, span: str | None) -> str:
    if not span or span not in sentence:
        return f"~~{quote_user(sentence)}~~"
    head, tail = sentence.split(span, 1)
    return f"{quote_user(head)}~~{quote_user(span)}~~{quote_user(tail)}"


def select_verify(request: Request, context: AnswerContext) -> list[Judgement]:
    """Judge each sentence of the statement on its own retrieval.

    A sentence that is the whole statement reuses the request's query and hits, unless the request chose its
    own retrieval options: verify judges with the configured retrieval.
    """
    judgements = []
    for sentence in split_sentences(request.question) or [request.question]:
        if sentence == context.query.text and not request.ask.custom_retrieval:
            query, hits = context.query, context.hits
        else:
            query = context.query.narrowed(sentence)
            hits = context.search(query)
        judgements.append(judge(query, hits, context))
    return judgements


def render_verify(judgements: list[Judgement], context: AnswerContext) -> ModeResult:
    """Each sentence with its verdict; wrong parts struck through with a bold explanation quoting the note."""
    errata = context.errata
    citations = CitationList()
    verdicts = []
    blocks: list[str] = []
    for judged in judgements:
        sentence, verdict, span, unit = judged.sentence, judged.verdict, judged.span, judged.evidence
        n = citations.cite(unit.chunk) if unit else None
        title = section_title(unit.chunk.heading_path) if unit else "노트에 없는 내용"
        if verdict == "contradicted":
            note_line = render_line(unit, citations, errata)[2:]
            erratum = matching(unit.text, errata)
            reason = (f"노트의 이 문장은 AWS 문서와 다릅니다: {erratum.correction}" if erratum
                      else f"노트에는 다음과 같이 되어 있습니다: {unit.text}")
            body = [f"- {strike(sentence, span)} [{n}]", f"  - **틀린 이유: {reason}** [{n}]"]
            if erratum:
                body.append(f"  - 노트 원문: {note_line}")
            correction = erratum.correction if erratum else unit.text
        elif verdict == "supported":
            body = [f"- {quote_user(sentence)} [{n}]", f"  - 노트와 일치합니다: {render_line(unit, citations, errata)[2:]}"]
            correction = None
        else:
            cite = f" [{n}]" if n else ""
            body = [f"- {quote_user(sentence)} — 노트로 확인할 수 없음: 노트가 이 내용을 뒷받침하지도, 반박하지도 않습니다.{cite}",
                    *(f"  - 노트에서 가장 가까운 문장: {render_line(near, citations, errata)[2:]}" for near in judged.nearest)]
            correction = None
        blocks += [f"**{title}**", *body, ""]
        verdicts.append(Verdict(sentence, verdict, span, correction, (n,) if n else (),
                                unit.text if unit and verdict != "not_covered" else None,
                                tuple(near.text for near in judged.nearest)))
    wrong = [v for v in verdicts if v.verdict == "contradicted"]
    uncovered = [v for v in verdicts if v.verdict == "not_covered"]
    first = verdicts[0].citations[0] if verdicts and verdicts[0].citations else None
    cite = f" [{first}]" if first else ""
    if wrong:
        tldr = f"- {len(verdicts)}개 문장 중 {len(wrong)}개가 노트와 다릅니다. 취소선 부분을 굵은 설명대로 고치세요.{cite}"
    elif len(uncovered) == len(verdicts):
        tldr = f"- 노트로 확인할 수 없음: 노트가 이 내용을 뒷받침하지도 반박하지도 않아 맞는지 판단할 수 없습니다.{cite}"
    elif uncovered:
        tldr = (f"- {len(verdicts)}개 문장 중 {len(verdicts) - len(uncovered)}개는 노트와 일치하고, "
                f"{len(uncovered)}개는 노트로 확인할 수 없음입니다.{cite}")
    else:
        tldr = f"- 노트와 일치합니다.{cite}"
    is_correct = False if wrong else (None if uncovered else True)
    confidence = statement_confidence(is_correct, context.params.verify)
    uncertain = is_correct is None or confidence < context.params.verify.confident
    head = ["**문장 검증 결과 (불확실)**" if uncertain else "**문장 검증 결과**", ""]
    lines = [*head, *blocks, "**TL;DR**", tldr, "", citations.render()]
    evidence = tuple(dict.fromkeys(j.evidence for j in judgements if j.evidence is not None))
    return ModeResult(evidence, "\n".join(lines), citations.citations(), abstained=len(uncovered) == len(verdicts),
                      is_correct=is_correct, verdicts=tuple(verdicts), confidence=confidence, uncertain=uncertain)


def statement_confidence(is_correct: bool | None, params: VerifyParams) -> float:
    """How often this kind of verdict was right on dev (`bench/fit_verify.py`); 0 when nothing was decided."""
    if is_correct is None:
        return 0.0
    return params.supported_precision if is_correct else params.contradicted_precision


class VerifyMode:
    """Verify mode: each sentence of a statement supported, contradicted, or not covered by the notes."""

    name = "verify"

    def plan(self, request: Request, models: tuple[str, ...], option_model: str) -> RetrievalPlan:
        return default_plan(request, models)

    def answer(self, request: Request, context: AnswerContext) -> ModeResult:
        return render_verify(select_verify(request, context), context)
