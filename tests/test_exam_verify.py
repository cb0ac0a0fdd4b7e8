"""Exam and verify answers on the fixture notes, with exact letters and verdicts."""
from rag.metrics import format_compliance


def test_exam_picks_the_supported_option(e5_assistant):
    answer = e5_assistant.ask(
        "An application needs instances on distinct racks to limit correlated failures. Which placement group?\n"
        "A. Cluster placement group\nB. Spread placement group\nC. Dedicated host\nD. Capacity reservation")
    assert answer.mode == "exam"
    assert answer.choice == "B"
    assert answer.answer_markdown.startswith("**정답: B")
    assert "- **B** (정답)" in answer.answer_markdown
    assert format_compliance(answer.answer_markdown) == 1.0


def test_exam_with_json_options(e5_assistant):
    answer = e5_assistant.ask("NLB는 몇 계층에서 동작하나요?", mode="exam",
                              options={"A": "L7", "B": "L4", "C": "L3", "D": "L2"})
    assert answer.choice == "B"


def test_verify_strikes_a_wrong_number(e5_assistant):
    answer = e5_assistant.ask("A spread placement group allows 10 instances per AZ.")
    assert answer.mode == "verify"
    assert answer.is_correct is False
    verdict = answer.verdicts[0]
    assert (verdict.verdict, verdict.wrong_span) == ("contradicted", "10 instances")
    assert "7" in verdict.evidence  # the note sentence that shows the right number
    assert "~~10 instances~~" in answer.answer_markdown
    assert "**틀린 이유: 노트에는 다음과 같이 되어 있습니다:" in answer.answer_markdown


def test_verify_strikes_a_swapped_term(e5_assistant):
    answer = e5_assistant.ask("ALB는 L4 로드 밸런서로 TCP와 UDP 트래픽을 처리한다.", mode="verify")
    assert answer.is_correct is False
    assert answer.verdicts[0].wrong_span == "ALB"


def test_verify_supports_a_correct_statement(e5_assistant):
    answer = e5_assistant.ask("NLB는 AZ 당 하나의 고정 IP를 가진다.", mode="verify")
    assert answer.is_correct is True
    assert [v.verdict for v in answer.verdicts] == ["supported"]
    assert "NLB" in answer.verdicts[0].evidence and answer.to_json()["verdicts"][0]["evidence"] == answer.verdicts[0].evidence


def test_verify_flags_an_erratum_sentence(e5_assistant):
    answer = e5_assistant.ask("서버에 연결된 경우 EIP에 대한 요금을 지불하지 않는다.", mode="verify")
    assert answer.is_correct is False
    assert "2024년 2월부터" in answer.verdicts[0].correction


def test_verify_handles_several_sentences(e5_assistant):
    answer = e5_assistant.ask("NLB는 L4 로드 밸런서이다. 분산 배치 그룹은 AZ 당 10개의 인스턴스로 제한된다.", mode="verify")
    assert [v.verdict for v in answer.verdicts] == ["supported", "contradicted"]


def test_verify_not_covered_quotes_the_nearest_note_sentence(e5_assistant):
    answer = e5_assistant.ask("EIP는 다른 리전으로 옮겨서 계속 사용할 수 있다.", mode="verify")
    verdict = answer.verdicts[0]
    assert (verdict.verdict, verdict.evidence, answer.is_correct) == ("not_covered", None, None)
    assert verdict.nearest == ("기본적으로 AWS 리전 당 최대 다섯 개의 EIP를 보유할 수 있다.",)
    assert "  - 노트에서 가장 가까운 문장: 기본적으로 AWS 리전 당 최대 다섯 개의 EIP를 보유할 수 있다. [1]" in answer.answer_markdown
    assert answer.to_json()["verdicts"][0]["nearest"] == list(verdict.nearest)


def test_verify_quotes_nothing_when_the_notes_hold_nothing_close(e5_assistant):
    answer = e5_assistant.ask("Terraform state files are stored in a DynamoDB table.", mode="verify")
    assert [(v.verdict, v.nearest) for v in answer.verdicts] == [("not_covered", ())]
    assert "가장 가까운 문장" not in answer.answer_markdown
