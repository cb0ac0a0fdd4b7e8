"""Option parsing in every pasted style, mode detection on each gold kind."""
import json
from pathlib import Path

import pytest

from rag.modes import detect_mode, parse_options

GOLD = Path(__file__).parent.parent / "eval" / "gold"


@pytest.mark.parametrize("text", [
    "Which one?\nA. Cluster\nB. Spread\nC. Partition\nD. None",
    "Which one?\nA) Cluster\nB) Spread\nC) Partition\nD) None",
    "Which one?\n(A) Cluster\n(B) Spread\n(C) Partition\n(D) None",
    "Which one? A. Cluster B. Spread C. Partition D. None",
    "Which one? (A) Cluster (B) Spread (C) Partition (D) None",
    "Which one?\na. Cluster\nb. Spread\nc. Partition\nd. None",
    "Which one?\nA: Cluster\nB: Spread\nC: Partition\nD: None",
])
def test_pasted_options_are_parsed(text):
    stem, options = parse_options(text)
    assert stem == "Which one?"
    assert options == {"A": "Cluster", "B": "Spread", "C": "Partition", "D": "None"}


def test_wrapped_option_lines_join_their_option():
    _, options = parse_options("Q?\nA. first part\n   continued\nB. second")
    assert options == {"A": "first part continued", "B": "second"}


def test_plain_text_has_no_options():
    assert parse_options("What is a VPC? It is a network.") == ("What is a VPC? It is a network.", {})


@pytest.mark.parametrize("text, mode", [
    ("How many instances per AZ can a spread placement group have?", "qa"),
    ("분산 배치 그룹은 AZ당 몇 개?", "qa"),
    ("spread placement group", "qa"),
    ("EFA works only on Linux.", "verify"),
    ("An NLB cannot have an Elastic IP.", "verify"),
    ("분산 배치 그룹은 AZ당 10개로 제한된다.", "verify"),
    ("클러스터 배치 그룹 설명해줘", "qa"),
    ("When a T2 instance is lightly used, its credits accumulate.", "verify"),  # a clause, not a question
    ("Instance store data is lost when the instance is stopped.", "verify"),
    ("When should I use a spread placement group", "qa"),
    ("Please explain the difference between ALB and NLB", "qa"),
    ("Spot Instance는 최대 90% 할인된다. Spot Instance는 언제든 중단될 수 있다.", "verify"),  # 언제든: anytime
    ("몇몇 인스턴스 유형은 Hibernate를 지원하지 않는다.", "verify"),
    ("스팟 인스턴스는 언제 중단돼?", "qa"),
])
def test_mode_detection(text, mode):
    assert detect_mode(text, {}) == mode


def test_mode_detection_on_gold_kinds():
    """Open questions → qa, statements → verify, MCQ (with options) → exam."""
    results = {"open": [], "verify": []}
    for name, kind, field in (("dev_open_en", "open", "question"), ("dev_open_ko", "open", "question"),
                              ("dev_verify", "verify", "statement")):
        for line in (GOLD / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            results[kind].append(detect_mode(json.loads(line)[field], {}))
    open_share = results["open"].count("qa") / len(results["open"])
    verify_share = results["verify"].count("verify") / len(results["verify"])
    assert open_share >= 0.95, open_share
    assert verify_share >= 0.9, verify_share
    assert detect_mode("Q", {"A": "x", "B": "y"}) == "exam"
