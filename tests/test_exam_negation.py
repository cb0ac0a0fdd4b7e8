"""Exam mode flips to "pick the exception" only for a real NOT/EXCEPT question (issue 10, audit item 7)."""
import pytest

from rag.exam import NEGATED_QUESTION, choose

pytestmark = pytest.mark.fast

# option B has the most support on every signal, D the least
SCORES = {key: {signal: value for signal in ("use_both", "cooccur", "top5", "ranked")}
          for key, value in {"A": 0.5, "B": 0.9, "C": 0.4, "D": 0.1}.items()}


def picked(question: str) -> str:
    return choose(SCORES, bool(NEGATED_QUESTION.search(question)))


@pytest.mark.parametrize("question", [
    "A company wants broker groups on separate racks so that one rack failure affects only one group, "
    "not the whole cluster. Which placement strategy should it use?",
    "The instance is not reachable over SSH. Which step should the administrator take first?",
    "What happens if the instance does not pass its status checks?",
    "Which solution meets these requirements with the LEAST operational overhead?",  # asks for the best option
])
def test_ordinary_lowercase_not_keeps_the_best_supported_option(question):
    assert not NEGATED_QUESTION.search(question)
    assert picked(question) == "B"


@pytest.mark.parametrize("question", [
    "Which of the following is NOT a feature of a spread placement group?",
    "All of these reduce latency EXCEPT:",
    "Which statement about Elastic IPs is not true?",
    "Which of the following statements is false?",
    "다음 중 분산 배치 그룹의 특징이 아닌 것은?",
    "EIP에 대한 설명으로 틀린 것은?",
])
def test_exception_questions_pick_the_least_supported_option(question):
    assert NEGATED_QUESTION.search(question)
    assert picked(question) == "D"
