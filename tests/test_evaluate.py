"""The eval harness on the fixture notes: gold checks, evidence lines, scoring rules, report and plots.

Answers are hand-made JSON (as `rag batch` writes them), so every figure is known in advance;
retrieval runs for real with the hash embedder.
"""
import json

import pytest

from rag.evaluate import GoldItem, NotesMap, ask_followup, evaluate, load_gold, locate_evidence, score_item

pytestmark = pytest.mark.fast

SPREAD = "Spread Placement Group (분산 배치 그룹)"
SPREAD_LINE = "이는 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다."
SPREAD_SOURCE = "aws.md › SOA 시험 대비 › EC2 Placement Groups (배치 그룹) › Spread Placement Group (분산 배치 그룹) (L14–L15)"
CITED = [{"n": 1, "source": "aws.md", "heading_path": ["SOA 시험 대비", "EC2 Placement Groups (배치 그룹)", SPREAD]}]

GOLD = [
    {"id": "o1", "question": "분산 배치 그룹은 AZ당 인스턴스를 몇 개까지 둘 수 있어?", "gold_headings": [SPREAD],
     "evidence_ko": SPREAD_LINE, "key_terms": ["7개"]},
    {"id": "o2", "question": "How many static IPs does an NLB get per AZ?", "gold_headings": ["Network Load Balancer (NLB)"],
     "evidence_ko": "NLB는 AZ 당 하나의 고정 IP를 가진다."},
    {"id": "m1", "question": "Which placement group spreads instances across distinct racks?",
     "options": {"A": "Cluster", "B": "Spread", "C": "Partition", "D": "None"}, "answer": "B",
     "gold_headings": [SPREAD], "evidence_ko": "인스턴스가 서로 다른 랙에 분산된다."},
    {"id": "v1", "statement": "A spread placement group allows 10 instances per AZ.", "is_correct": False,
     "wrong_span": "10 instances", "gold_headings": [SPREAD], "evidence_ko": SPREAD_LINE},
    {"id": "v2", "statement": "분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다.", "is_correct": True,
     "gold_headings": [SPREAD], "evidence_ko": SPREAD_LINE},
    {"id": "v3", "statement": "Instance store volumes keep their data when the instance stops.", "is_correct": False,
     "covered": False, "note": "grepped 'instance store' -> 0 hits"},
    {"id": "x1", "question": "How do I attach AWS WAF rules to an NLB?", "category": "near_miss", "note": "grep"},
    {"id": "x2", "question": "ㅋㅋㅋㅋ", "category": "junk"},
    {"id": "f1", "turns": ["NLB는 몇 계층이야?", "그럼 ALB는?"], "gold_headings": ["Application Load Balancer (ALB)"],
     "evidence_ko": "ALB는 L7 로드 밸런서로 HTTP 라우팅을 지원한다."},
]


def qa(body: str, **fields) -> dict:
    markdown = f"**EC2 Placement Groups (배치 그룹)**\n\n**{SPREAD}**\n{body}\n\n**TL;DR**\n- {SPREAD_LINE} [1]\n\n출처\n[1] {SPREAD_SOURCE}"
    return {"answer_markdown": markdown, "abstained": False, "citations": CITED, "mode": "qa", "choice": None,
            "is_correct": None, "uncertain": False, "confidence": None, "timings_ms": {"total_ms": 10.0}, **fields}


ABSTAINED = {"answer_markdown": "**노트에서 관련 내용을 찾지 못했습니다**\n\n**TL;DR**\n- 노트에 없는 내용은 추측하지 않습니다.",
             "abstained": True, "citations": [], "mode": "qa", "choice": None, "is_correct": None}
ANSWERS = {
    "o1": qa(f"- {SPREAD_LINE} [1]"),
    "o2": {"id": "o2", "question": "q", "error": "AssertionError: unresolved citations [3]"},
    "m1": qa("- **B** (정답) — 노트: 인스턴스가 서로 다른 랙에 분산된다. [1]", mode="exam", choice="B"),
    "v1": qa("- A spread placement group allows ~~10 instances~~ per AZ. [1]", mode="verify", is_correct=False,
             confidence=0.8),
    "v2": qa("- 분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다. [1]", mode="verify", is_correct=True, uncertain=True),
    "v3": qa("- Instance store volumes keep their data when the instance stops. [1]", mode="verify", is_correct=True),
    "x1": ABSTAINED,
    "x2": qa(f"- {SPREAD_LINE} [1]"),
    # f1 has no answer at all
}


def write_lines(path, records):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def notes(hash_assistant):
    return NotesMap.of(hash_assistant.settings.corpus_dir, hash_assistant.state.data.chunks)


