"""The gold files follow eval/gold/README.md: schema per kind, verbatim evidence, true grep records, balanced splits.

Each rule is a function that returns one-line problems. The tests run the rules on
the real gold files (no problems allowed) and on hand-made bad records (each rule
must fire), so no rule passes by construction. Nothing here loads a model.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from rag.evaluate import kind_of as harness_kind
from rag.evaluate import load_gold
from rag.metrics import normalise_heading
from rag.notes import ChunkerSettings, load_corpus

pytestmark = pytest.mark.fast

REPO = Path(__file__).parent.parent
GOLD = sorted((REPO / "eval" / "gold").glob("*.jsonl"))
NOTE_LINES = (REPO / "corpus" / "soa-notes.md").read_text(encoding="utf-8").splitlines()
BODY = NOTE_LINES[NOTE_LINES.index("# SOA 시험 대비"):]  # the Custom Instructions block above it is not notes
HANGUL = re.compile("[가-힣]")  # the harness's language rule: a Hangul syllable means Korean
GREP_RECORD = re.compile(r"'([^']+)' -> (\d+)")
MIN_EVIDENCE_CHARS = 15
MAX_FOLLOWUP_CHARS = 50
FILE_KINDS = {"mcq": "mcq", "open_en": "open", "open_ko": "open", "verify": "verify", "oos": "oos", "followup": "followup"}
FIELDS = {
    "mcq": {"id", "question", "options", "answer", "gold_headings", "evidence_ko", "key_terms"},
    "open": {"id", "question", "gold_headings", "evidence_ko", "key_terms"},
    "followup": {"id", "turns", "gold_headings", "evidence_ko", "key_terms"},
    "verify": {"id", "statement", "is_correct", "wrong_span", "correction_ko", "gold_headings", "evidence_ko"},
    "not_covered": {"id", "statement", "is_correct", "covered", "note"},
    "oos": {"id", "question", "category", "note"},
}
OOS_CATEGORIES = ("absent", "near_miss", "junk")


def squash(text: str) -> str:
    """Text with `**`, backticks and runs of whitespace removed, as evidence is compared."""
    return " ".join(text.replace("**", "").replace("`", "").split())


SQUASHED_BODY = [squash(line) for line in BODY]
BODY_TEXT = "\n".join(SQUASHED_BODY).lower()


def grep_count(term: str) -> int:
    """Lines of the notes body holding the term, case-insensitive (what a grep record states)."""
    return sum(term.lower() in line.lower() for line in BODY)


def kind_of(record: dict) -> str:
    """The harness's kind, with verify statements the notes do not address told apart."""
    kind = harness_kind(record)
    return "not_covered" if kind == "verify" and record.get("covered", True) is False else kind


def language(record: dict) -> str:
    text = record["turns"][0] if "turns" in record else record.get("question") or record.get("statement") or ""
    return "ko" if HANGUL.search(text) else "en"


def is_text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def evidence_problems(evidence) -> list[str]:
    if not is_text(evidence) or len(squash(evidence)) < MIN_EVIDENCE_CHARS:
        return [f"evidence_ko must be at least {MIN_EVIDENCE_CHARS} characters copied from the notes"]
    if not any(squash(evidence) in line for line in SQUASHED_BODY):
        return [f"evidence_ko is not a verbatim span of one line of the notes: {evidence!r}"]
    return []


def grep_problems(note) -> list[str]:
    """A near-miss or not-covered note records its grep: 'term' -> count, each count true today."""
    records = GREP_RECORD.findall(note) if is_text(note) else []
    if not records:
        return ["note must record the grep as 'term' -> count"]
    problems = [f"grep record '{term}' -> {count} is wrong: the notes have {grep_count(term)}"
                for term, count in records if grep_count(term) != int(count)]
    if all(int(count) for _, count in records):
        problems.append("no grepped term is absent from the notes (no 'term' -> 0)")
    if not any(HANGUL.search(term) for term, _ in records) or all(HANGUL.search(term) for term, _ in records):
        problems.append("grep both Korean and English terms of the aspect")
    return problems


