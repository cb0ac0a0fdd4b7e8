"""Verify mode: check each sentence of a statement against the notes.

Every sentence is retrieved on its own and compared with its best evidence
sentences. It is *contradicted* when, against that evidence:

- a number differs (`10 instances` where the notes say 7개);
- a term is swapped for its sibling (cluster/spread/partition,
  system/instance status check, ALB/NLB/GWLB/CLB, stop/terminate/hibernate…);
- the polarity flips (`cannot`, 않는다, 없다 on one side only);
- the evidence sentence is a known erratum (the notes themselves are wrong).

Otherwise it is *supported*, or *not covered* when the notes hold nothing
close (the same test that makes question mode abstain). The wrong part is
struck through and a bold Korean explanation quotes the note, with its
citation.
"""
from __future__ import annotations

import re

from dataclasses import dataclass

from rag.compose import CitationList, render_line
from rag.errata import matching
from rag.evidence import ScoredUnit, evidence_pool, out_of_scope, score_units, unknown_terms
from rag.language import negation
from rag.params import VerifyParams
from rag.pipeline import AnswerContext, ModeResult, Request, RetrievalPlan, default_plan
from rag.types import Verdict

SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|(?<=다\.)\s*|\n+")
NUMBER = re.compile(r"(?<![A-Za-z0-9.])\d+(?:[.,]\d+)?(?:\s*(?:-|–|~)\s*\d+)?\s*(?:%|[A-Za-z가-힣]+)?")
FAMILIES: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("cluster placement", "cluster", "클러스터"), ("spread placement", "spread", "분산 배치"),
     ("partition placement", "partition", "파티션")),
    (("system status", "시스템 상태"), ("instance status", "인스턴스 상태")),
    (("alb", "application load balancer"), ("nlb", "network load balancer"),
     ("gwlb", "gateway load balancer"), ("clb", "classic load balancer")),
    (("one-time", "일회성"), ("persistent", "영구")),
    (("maintain",), ("request type",)),
    (("standard", "표준"), ("advanced", "고급")),
    (("stop", "중지"), ("terminate", "종료"), ("hibernate", "hibernation", "최대 절전")),
    (("ena", "elastic network adapter"), ("efa", "elastic fabric adapter"), ("intel vf", "82599")),
    (("basic monitoring", "기본 모니터링"), ("detailed monitoring", "세부 모니터링", "detailed")),
    (("layer 4", "l4"), ("layer 7", "l7")),
    (("linux",), ("windows",)),
    (("on-demand", "온디맨드"), ("reserved", "예약 인스턴스"), ("spot", "스팟"), ("savings plan",)),
    (("inbound", "인바운드"), ("outbound", "아웃바운드")),
    (("client", "클라이언트"), ("server", "서버")),
    (("awsalb",), ("awselb",), ("awsalbapp",)),
    (("increase", "increases", "accumulate", "증가", "축적"), ("decrease", "decreases", "감소", "줄어")),
)
ONLY = re.compile(r"\bonly\b|만\s", re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_SPLIT.split(text) if s and len(s.strip()) > 3]


def _members(text: str, family) -> dict[int, str]:
    """Which members of a family `text` names, with the alias as written."""
    lowered = text.lower()
    found = {}
    for index, aliases in enumerate(family):
        for alias in aliases:
            match = re.search(r"(?<![a-z])" + re.escape(alias) + r"(?![a-z])", lowered)
            if match:
                found[index] = text[match.start():match.end()]
                break
    return found


def _numbers(text: str) -> list[tuple[str, set[str]]]:
    """Number phrases of `text` with the bare numbers each holds."""
    return [(m.group().strip(), set(re.findall(r"\d+(?:\.\d+)?", m.group()))) for m in NUMBER.finditer(text)]


def find_contradiction(sentence: str, evidence: list[ScoredUnit],
                       params: VerifyParams = VerifyParams()) -> tuple[str, ScoredUnit] | None:
    """The wrong part of `sentence` and the note sentence that shows it, if they disagree."""
    if not evidence:
        return None
    best = evidence[0]
    holder = next((u for u in evidence[:2] if _numbers(u.text)), None)  # the best sentence that has numbers
    evidence_numbers = set().union(*(n for _, n in _numbers(holder.text))) if holder else set()
    for phrase, numbers in _numbers(sentence):
        if evidence_numbers and not numbers & evidence_numbers:
            return phrase, holder
    for family in FAMILIES:
        said = _members(sentence, family)
        if not said:
            continue
        noted = _members(best.text, family) or _members(best.chunk.heading_path[-1], family)
        if noted and not set(said) & set(noted):
            return next(iter(said.values())), best
        if noted and set(noted) - set(said) and ONLY.search(sentence):
            alias = next(iter(said.values()))
            only = re.search(r"only\s+(?:\w+\s+){0,3}?" + re.escape(alias), sentence, re.IGNORECASE)
            return (only.group() if only else alias), best
    stated, noted_negation = negation(sentence), negation(best.text)
    if bool(stated) != bool(noted_negation) and best.score >= params.polarity_min_score:
        if stated:
            return stated, best
        stem = re.sub(r"(지는|지|되지|하지).*$", "", noted_negation or "")
        if len(stem) >= 2 and stem in sentence:
            start = sentence.index(stem)
            prefix = sentence[:start].rstrip().rsplit(" ", 1)
            begin = len(prefix[0]) + 1 if len(prefix) > 1 else 0
            end = sentence.find(" ", start + len(stem))
            return sentence[begin:end if end > 0 else len(sentence)].strip(" ."), best
    return None


