"""Metric functions against values computed by hand on tiny cases.

Each fixed metric has a case that passed the old, loose rule and fails now.
"""
import math

import pytest

from rag import metrics as M

pytestmark = pytest.mark.fast


def hit(rank, *path, source="n.md", lines=(1, 1)):
    return {"rank": rank, "source": source, "heading_path": list(path), "line_start": lines[0], "line_end": lines[1]}


def test_relevance_normalises_headings_and_dedupes_sections():
    hits = [hit(1, "Top", "\\[SAA] Spot"), hit(2, "Top", "\\[SAA] Spot"), hit(3, "Top", "ELB"), hit(4, "Top", "NLB")]
    assert M.relevance_vector(hits, ["**[SAA] Spot** "]) == [1, 0, 0]
    assert M.relevance_vector(hits, ["NLB"]) == [0, 0, 1]


def test_strict_relevance_counts_only_the_section_holding_the_evidence_line():
    hits = [hit(1, "Top", "EC2"), hit(2, "Top", "EC2", "Spread"), hit(3, "Top", "EC2", "Cluster")]
    # lenient: the lecture-level parent "EC2" accepts every section under it
    assert M.relevance_vector(hits, ["EC2"]) == [1, 1, 1]
    assert M.strict_relevance_vector(hits, {("n.md", ("Top", "EC2", "Spread"))}) == [0, 1, 0]
    assert M.strict_relevance_vector(hits, {("other.md", ("Top", "EC2", "Spread"))}) == [0, 0, 0]


def test_evidence_vector_ranks_chunks_by_the_line_they_hold():
    hits = [hit(2, "T", "A", lines=(10, 19)), hit(1, "T", "A", lines=(1, 9)), hit(3, "T", "B", lines=(20, 30))]
    assert M.evidence_vector(hits, {("n.md", 12)}) == [0, 1, 0]  # rank order, chunks of one section both kept
    assert M.evidence_vector(hits, {("n.md", 30)}) == [0, 0, 1]
    assert M.evidence_vector(hits, {("x.md", 12)}) == [0, 0, 0]
    assert M.mrr_at(M.evidence_vector(hits, {("n.md", 12)})) == 0.5


def test_recall_mrr_ndcg_by_hand():
    rel = [0, 1, 0, 1]
    assert M.recall_at(rel, 1) == 0.0 and M.recall_at(rel, 3) == 1.0
    assert M.mrr_at(rel) == 0.5
    # DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert M.ndcg_at(rel) == pytest.approx(expected)
    assert M.ndcg_at([0, 0]) == 0.0 and M.mrr_at([0, 0]) == 0.0


def answer(markdown, *cited):
    return {"answer_markdown": markdown,
            "citations": [{"n": n, "source": "n.md", "heading_path": list(p)} for n, p in cited]}


def test_citation_validity_and_precision():
    md = "**O**\n\n**T**\n- a [1]\n- b [2]\n\n**TL;DR**\n- c [1]\n\n출처\n[1] x\n[2] y"
    good = answer(md, (1, ("Top", "Spot")), (2, ("Top", "ELB")))
    assert M.citation_validity(good) == 1.0
    assert M.citation_precision(good, ["Spot"]) == 0.5
    assert M.citation_validity(answer(md, (1, ("Top", "Spot")))) == 0.0
    # the engine strips an unresolved marker and counts it: the answer then reads clean but was not
    assert M.citation_validity({**good, "citations_dropped": 1}) == 0.0
    assert M.citation_precision(answer("x"), ["Spot"]) is None


def test_key_term_coverage_ignores_case_and_the_sources_list():
    md = "**O**\n- ENA는 100Gbps [1]\n\n출처\n[1] Intel VF"
    assert M.key_term_coverage(md, ["ena", "100Gbps", "Intel VF"]) == pytest.approx(2 / 3)


GOOD = ("**개요 제목**\n\n**주제 제목**\n- 분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다. [1]\n- 짧은 줄\n\n"
        "**TL;DR**\n- 요약 문장이다 [2]\n\n출처\n[1] n.md › A (L1–L2)\n[2] n.md › B (L3–L4)")