def scope_problems(record: dict, headings: set[str]) -> list[str]:
    """In-scope items: known gold headings, verbatim evidence, key terms that occur in the notes."""
    problems = []
    if not (isinstance(record["gold_headings"], list) and record["gold_headings"]):
        problems.append("gold_headings must be a non-empty list")
    else:
        problems += [f"unknown heading {h!r}" for h in record["gold_headings"]
                     if not is_text(h) or normalise_heading(h) not in headings]
    problems += evidence_problems(record["evidence_ko"])
    if "key_terms" in record:
        terms = record["key_terms"]
        if not (isinstance(terms, list) and terms and all(is_text(t) for t in terms)):
            problems.append("key_terms must be a non-empty list of strings")
        else:
            problems += [f"key term {t!r} does not occur in the notes" for t in terms if squash(t).lower() not in BODY_TEXT]
    return problems


def kind_problems(record: dict, kind: str) -> list[str]:
    if kind == "mcq":
        options = record["options"]
        if not (isinstance(options, dict) and set(options) == set("ABCD") and all(is_text(v) for v in options.values())):
            return ["options must map A, B, C and D to non-empty text"]
        return [] if record["answer"] in options else [f"answer {record['answer']!r} is not one of the options"]
    if kind == "followup":
        turns = record["turns"]
        if not (isinstance(turns, list) and len(turns) == 2 and all(is_text(t) for t in turns)):
            return ["turns must be two non-empty strings"]
        return [] if len(turns[1]) <= MAX_FOLLOWUP_CHARS else [f"the follow-up turn is longer than {MAX_FOLLOWUP_CHARS} characters"]
    if kind in ("verify", "not_covered"):
        if not is_text(record["statement"]) or not isinstance(record["is_correct"], bool):
            return ["statement must be text and is_correct true or false"]
        if kind == "not_covered":
            return grep_problems(record["note"])
        if record["is_correct"]:
            return [] if record["wrong_span"] is None and record["correction_ko"] is None else [
                "a true statement has no wrong_span and no correction_ko (null)"]
        problems = [] if is_text(record["wrong_span"]) and record["wrong_span"] in record["statement"] else [
            "wrong_span must be a span of the statement"]
        return problems + ([] if is_text(record["correction_ko"]) and HANGUL.search(record["correction_ko"]) else [
            "a false statement needs a Korean correction_ko"])
    problems = [] if is_text(record["question"]) else ["question must be non-empty text"]
    if kind == "oos" and record["category"] not in OOS_CATEGORIES:
        problems.append(f"category must be one of {', '.join(OOS_CATEGORIES)}")
    if kind == "oos" and record["category"] == "near_miss":
        problems += grep_problems(record["note"])
        if not re.search(r"covered \(L\d+", record["note"]):
            problems.append("a near-miss note says where the service is covered, e.g. 'covered (L812-L860)'")
    return problems


def record_problems(file_name: str, record: dict, headings: set[str]) -> list[str]:
    """Everything wrong with one gold record, each as '<file> <id>: <problem>'."""
    kind = kind_of(record)
    file_kind = file_name.split("_", 1)[1].removesuffix(".jsonl")
    problems = [] if FILE_KINDS.get(file_kind) == kind.replace("not_covered", "verify") else [
        f"a {kind} item does not belong in {file_name}"]
    if file_kind in ("open_en", "open_ko") and file_kind != f"open_{language(record)}":
        problems.append(f"the question's language does not match {file_name}")
    missing, unknown = FIELDS[kind] - set(record), set(record) - FIELDS[kind]
    problems += [f"lacks field {f!r}" for f in sorted(missing)] + [f"unknown field {f!r}" for f in sorted(unknown)]
    if not missing:
        problems += kind_problems(record, kind)
        if kind in ("mcq", "open", "verify", "followup"):
            problems += scope_problems(record, headings)
    return [f"{file_name} {record.get('id')}: {p}" for p in problems]


def split_of(file_name: str) -> str:
    return file_name.split("_", 1)[0]


def category(record: dict) -> str:
    """The finer kind the split counts use."""
    kind = kind_of(record)
    if kind == "oos":
        return record["category"]
    if kind == "mcq" and language(record) == "ko":
        return "mcq_ko"
    return kind


@pytest.fixture(scope="module")
def headings():
    chunks, _ = load_corpus(REPO / "corpus", ChunkerSettings())
    return {normalise_heading(h) for c in chunks for h in c.heading_path}