@pytest.fixture
def headings(hash_assistant):
    from rag.metrics import normalise_heading

    return {normalise_heading(h) for c in hash_assistant.state.data.chunks for h in c.heading_path}


def test_bad_gold_types_are_reported_with_file_and_line(tmp_path, headings):
    gold = write_lines(tmp_path / "gold.jsonl", [
        {"id": "1", "question": 42, "gold_headings": [SPREAD]},
        {"id": "2", "question": None},
        {"id": "3", "turns": ["only one turn"], "gold_headings": [SPREAD]},
        {"id": "4", "turns": ["NLB는?", 7], "gold_headings": [SPREAD]},
        {"id": "5", "question": "WAF on ALB?", "category": "nonsense"},
        {"id": "6", "statement": "s", "is_correct": True},
        {"id": "7", "statement": "s", "is_correct": "yes", "gold_headings": [SPREAD]},
        {"id": "8", "statement": "Instance store survives a stop.", "is_correct": False, "covered": False},
        {"id": "9", "turns": ["NLB는?", "그럼 ALB는?"], "gold_headings": ["Application Load Balancer (ALB)"]},
    ])
    items, errors = load_gold([gold], headings)
    assert errors == [
        f"{gold}:1: question must be a non-empty string",
        f"{gold}:2: question must be a non-empty string",
        f"{gold}:3: turns must be two non-empty strings: the first question and its follow-up",
        f"{gold}:4: turns must be two non-empty strings: the first question and its follow-up",
        f"{gold}:5: category 'nonsense' is unknown; use one of absent, near_miss, junk",
        f"{gold}:6: verify item lacks field 'gold_headings' (or mark it \"covered\": false)",
        f"{gold}:7: is_correct must be true or false",
    ]
    assert [(i.id, i.kind, i.lang, i.covered, i.text) for i in items] == [
        ("8", "verify", "en", False, "Instance store survives a stop."), ("9", "followup", "ko", True, "그럼 ALB는?")]


def test_evidence_is_located_on_its_line_and_mapped_to_its_section(tmp_path, headings, notes):
    gold = write_lines(tmp_path / "gold.jsonl", [
        GOLD[0],
        {**GOLD[1], "id": "bad", "evidence_ko": "노트에 없는 문장이다."},
        {**GOLD[1], "id": "skipped", "evidence_ko": "한글로 답변해줘"},  # in the custom instructions, not indexed
    ])
    items, _ = load_gold([gold], headings)
    found, errors = locate_evidence(items, notes)
    assert found == {"o1": frozenset({("aws.md", 15)})}
    assert notes.sections(found["o1"]) == {("aws.md", ("SOA 시험 대비", "EC2 Placement Groups (배치 그룹)", SPREAD))}
    assert errors == [f"gold.jsonl:{n}: evidence_ko not found on any indexed line of the notes; copy it verbatim from one line"
                      for n in (2, 3)]


def item(record, kind):
    return GoldItem("g.jsonl", 1, kind, "en", record)


def test_an_errored_item_fails_every_metric_it_enters():
    # the old harness left errored items out, so citation validity could not fail
    scores = score_item(item(GOLD[1], "open"), ANSWERS["o2"]).scores
    assert scores == {"citation_validity": 0.0, "format_compliance": 0.0, "citation_precision": 0.0,
                      "evidence_in_answer": 0.0, "body_chars": None, "false_abstention": 1.0}
    mcq = score_item(item(GOLD[2], "mcq"), None)
    assert mcq.error == "no answer for this id"
    assert mcq.scores["mcq_accuracy"] == 0.0 and mcq.scores["mcq_confident_share"] == 0.0


def test_an_undecided_statement_counts_whether_its_answer_quotes_the_gold_line():
    undecided = qa("- A spread placement group allows 10 instances per AZ. — 노트로 확인할 수 없음 [1]", mode="verify")
    assert score_item(item(GOLD[3], "verify"), undecided).scores["undecided_evidence_shown"] == 1.0  # in its TL;DR
    bare = {**undecided, "answer_markdown": undecided["answer_markdown"].replace(SPREAD_LINE, "노트로 확인할 수 없음")}
    assert score_item(item(GOLD[3], "verify"), bare).scores["undecided_evidence_shown"] == 0.0
    assert "undecided_evidence_shown" not in score_item(item(GOLD[3], "verify"), ANSWERS["v1"]).scores  # decided


def test_mcq_items_stay_out_of_false_abstention():
    # the old harness counted every MCQ as "not abstained", which diluted false abstention
    scores = score_item(item(GOLD[2], "mcq"), ANSWERS["m1"]).scores
    assert "false_abstention" not in scores
    assert scores["mcq_accuracy"] == 1.0 and scores["format_compliance"] == 1.0