def test_format_compliance_accepts_the_users_format():
    assert M.format_problems(GOOD) == []
    assert M.format_compliance(GOOD) == 1.0
    with_notice = "> 질문이 너무 길어 앞의 4000자만 사용했습니다.\n\n" + GOOD
    assert M.format_compliance(with_notice) == 1.0


def test_format_compliance_fails_a_four_line_stub():
    # scored 1.0 under the old check: bold titles, a TL;DR line, every bullet cited, Hangul
    stub = "**요약**\n**주제**\n- 내용 [1]\n**TL;DR**"
    problems = M.format_problems(stub)
    assert M.format_compliance(stub) == 0.0
    assert "no TL;DR with a bullet" in problems
    assert "출처 list [] does not match the cited numbers [1]" in problems


@pytest.mark.parametrize("broken, problem", [
    (GOOD.replace("**개요 제목**\n\n", ""), "no overview title (a bold line alone) at the top"),
    (GOOD.replace("**TL;DR**", "노트에 따르면 이렇다.\n\n**TL;DR**"),
     "a paragraph between the overview and the TL;DR is not a bold topic title with lines"),
    (GOOD.replace("7개의 인스턴스로 제한된다. [1]", "7개의 인스턴스로 제한된다."), "no topic with a cited bullet"),
    (GOOD.replace("- 요약 문장이다 [2]", "요약 문장이다 [2]"), "no TL;DR with a bullet"),
    (GOOD + "\n[3] n.md › C (L5–L6)", "출처 list [1, 2, 3] does not match the cited numbers [1, 2]"),
    (GOOD.replace("분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다.", "A spread group allows seven instances per AZ."),
     "a prose bullet of 15+ letters has no Hangul"),
])
def test_format_compliance_names_each_departure(broken, problem):
    assert problem in M.format_problems(broken)


EXAM = ("**정답: B (불확실)**\n\n**노트만으로는 선택지를 확실히 가릴 수 없어, 근거가 가장 많은 선택지를 골랐습니다.**\n\n"
        "**EC2 Placement Groups (배치 그룹)**\n\n**선택지 분석**\n"
        "- **A** (오답) — 노트: 랙에 장애가 발생하면 모든 EC2 인스턴스가 동시에 실패할 수 있다. [1]\n"
        "- **B** (정답) — 노트: 인스턴스가 서로 다른 랙에 분산된다. [2]\n"
        "- **C** (오답) — 노트에서 근거를 찾지 못했습니다.\n\n"
        "**TL;DR**\n- 정답은 B: 인스턴스가 서로 다른 랙에 분산된다. [2]\n\n출처\n[1] a.md › X (L1–L2)\n[2] a.md › Y (L3–L4)")


def test_exam_head_and_uncertainty_notice_sit_above_the_overview():
    assert M.format_problems(EXAM) == []


def test_exam_labels_do_not_make_an_english_quote_korean():
    # the old check accepted this: "(정답)" carried the Hangul whatever the quoted line said
    english = EXAM.replace("노트: 인스턴스가 서로 다른 랙에 분산된다. [2]",
                           "노트: Instances are spread across distinct racks. [2]")
    assert M.format_problems(english) == ["a prose bullet of 15+ letters has no Hangul"]
    tldr = EXAM.replace("정답은 B: 인스턴스가 서로 다른 랙에 분산된다.", "정답은 B: Instances are spread across racks.")
    assert M.format_compliance(tldr) == 0.0


def test_verify_may_quote_the_users_english_statement():
    statement = "A spread placement group is limited to 10 instances per AZ."
    md = ("**문장 검증 결과**\n\n**Spread Placement Group (분산 배치 그룹)**\n"
          "- A spread placement group is limited to ~~10 instances~~ per AZ. [1]\n"
          "  - **틀린 이유: 노트에는 다음과 같이 되어 있습니다: 이는 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다.** [1]\n\n"
          "**TL;DR**\n- 1개 문장 중 1개가 노트와 다릅니다. [1]\n\n출처\n[1] a.md › S (L1–L2)")
    assert M.format_problems(md, statement) == []
    assert M.format_problems(md, "Some other statement entirely.") == ["a prose bullet of 15+ letters has no Hangul"]