def judge(query, hits, context: AnswerContext) -> tuple[str, str | None, list[ScoredUnit]]:
    """(verdict, wrong span, evidence) for one sentence, given its query and hits."""
    sentence, data, params = query.text, context.data, context.params.verify
    pool = evidence_pool(data, hits, sections=params.pool_sections, lectures=params.pool_lectures)
    units = sorted(score_units(query, data, context.model_id, pool, context.idf, context.params.compose.lexical_weight),
                   key=lambda u: -u.score)
    if not units:
        return "not_covered", None, []
    dense_best = max(float(data.unit_matrix(context.model_id)[u.index] @ query.vector(context.model_id)) for u in units[:10])
    unknown, total = unknown_terms(sentence, data)
    if out_of_scope(dense_best, len(unknown) / max(total, 1), context.params.abstain):
        return "not_covered", None, units[:1]
    erratum_unit = next((u for u in units[:1] if matching(u.text, context.errata)), None)
    if erratum_unit is not None:
        return "contradicted", sentence, [erratum_unit]
    found = find_contradiction(sentence, units[:params.evidence_lines], params)
    if found:
        span, unit = found
        return "contradicted", span, [unit]
    return "supported", None, units[:1]


def quote_user(text: str) -> str:
    """The user's words with brackets escaped, so `[3]` in them never reads as a citation."""
    return text.replace("[", "\\[").replace("]", "\\]")


def strike(sentence: str, span: str | None) -> str:
    if not span or span not in sentence:
        return f"~~{quote_user(sentence)}~~"
    head, tail = sentence.split(span, 1)
    return f"{quote_user(head)}~~{quote_user(span)}~~{quote_user(tail)}"


@dataclass(frozen=True)
class Judgement:
    """One sentence of the statement, judged against its best evidence line."""

    sentence: str
    verdict: str  # supported | contradicted | not_covered
    span: str | None
    evidence: ScoredUnit | None


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
            query, hits = context.search(sentence)
        verdict, span, evidence = judge(query, hits, context)
        judgements.append(Judgement(sentence, verdict, span if verdict == "contradicted" else None,
                                    evidence[0] if evidence else None))
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
        title = unit.chunk.heading_path[-1] if unit else "노트에 없는 내용"
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
            nearest = f" [{n}]" if n else ""
            body = [f"- {quote_user(sentence)} — 노트에서 다루지 않는 내용입니다.{nearest}"]
            correction = None
        blocks += [f"**{title}**", *body, ""]
        verdicts.append(Verdict(sentence, verdict, span, correction, (n,) if n else ()))
    wrong = [v for v in verdicts if v.verdict == "contradicted"]
    uncovered = [v for v in verdicts if v.verdict == "not_covered"]
    first = verdicts[0].citations[0] if verdicts and verdicts[0].citations else None
    cite = f" [{first}]" if first else ""
    if wrong:
        tldr = f"- {len(verdicts)}개 문장 중 {len(wrong)}개가 노트와 다릅니다. 취소선 부분을 굵은 설명대로 고치세요.{cite}"
    elif uncovered and len(uncovered) == len(verdicts):
        tldr = f"- 노트에서 이 내용을 찾지 못해 맞는지 판단할 수 없습니다.{cite}"
    else:
        tldr = f"- 노트와 일치합니다.{cite}"
    lines = ["**문장 검증 결과**", "", *blocks, "**TL;DR**", tldr, "", citations.render()]
    is_correct = None if len(uncovered) == len(verdicts) else not wrong
    evidence = tuple(dict.fromkeys(j.evidence for j in judgements if j.evidence is not None))
    return ModeResult(evidence, "\n".join(lines), citations.citations(), abstained=len(uncovered) == len(verdicts),
                      is_correct=is_correct, verdicts=tuple(verdicts))


class VerifyMode:
    """Verify mode: each sentence of a statement supported, contradicted, or not covered by the notes."""

    name = "verify"

    def plan(self, request: Request, models: tuple[str, ...], option_model: str) -> RetrievalPlan:
        return default_plan(request, models)

    def answer(self, request: Request, context: AnswerContext) -> ModeResult:
        return render_verify(select_verify(request, context), context)