def test_evaluate_scores_hand_made_answers(tmp_path, hash_assistant):
    gold = write_lines(tmp_path / "test_gold.jsonl", GOLD)
    answers = write_lines(tmp_path / "answers.jsonl", [{"id": k, **v} for k, v in ANSWERS.items()])
    settings = hash_assistant.settings
    run = evaluate([gold], hash_assistant, ["bm25", "dense:hash", "hybrid"], tmp_path / "out", answers_path=answers)
    assert hash_assistant.settings is settings
    assert run.errors == []
    a = run.metrics["answers"]
    everything = a["all"]
    assert everything["n"] == 9 and everything["errors"] == 2
    assert everything["citation_validity"] == 7 / 9 and everything["citation_validity_n"] == 9
    assert everything["false_abstention"] == 2 / 3 and everything["false_abstention_n"] == 3  # o1, o2, f1
    assert a["kind:oos"]["abstention_recall"] == 0.5
    assert a["category:near_miss"]["abstention_recall"] == 1.0 and a["category:junk"]["abstention_recall"] == 0.0
    assert a["kind:mcq"]["mcq_accuracy"] == 1.0 and a["kind:mcq"]["mcq_chance"] == 0.25
    verify = a["kind:verify"]
    assert verify["verify_accuracy"] == 1.0 and verify["verify_accuracy_n"] == 2  # covered statements only
    assert verify["verify_majority"] == 0.5 and verify["verify_balanced_accuracy"] == 1.0
    assert verify["verify_confident_share"] == 0.5 and verify["verify_accuracy_confident"] == 1.0
    assert verify["not_covered_handling"] == 0.0 and verify["not_covered_handling_n"] == 1
    assert verify["strike_hit_rate"] == 1.0 and verify["strike_hit_rate_loose"] == 1.0
    assert a["kind:open"]["evidence_in_answer"] == 0.5 and a["kind:open"]["evidence_in_answer_ci"][0] > 0
    assert a["kind:followup"]["evidence_in_answer"] == 0.0
    hybrid = run.metrics["retrieval"]["hybrid"]["all"]
    assert hybrid["n"] == 6 and hybrid["strict_recall@10_n"] == 6 and hybrid["evidence_recall@10_n"] == 6
    assert hybrid["strict_recall@1"] <= hybrid["recall@1"]
    out = tmp_path / "out"
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "mixed or unnamed split" not in report and "test split: out-of-sample" in report
    assert "| MCQ accuracy | kind:mcq | ≥ 0.75 | 1.000 [0.21–1.00] n=1 | 0.250 | yes (n=1: too few to tell) | #12 |" in report
    assert "mcq: no confidence reported (n=1)" in report
    assert "verify: confidence reported on 1 of 2 answers; answers without one come last, together" in report
    assert "- o2 (test_gold.jsonl:2): AssertionError: unresolved citations [3]" in report
    assert "- f1 (test_gold.jsonl:9): no answer for this id" in report
    for name in ("recall_at_k.png", "risk_coverage_exam.png", "risk_coverage_verify.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    rows = [json.loads(line) for line in (out / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [g["id"] for g in GOLD]
    assert "### Targets" in run.summary_markdown and "strict recall@5" in run.summary_markdown


def test_follow_up_is_answered_with_the_first_turn_as_history(hash_assistant):
    first = "NLB는 L4 로드 밸런서로 TCP와 UDP 트래픽을 처리한다?"
    answer = ask_followup(hash_assistant, first, "그럼 ALB는?")
    assert answer["question"] == "그럼 ALB는?"
    assert answer["first_turn"] == {"question": first, "topic": "Network Load Balancer (NLB)"}
    # the engine lends the first turn's aspect as context; the follow-up's own words stay whole
    assert answer["retrieval_text"].endswith(" 그럼 ALB는?") and "L4" in answer["retrieval_text"]


def test_live_answers_are_saved_and_rescore_the_same(tmp_path, hash_assistant):
    gold = write_lines(tmp_path / "dev_gold.jsonl", GOLD)
    live = evaluate([gold], hash_assistant, ["bm25"], tmp_path / "live")
    saved = tmp_path / "live" / "answers.jsonl"
    assert [json.loads(line)["id"] for line in saved.read_text(encoding="utf-8").splitlines()] == [g["id"] for g in GOLD]
    again = evaluate([gold], hash_assistant, ["bm25"], tmp_path / "again", answers_path=saved)
    assert live.metrics["answers"] == again.metrics["answers"] and live.metrics["retrieval"] == again.metrics["retrieval"]
    assert live.metrics["answers"]["all"]["errors"] == 0
    assert "IN-SAMPLE" in live.metrics["split"]