def test_code_and_short_lines_need_no_hangul():
    md = GOOD.replace("- 짧은 줄", "- `aws ec2 describe-instances --instance-ids i-123` [1]\n- ENA, EFA [1]\n"
                                  "- ex) /aws/reference/secretsmanager/secret_ID_in_Secrets_Manager [1]")
    assert M.format_problems(md) == []


def test_strike_strict_rule():
    md = "- A spread group allows ~~10 instances~~ per AZ [1]"
    assert M.strike_hits(md, "10 instances")
    assert not M.strike_hits(md, "per AZ")
    assert not M.strike_hits("no strike [1]", "10")
    assert M.strike_hits("- 레거시 Intel VF는 최대 ~~100Gbps의~~ 성능 [1]", "100Gbps")  # a particle may follow


@pytest.mark.parametrize("struck, wrong", [
    ("a", "also blocks"),  # a one-letter strike inside the wrong words
    ("5", "5-minute"),  # a number that only starts the wrong word
    ("Termination protection also blocks termination caused by sudo shutdown", "also blocks"),  # whole sentence
])
def test_strikes_the_loose_rule_accepted_now_fail(struck, wrong):
    md = f"- ~~{struck}~~ [1]"
    assert M.strike_hits_loose(md, wrong)
    assert not M.strike_hits(md, wrong)


def test_evidence_in_answer_ignores_spaces_markdown_and_citations():
    evidence = "이는 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다."
    md = "**T**\n- **이는** 한 AZ당 7개의 `EC2` 인스턴스로 제한되어 있다. [1]\n\n출처\n[1] x"
    assert M.evidence_share(md, evidence) == 1.0 and M.evidence_in_answer(md, evidence)
    half = "**T**\n- 이는 한 AZ 당 7개의 EC2 [1]\n\n출처\n[1] 인스턴스로 제한되어 있다."  # the rest only in 출처
    assert M.evidence_share(half, evidence) < 0.8 and not M.evidence_in_answer(half, evidence)


def test_evidence_in_answer_does_not_count_the_users_own_words():
    statement = "분산 배치 그룹은 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다."
    md = f"**문장 검증 결과**\n\n**S**\n- {statement} [1]\n  - 노트와 일치합니다: 다른 문장 [1]\n\n출처\n[1] x"
    evidence = "한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다."
    assert M.evidence_in_answer(md, evidence)  # without knowing the statement, the echo looks like evidence
    assert not M.evidence_in_answer(md, evidence, statement)


def test_wilson_interval_known_values():
    low, high = M.wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = M.wilson(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    low, high = M.wilson(44, 44)
    assert low == pytest.approx(0.9197, abs=1e-4) and high == 1.0
    assert M.wilson(0, 0) is None


def test_balanced_accuracy_and_majority_baseline():
    # always answering "false" on 3 false and 1 true statement: accuracy 0.75, balanced 0.5
    outcomes = [(False, True), (False, True), (False, True), (True, False)]
    assert M.balanced_accuracy(outcomes) == 0.5
    assert M.majority_share([False, False, False, True]) == 0.75
    assert M.balanced_accuracy([("A", True), ("B", False), ("B", True)]) == pytest.approx((1 + 0.5) / 2)
    assert M.balanced_accuracy([]) is None and M.majority_share([]) is None


def test_risk_coverage_sorts_by_confidence_and_keeps_ties_and_nulls_together():
    outcomes = [(0.9, True), (0.2, False), (None, True), (0.9, False), (0.5, True), (None, False)]
    assert M.risk_coverage(outcomes) == [
        (2 / 6, 1 / 2, 0.9), (3 / 6, 2 / 3, 0.5), (4 / 6, 2 / 4, 0.2), (1.0, 3 / 6, None)]
    assert M.risk_coverage([(None, True), (None, False)]) == [(1.0, 0.5, None)]  # no ranking: one point
    assert M.risk_coverage([]) == []


def test_percentile_and_mean():
    assert M.percentile([1, 2, 3, 4], 50) == 2.5
    assert M.percentile([5.0], 95) == 5.0 and M.percentile([], 50) is None
    assert M.mean([1, None, 3]) == 2 and M.mean([None]) is None
