"""Metric functions against values computed by hand on tiny cases."""
import math

import pytest

from rag import metrics as M


def hit(rank, *path, source="n.md"):
    return {"rank": rank, "source": source, "heading_path": list(path)}


def test_relevance_normalises_headings_and_dedupes_sections():
    hits = [hit(1, "Top", "\\[SAA] Spot"), hit(2, "Top", "\\[SAA] Spot"), hit(3, "Top", "ELB"), hit(4, "Top", "NLB")]
    assert M.relevance_vector(hits, ["**[SAA] Spot** "]) == [1, 0, 0]
    assert M.relevance_vector(hits, ["NLB"]) == [0, 0, 1]


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
    assert M.citation_precision(answer("x"), ["Spot"]) is None


def test_key_term_coverage_ignores_case_and_the_sources_list():
    md = "**O**\n- ENA는 100Gbps [1]\n\n출처\n[1] Intel VF"
    assert M.key_term_coverage(md, ["ena", "100Gbps", "Intel VF"]) == pytest.approx(2 / 3)


def test_format_compliance():
    good = "**개요 제목**\n\n**주제 제목**\n- 한국어 문장이다 [1]\n\n**TL;DR**\n- 요약이다 [1]\n\n출처\n[1] x"
    assert M.format_compliance(good) == 1.0
    assert M.format_compliance(good.replace("**TL;DR**", "TL;DR")) == 0.0
    assert M.format_compliance(good.replace("요약이다 [1]", "요약이다")) == 0.0
    english = "**Overview**\n\n**Topic**\n- an English sentence only [1]\n\n**TL;DR**\n- summary [1]"
    assert M.format_compliance(english) == 0.0
    mixed = "**ALB**\n\n**ALB**\n- ALB는 L7 로드 밸런서이다 [1]\n- ALB supports HTTP [1]\n\n**TL;DR**\n- ALB는 L7이다 [1]"
    assert M.is_korean_prose(mixed)
    assert not M.is_korean_prose(mixed.replace("- ALB는 L7이다 [1]", "- ALB is L7 [1]"))


def test_strike_hits_the_wrong_span():
    md = "- A spread group allows ~~10 instances~~ per AZ [1]"
    assert M.strike_hits(md, "10 instances") and M.strike_hits(md, "10")
    assert not M.strike_hits(md, "per AZ")
    assert not M.strike_hits("no strike [1]", "10")


def test_percentile_and_mean():
    assert M.percentile([1, 2, 3, 4], 50) == 2.5
    assert M.percentile([5.0], 95) == 5.0 and M.percentile([], 50) is None
    assert M.mean([1, None, 3]) == 2 and M.mean([None]) is None
