"""Answers in the notes' format: every line cited, citations resolve, Korean prose, abstention."""
import re
from types import SimpleNamespace

import pytest

from rag.evidence import known_mass, known_name, unknown_terms
from rag.lexical import english_term
from rag.metrics import citation_validity, format_compliance, is_korean_prose


def content_lines(markdown):
    body = markdown.split("\n출처\n")[0]
    return [line for line in body.splitlines() if line.startswith("- ")]


def test_answer_follows_the_format_with_valid_citations(e5_assistant):
    answer = e5_assistant.ask("How many instances per AZ can a spread placement group have?", mode="qa")
    md = answer.answer_markdown
    assert not answer.abstained
    assert md.startswith("**EC2 Placement Groups (배치 그룹)**\n\n**Spread Placement Group (분산 배치 그룹)**")
    assert "**TL;DR**" in md and "\n출처\n" in md
    assert "7개" in md
    assert all(re.search(r"\[\d+\]$", line) for line in content_lines(md))
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", md.split("\n출처\n")[0])}
    assert cited == {c.n for c in answer.citations}
    for citation in answer.citations:
        assert f"[{citation.n}] {citation.chunk.source} › " in md
        assert f"(L{citation.chunk.line_start}–L{citation.chunk.line_end})" in md
    data = answer.to_json()
    assert citation_validity(data) == 1.0 and format_compliance(md) == 1.0 and is_korean_prose(md)


def test_korean_question_gets_korean_answer(e5_assistant):
    answer = e5_assistant.ask("수평 확장이 뭐야?", mode="qa")
    assert "수평 확장은 인스턴스의 수를 늘리는 것이다." in answer.answer_markdown
    assert format_compliance(answer.answer_markdown) == 1.0


def test_out_of_scope_question_abstains_and_lists_nearest_sections(e5_assistant):
    answer = e5_assistant.ask("How do I configure DynamoDB global tables?", mode="qa")
    assert answer.abstained
    assert answer.answer_markdown.startswith("**노트에서 관련 내용을 찾지 못했습니다**")
    assert "**가장 가까운 노트 섹션**" in answer.answer_markdown
    assert citation_validity(answer.to_json()) == 1.0
    assert "**노트에 나오지 않는 이름**\n- `DynamoDB`\n" in answer.answer_markdown  # says which name the notes lack


def test_a_known_name_joined_to_an_ordinary_word_is_not_an_unknown_name(e5_assistant):
    answer = e5_assistant.ask("Why does an EBS-backed instance terminate immediately after launch?", mode="qa")
    assert not answer.abstained  # "EBS-backed" is EBS (it abstained, naming `EBS-backed` as unknown)
    assert "EBS 볼륨 제한을 초과했을 때" in answer.answer_markdown


@pytest.mark.fast
@pytest.mark.parametrize("word, known", [("EBS-backed", True), ("Standard-tier", True), ("T2/T3", True),
                                         ("Graviton-based", False), ("ENA-Express", False), ("T2/X9", False)])
def test_a_compound_is_known_when_its_named_parts_are(word, known):
    assert known_name(english_term(word), word, {"ebs", "standard", "t2", "t3", "ena"}) is known


@pytest.mark.fast
@pytest.mark.parametrize("question, unknown", [
    ("Why can't I SSH into my EC2 instance from my MacBook?", []),  # an ordinary word, capitalised
    ("Is it OK to put a production DB on Spot Instances?", []),
    ("My Ops team asks how the ELB health check works.", []),  # "My" starts the sentence: no name beside "Ops"
    ("How do I open the Tag Editor for EC2?", ["editor"]),  # a common word inside a name of two words
    ("Can an ALB check an OIDC identity provider?", ["oidc"]),  # a rare word counts alone
    ("Does AWS Fargate run containers?", ["fargate"]),
])
def test_an_ordinary_capitalised_word_standing_alone_is_not_an_unknown_name(question, unknown):
    notes = SimpleNamespace(known_terms={"ssh", "ec2", "spot", "instance", "db", "elb", "tag", "alb"})
    assert unknown_terms(question, notes)[0] == unknown


@pytest.mark.fast
def test_a_name_written_in_hangul_is_a_name_the_notes_know():
    notes = SimpleNamespace(chunks=[None] * 10, known_terms={"hibernate"})
    assert known_mass("하이버네이트 쓰려면 조건이 뭐야?", notes, {})[1]
    assert not known_mass("쓰려면 조건이 뭐야?", notes, {})[1]


def test_erratum_sentence_is_struck_through_with_bold_correction(e5_assistant):
    answer = e5_assistant.ask("Elastic IP는 서버에 연결되어 있으면 요금이 없어?", mode="qa")
    md = answer.answer_markdown
    assert "~~이 IP를 인스턴스 간에 다시 매핑할 수 있고, 서버에 연결된 경우 EIP에 대한 요금을 지불하지 않는다.~~" in md
    assert "**정정: 2024년 2월부터 연결된 Elastic IP도 요금이 부과된다.**" in md


def test_huge_query_is_truncated_with_a_notice(hash_assistant):
    answer = hash_assistant.ask("spread placement group " * 50_000, mode="qa")
    assert "question truncated to 4000 characters" in answer.answer_markdown
    assert len(answer.question) == 4000