@pytest.fixture(scope="module")
def records():
    return [(path.name, json.loads(line)) for path in GOLD for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_gold_record_follows_the_schema_of_its_kind(records, headings):
    problems = [p for name, r in records for p in record_problems(name, r, headings)]
    assert problems == []


def test_ids_are_unique_across_files_and_every_file_is_dev_or_test(records):
    ids = Counter(str(r["id"]) for _, r in records)
    assert [i for i, n in ids.items() if n > 1] == []
    assert {split_of(name) for name, _ in records} == {"dev", "test"}


def test_each_split_has_every_kind_in_both_languages_and_enough_hard_items(records):
    for split in ("dev", "test"):
        mine = [r for name, r in records if split_of(name) == split]
        by_kind_lang = Counter((kind_of(r).replace("not_covered", "verify"), language(r)) for r in mine)
        by_category_lang = Counter((category(r), language(r)) for r in mine)
        for kind in ("mcq", "open", "verify", "oos", "followup"):
            assert by_kind_lang[kind, "en"] and by_kind_lang[kind, "ko"], (split, kind)
        for cat in ("near_miss", "junk", "not_covered", "followup"):
            assert by_category_lang[cat, "en"] and by_category_lang[cat, "ko"], (split, cat)
        count = Counter(category(r) for r in mine)
        assert count["near_miss"] >= 15 and count["junk"] >= 5 and count["not_covered"] >= 10, split
        assert count["followup"] >= 10 and count["mcq_ko"] >= 6, split
        assert count["mcq"] + count["mcq_ko"] >= 40 and count["open"] >= 40 and count["verify"] >= 25, split
        truths = {r["is_correct"] for r in mine if kind_of(r) == "not_covered"}
        assert truths == {True, False}, split


def test_new_kinds_are_split_about_half_and_half(records):
    for cat in ("near_miss", "junk", "not_covered", "followup", "mcq_ko"):
        per_split = Counter(split_of(name) for name, r in records if category(r) == cat)
        total = sum(per_split.values())
        assert min(per_split["dev"], per_split["test"]) >= 0.4 * total, (cat, per_split)


def test_at_least_40_percent_of_covered_verify_statements_are_true_in_each_split(records):
    for split in ("dev", "test"):
        truths = [r["is_correct"] for name, r in records if split_of(name) == split and kind_of(r) == "verify"]
        assert sum(truths) / len(truths) >= 0.40, (split, sum(truths), len(truths))


def test_every_lecture_is_covered(records):
    chunks, _ = load_corpus(REPO / "corpus", ChunkerSettings())
    lectures = {normalise_heading(c.heading_path[1]) for c in chunks if len(c.heading_path) > 1}
    covered = {normalise_heading(h) for _, r in records for h in r.get("gold_headings", [])}
    assert lectures <= covered, lectures - covered


GOOD = {
    "mcq": {"id": "x", "question": "Which adapter gives up to 100 Gbps?", "options": {"A": "ENA", "B": "Intel VF", "C": "EFA", "D": "EIP"},
            "answer": "A", "gold_headings": ["Enhanced Networking (향상된 네트워킹)"],
            "evidence_ko": "가장 최근 옵션은 Elastic Network Adapter(ENA)로, 최대 100Gbps의 성능을 제공한다.", "key_terms": ["ENA"]},
    "followup": {"id": "x", "turns": ["What does ENA give?", "and the legacy one?"], "gold_headings": ["Enhanced Networking (향상된 네트워킹)"],
                 "evidence_ko": "Intel VF의 경우 10Gbps의 성능을 제공한다.", "key_terms": ["Intel VF"]},
    "verify": {"id": "x", "statement": "ENA gives up to 10 Gbps.", "is_correct": False, "wrong_span": "10 Gbps",
               "correction_ko": "ENA는 최대 100Gbps를 제공한다.", "gold_headings": ["Enhanced Networking (향상된 네트워킹)"],
               "evidence_ko": "ENA의 경우 최대 100Gbps의 성능을 제공한다."},
    "not_covered": {"id": "x", "statement": "ENA requires an HVM AMI.", "is_correct": True, "covered": False,
                    "note": "grep: 'paravirtual' -> 0, '반가상화' -> 0"},
    "oos": {"id": "x", "question": "Can I attach AWS WAF to an ALB?", "category": "near_miss",
            "note": "grep: 'WAF' -> 0, '웹 방화벽' -> 0; ALB is covered (L1156-L1173)"},
}
FILE_OF = {"mcq": "dev_mcq.jsonl", "followup": "dev_followup.jsonl", "verify": "dev_verify.jsonl",
           "not_covered": "dev_verify.jsonl", "oos": "dev_oos.jsonl"}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_the_hand_made_good_records_pass(kind, headings):
    assert record_problems(FILE_OF[kind], GOOD[kind], headings) == []


@pytest.mark.parametrize("kind, change, problem", [
    ("mcq", {"evidence_ko": "ENA는 100Gbps를 제공하는 최신 어댑터이다."}, "not a verbatim span of one line"),
    ("mcq", {"evidence_ko": "최대 100Gbps"}, "at least 15 characters"),
    ("mcq", {"evidence_ko": "1. 나는 현재 AWS를 공부하고 있는 DevOps 엔지니어이다."}, "not a verbatim span"),  # Custom Instructions
    ("mcq", {"gold_headings": ["No Such Heading"]}, "unknown heading"),
    ("mcq", {"answer": "E"}, "not one of the options"),
    ("mcq", {"key_terms": ["Gigabit Ethernet"]}, "does not occur in the notes"),
    ("mcq", {"evidence": "typo"}, "unknown field 'evidence'"),
    ("followup", {"turns": ["only one turn"]}, "two non-empty strings"),
    ("followup", {"turns": ["What is ENA?", "and what about the legacy Intel 82599 VF interface, how fast is it?"]}, "longer than"),
    ("verify", {"wrong_span": "20 Gbps"}, "span of the statement"),
    ("verify", {"is_correct": True}, "no wrong_span"),
    ("verify", {"correction_ko": "ENA gives 100 Gbps."}, "Korean correction_ko"),
    ("not_covered", {"note": "grepped, nothing found"}, "record the grep"),
    ("not_covered", {"note": "grep: 'ENA' -> 0, '반가상화' -> 0"}, "'ENA' -> 0 is wrong"),
    ("not_covered", {"note": "grep: 'ENA' -> 9, '향상된' -> 1"}, "no grepped term is absent"),
    ("not_covered", {"note": "grep: 'paravirtual' -> 0, 'PV AMI' -> 0"}, "both Korean and English"),
    ("not_covered", {"gold_headings": ["Elastic IPs"]}, "unknown field 'gold_headings'"),
    ("oos", {"category": "maybe"}, "category must be one of"),
    ("oos", {"note": "grep: 'WAF' -> 0, '웹 방화벽' -> 0"}, "says where the service is covered"),
])
def test_each_rule_catches_a_hand_made_bad_record(kind, change, problem, headings):
    bad = {**GOOD[kind], **change}
    assert any(problem in p for p in record_problems(FILE_OF[kind], bad, headings)), record_problems(FILE_OF[kind], bad, headings)


def test_a_record_in_the_wrong_file_is_reported(headings):
    assert record_problems("test_oos.jsonl", GOOD["mcq"], headings) == ["test_oos.jsonl x: a mcq item does not belong in test_oos.jsonl"]


def test_malformed_gold_lines_are_reported_with_file_and_line(tmp_path, headings):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([
        '{"id": "1", "question": "q", "gold_headings": ["Elastic IPs"]}',
        "{not json",
        '{"id": "2", "question": "q", "options": {"A": "x", "B": "y"}, "answer": "E", "gold_headings": ["Elastic IPs"]}',
        '{"id": "3", "question": "q", "gold_headings": ["No Such Heading"]}',
        '{"id": "4", "statement": "s", "gold_headings": ["Elastic IPs"]}',
    ]), encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    items, errors = load_gold([bad, empty], headings)
    assert [i.id for i in items] == ["1"]
    assert errors == [
        f"{bad}:2: not valid JSON (Expecting property name enclosed in double quotes)",
        f"{bad}:3: answer 'E' is not one of the options ['A', 'B']",
        f"{bad}:4: unknown heading 'No Such Heading' (not a heading of the indexed notes)",
        f"{bad}:5: verify item lacks field 'is_correct'",
        f"{empty}: the gold file is empty; add one JSON object per line",
    ]
