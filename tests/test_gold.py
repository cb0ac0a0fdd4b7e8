"""The gold files are valid: known headings, verbatim evidence, answers among the options, enough items."""
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from rag.evaluate import kind_of, load_gold
from rag.metrics import normalise_heading
from rag.notes import ChunkerSettings, load_corpus

REPO = Path(__file__).parent.parent
GOLD = sorted((REPO / "eval" / "gold").glob("*.jsonl"))
NOTES = (REPO / "corpus" / "soa-notes.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def headings():
    chunks, _ = load_corpus(REPO / "corpus", ChunkerSettings())
    return {normalise_heading(h) for c in chunks for h in c.heading_path}


@pytest.fixture(scope="module")
def records():
    out = []
    for path in GOLD:
        for line in path.read_text(encoding="utf-8").splitlines():
            out.append((path.name, json.loads(line)))
    return out


def test_gold_loads_without_errors(headings):
    items, errors = load_gold(GOLD, headings)
    assert errors == []
    assert len(items) >= 200


def test_counts_per_kind_and_language(records):
    kinds = Counter()
    for _, r in records:
        kind = kind_of(r)
        if kind == "open":
            kind += "_ko" if re.search("[가-힣]", r["question"]) else "_en"
        kinds[kind] += 1
    assert kinds["mcq"] >= 80 and kinds["open_en"] >= 40 and kinds["open_ko"] >= 40
    assert kinds["verify"] >= 25 and kinds["oos"] >= 20
    wrong = sum(1 for _, r in records if kind_of(r) == "verify" and r["is_correct"] is False)
    assert wrong >= 2 / 3 * kinds["verify"]


def test_evidence_is_verbatim_and_answers_are_options(records):
    for name, r in records:
        if "evidence_ko" in r:
            assert r["evidence_ko"] in NOTES, (name, r["id"])
        if "options" in r:
            assert set(r["options"]) == set("ABCD") and r["answer"] in r["options"], r["id"]
        if kind_of(r) == "verify" and r["is_correct"] is False:
            assert r["wrong_span"] in r["statement"], r["id"]


def test_dev_and_test_split_do_not_overlap(records):
    dev = {r["id"] for n, r in records if n.startswith("dev_")}
    test = {r["id"] for n, r in records if n.startswith("test_")}
    assert dev and test and not dev & test


def test_every_lecture_is_covered(records):
    chunks, _ = load_corpus(REPO / "corpus", ChunkerSettings())
    lectures = {normalise_heading(c.heading_path[1]) for c in chunks if len(c.heading_path) > 1}
    covered = {normalise_heading(h) for _, r in records for h in r.get("gold_headings", [])}
    assert lectures <= covered, lectures - covered


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
