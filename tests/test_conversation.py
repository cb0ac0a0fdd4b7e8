"""Follow-up questions carry the previous topic into retrieval, with exact expected contexts."""
from __future__ import annotations

import pytest

from rag.conversation import Turn, content_words, context_for, is_follow_up, normal, subject_vocabulary, subjects

SPREAD = Turn("How many instances per AZ can a spread placement group have?", "Spread Placement Group (분산 배치 그룹)")
ALB = Turn("Does ALB support HTTP routing?", "Application Load Balancer (ALB)")
STICKY = Turn("ELB의 Sticky Session은 어떻게 동작해?", "Sticky Sessions (고정 세션)")
HEADINGS = ["Cluster Placement Group (클러스터 배치 그룹)", "Spread Placement Group (분산 배치 그룹)",
            "Partition Placement Group (파티션 배치 그룹)", "EC2 Placement Groups (배치 그룹)",
            "Sticky Sessions (고정 세션)", "EC2 Instance Status Checks", "EC2 Instance Purchasing Options",
            "EC2 Hibernate", "Elastic IPs", "Application Load Balancer (ALB)", "Network Load Balancer (NLB)"]
VOCABULARY = subject_vocabulary(HEADINGS)


@pytest.mark.parametrize("word, expected", [
    ("그룹은", "그룹"), ("NLB", "nlb"), ("instances", "instance"), ("class", "class"), ("AZ", "az"), ("IPs", "ip"),
])
def test_normal_drops_particles_and_plurals(word, expected):
    assert normal(word) == expected


def test_content_words_skip_linking_and_question_words():
    assert content_words("그럼 파티션 배치 그룹은?") == ["파티션", "배치", "그룹"]
    assert content_words("and for NLB?") == ["nlb"]
    assert content_words("왜?") == []


@pytest.mark.parametrize("message, expected", [
    ("그럼 파티션 배치 그룹은?", True),
    ("and for NLB?", True),
    ("what about cluster placement groups?", True),
    ("NLB는?", True),
    ("왜?", True),
    ("Is it limited to one rack?", True),
    ("그 과정에서 만들어지는 EC2는?", True),  # 그 (that) points back, though it names EC2
    ("해당 인스턴스는 비용이 나가?", True),
    ("What is an Elastic IP?", False),
    ("Is EBS regional?", False),
    ("EBS는 리전 단위인가요?", False),
    ("A company wants to spread instances across racks. Which option should it use to do that?\nA. x\nB. y", False),
    ("", False),
])
def test_is_follow_up(message, expected):
    assert is_follow_up(message) is expected


def test_no_history_means_no_context():
    assert context_for("그럼 파티션 배치 그룹은?", []) is None


def test_standalone_question_ignores_history():
    assert context_for("What is an Elastic IP?", [SPREAD]) is None


def test_new_subject_keeps_the_previous_aspect_korean():
    assert context_for("그럼 파티션 배치 그룹은?", [SPREAD], VOCABULARY) == "How many instances per AZ"


def test_new_subject_keeps_the_previous_aspect_english():
    assert context_for("and for NLB?", [ALB], VOCABULARY) == "Does support HTTP routing"


def test_bare_topic_is_a_follow_up():
    assert context_for("NLB는?", [ALB], VOCABULARY) == "Does support HTTP routing"


def test_same_subject_carries_question_and_heading():
    expected = "How many instances per AZ can a spread placement group have 분산 배치 그룹"
    assert context_for("왜?", [SPREAD]) == expected
    assert context_for("Is it limited to one rack?", [SPREAD]) == expected


def test_one_of_the_previous_things_keeps_their_subject():
    groups = Turn("What is a placement group?", "EC2 Placement Groups (배치 그룹)")
    assert context_for("which one is best for HPC?", [groups], VOCABULARY) == "What is a placement group EC2 배치 그룹"
    assert context_for("그중에 HPC에 제일 좋은 건?", [groups], VOCABULARY) == "What is a placement group EC2 배치 그룹"


def test_chain_of_follow_ups_keeps_the_first_aspect():
    second = Turn("그럼 파티션 배치 그룹은?", "EC2 Placement Groups (배치 그룹)", "How many instances per AZ")
    assert context_for("and cluster?", [SPREAD, second], VOCABULARY) == "How many instances per AZ"


def test_subject_vocabulary_keeps_specific_heading_words_only():
    assert {"cluster", "sticky", "hibernate"} <= VOCABULARY
    assert "ec2" not in VOCABULARY and "그룹" not in VOCABULARY  # in most headings: names no one subject
    assert subjects("and cluster?", VOCABULARY) == {"cluster"}
    assert subjects("그럼 비용은 어떻게 나와?", VOCABULARY) == set()
    tagged = subject_vocabulary([*HEADINGS, "AMI No Reboot Option", "EC2 Instance Migration using AMIs"])
    assert "reboot" in tagged and not {"no", "using"} & tagged  # stop words in a heading name no subject
    assert subjects("what if there is no traffic?", tagged) == set()


@pytest.mark.parametrize("message", ["그럼 비용은 어떻게 나와?", "what's the risk?", "몇 계층에서 동작해?"])
def test_a_short_message_naming_no_subject_asks_about_the_previous_one(message):
    context = context_for(message, [STICKY], VOCABULARY)
    assert context == "ELB Sticky Session 어떻게 동작해 고정 세션"


def test_a_turn_that_found_nothing_lends_no_context():
    junk = Turn("asdfasdf <b>ㅋㅋ</b>", "")
    assert context_for("그럼 비용은?", [junk], VOCABULARY) is None


def test_nothing_left_to_carry_gives_none():
    assert context_for("그럼 NLB는?", [Turn("What is ALB?", "Application Load Balancer (ALB)")], VOCABULARY) is None


def test_only_the_last_turn_matters():
    assert context_for("and for NLB?", [ALB, SPREAD], VOCABULARY) == "How many instances per AZ"


def test_a_new_name_no_heading_holds_is_an_aspect_of_the_same_subject():
    spread = Turn("What is a spread placement group?", "Spread Placement Group (분산 배치 그룹)")
    assert context_for("and how many per AZ?", [spread], VOCABULARY) == (
        "What is a spread placement group 분산 배치 그룹")  # AZ names no section: not "What is a"
