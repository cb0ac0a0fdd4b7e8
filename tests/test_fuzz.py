"""Bad-input fuzzing of the CLI, the Python API and the batch reader, with hypothesis.

The promise: whatever the input (any Unicode, control characters, NUL bytes,
1 MB strings, right-to-left text, emoji, Markdown or HTML injection,
malformed JSON Lines or CSV in any encoding, 100k lines), the outcome is a
clear error (QueryError; exit 2 or 1 with one `rag: error:` line) or a
correct answer (valid JSON, citations that resolve, hits from the index),
never a crash and never a hang.

Runs are derandomised so CI is repeatable; set RAG_FUZZ_SCALE=10 for a
longer hunt. Every generated case is counted; the totals are printed and
written to tests/artifacts/fuzz_cases.json (docs/reliability.md quotes them).

The tests at the end of this file pin the core bugs this fuzzing found
(fixed in rag/ by commits 7f5b2d2 and 8c18ff4) so they stay fixed.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import fields
from pathlib import Path

import pytest
from conftest import FIXTURES, make_settings
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from rag.batch import Item, LineError, read_items
from rag.cli import main
from rag.engine import MODES, Assistant, QueryError
from rag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SCALE = int(os.environ.get("RAG_FUZZ_SCALE", "1"))
HANG_SECONDS = 20
CASES: Counter = Counter()

FUZZ = settings(max_examples=150 * SCALE, deadline=None, derandomize=SCALE == 1, database=None,
                suppress_health_check=list(HealthCheck))
FEW = settings(FUZZ, max_examples=40 * SCALE)
PAGE = settings(FUZZ, max_examples=15 * SCALE)  # each case is an HTTP round trip through Gradio's queue

# ---- strategies ----------------------------------------------------------------------------

RTL = "\u202e\u202b\u200f\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u05e2\u05d1\u05e8\u05d9\u05ea"
INJECTIONS = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](javascript:alert(1))",
    "![x](http://192.0.2.1/track.png)", "</div><iframe src=//evil>", "**bold** _it_ `code` # heading",
    "| a | b |\n|---|---|", "```\nrm -rf /\n```", "{{7*7}} ${7*7} %(x)s {0}", "\x1b[31mred\x1b[0m",
    "'; DROP TABLE notes; --", "../../etc/passwd", "\\x00\\u0000", "[1] [2] [99] [^1] [x] [] [-1]",
]
SEEDS = ["EC2", "배치 그룹", "Spread Placement Group", "ELB", "Elastic IP", "인스턴스", "A. ", "B) ", "?", "다.",
         "\u200b", "\ufeff", "\u0301" * 5, "😀👩‍👩‍👧", "\x00", "\r\n", "\t", RTL]
# every code point; lone surrogates too (what Python makes of undecodable argv bytes), except over HTTP
any_char = st.characters(exclude_categories=("Cs",))
any_text = st.text(any_char, max_size=300)
text_with_surrogates = st.text(st.characters(exclude_categories=()), max_size=300)
question_text = st.one_of(
    text_with_surrogates,
    any_text,
    st.lists(st.one_of(st.sampled_from(SEEDS + INJECTIONS), any_text), max_size=8).map("".join),
    st.builds(lambda stem, opts: stem + "\n" + "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(opts)),
              any_text, st.lists(st.text(any_char, min_size=1, max_size=40), min_size=2, max_size=6)),
)
BIG_INPUTS = {
    "1 MB ASCII": "a" * 1_000_000,
    "1 MB Korean": "배치 그룹 " * 166_667,
    "1 MB emoji": "😀" * 250_000,
    "1 MB NUL": "\x00" * 1_000_000,
    "1 MB RTL": RTL * 50_000,
    "1 MB combining marks": "e" + "\u0301" * 999_999,
    "100k lines": "EC2?\n" * 100_000,
    "100k options": "\n".join(f"{chr(65 + i % 6)}. option {i}" for i in range(100_000)),
    "only controls": "\x01\x02\x03\x7f\x1b\x0b\x0c",
    "html": "".join(INJECTIONS),
}


# ---- helpers -------------------------------------------------------------------------------

class Hang(Exception):
    pass


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS):
    """Fail instead of hanging: SIGALRM interrupts a call that runs longer than `seconds`."""
    def alarm(signum, frame):
        raise Hang(f"call ran longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def hash_overrides() -> dict:
    return {"option_embedder": ""} if "option_embedder" in {f.name for f in fields(Settings)} else {}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One hash-embedder index over the fixture notes, shared by every fuzz case of this module."""
    import shutil

    root = tmp_path_factory.mktemp("fuzz")
    corpus = root / "corpus"
    shutil.copytree(FIXTURES / "notes", corpus)
    config = root / "rag.toml"
    config.write_text("".join(f'{k} = "{v}"\n' for k, v in hash_overrides().items()), encoding="utf-8")
    assistant = Assistant(make_settings(root, corpus, **hash_overrides()), log=lambda m: None)
    assistant.ensure_index()
    base = ["--config", str(config), "--corpus", str(corpus), "--index", str(root / "index"), "--embedders", "hash"]
    return {"root": root, "assistant": assistant, "base": base,
            "chunk_ids": {c.chunk_id for c in assistant.state.data.chunks}}


@pytest.fixture(scope="module", autouse=True)
def report_cases():
    yield
    total = sum(CASES.values())
    line = f"fuzz cases run: {total} ({', '.join(f'{k} {v}' for k, v in sorted(CASES.items()))})"
    print("\n" + line)
    out = REPO / "tests" / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fuzz_cases.json").write_text(json.dumps({"total": total, **CASES}, indent=1) + "\n", encoding="utf-8")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with no_hang(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def check_clear_error(rc: int, err: str, text: str = "") -> None:
    if text.startswith("-") and rc == 2 and "usage:" in err:
        # argparse takes a question that starts with "-" for an option (`rag ask -- "-x"` works): its
        # usage message is the error here
        assert "error:" in err and "Traceback" not in err
        return
    lines = [line for line in err.splitlines() if line.startswith("rag: error:")]
    assert rc in (1, 2), rc
    assert len(lines) == 1, err
    assert "Traceback" not in err


def check_answer_json(answer: dict, chunk_ids: set[str]) -> None:
    """A correct answer: Markdown with resolvable citations, hits from this index, a known mode."""
    assert answer["mode"] in ("qa", "exam", "verify")
    markdown = answer["answer_markdown"]
    assert isinstance(markdown, str) and markdown.strip()
    numbers = {c["n"] for c in answer["citations"]}
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", markdown)}
    assert cited <= numbers, (cited, numbers)
    assert {c["chunk_id"] for c in answer["citations"]} <= chunk_ids
    assert {h["chunk_id"] for h in answer["hits"]} <= chunk_ids
    assert len(answer["hits"]) <= 10


def check_answer(answer, chunk_ids: set[str]) -> None:
    check_answer_json(json.loads(json.dumps(answer.to_json())), chunk_ids)


# ---- the CLI -------------------------------------------------------------------------------

@FUZZ
@given(text=question_text, mode=st.sampled_from(MODES), as_json=st.booleans())
@example(text="", mode="auto", as_json=True)
@example(text="\x00", mode="qa", as_json=True)
@example(text="A. one\nB. two", mode="exam", as_json=True)
@example(text="<script>alert(1)</script> 분산 배치 그룹은 AZ 당 7개로 제한된다.", mode="verify", as_json=True)
def test_cli_ask_gives_an_answer_or_one_line_error(world, text, mode, as_json):
    CASES["cli ask"] += 1
    rc, out, err = run_cli(world["base"] + ["ask", text, "--mode", mode] + (["--json"] if as_json else []))
    if rc == 0:
        assert "rag: error" not in err
        if as_json:
            check_answer_json(json.loads(out), world["chunk_ids"])
        else:
            assert out.strip()
    else:
        check_clear_error(rc, err, text)


@FEW
@given(query=question_text, k=st.integers(min_value=1, max_value=10**6),
       retriever=st.sampled_from(["hybrid", "dense", "bm25"]))
def test_cli_search_lists_hits_or_one_line_error(world, query, k, retriever):
    CASES["cli search"] += 1
    rc, out, err = run_cli(world["base"] + ["search", query, "-k", str(k), "--retriever", retriever, "--json"])
    if rc == 0:
        hits = json.loads(out)
        assert len(hits) <= min(k, len(world["chunk_ids"]))
        assert {h["chunk_id"] for h in hits} <= world["chunk_ids"]
        assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    else:
        check_clear_error(rc, err, query)


@FEW
@given(argv=st.lists(st.one_of(st.sampled_from(["ask", "search", "index", "batch", "eval", "--json", "-k", "--mode",
                                                  "--retriever", "-o", "--force", "--gold", "--workers", "-1",
                                                  "0", "qa", "--help", "--", "-"]), any_text), max_size=6))
def test_cli_arbitrary_argument_lists_end_with_an_exit_code(world, argv):
    CASES["cli argv"] += 1
    if "serve" in argv or "eval" in argv or "batch" in argv or "index" in argv:
        return  # these need real files or start a server; covered by their own tests
    rc, out, err = run_cli(world["base"] + argv)
    assert isinstance(rc, int) and rc in (0, 1, 2), rc
    assert "Traceback" not in err
    if rc != 0 and "usage:" not in err:
        check_clear_error(rc, err)


@pytest.mark.parametrize("label", sorted(BIG_INPUTS))
@pytest.mark.parametrize("mode", ["auto", "qa"])
def test_cli_ask_survives_huge_and_hostile_questions(world, label, mode):
    CASES["cli big"] += 1
    started = time.monotonic()
    rc, out, err = run_cli(world["base"] + ["ask", BIG_INPUTS[label], "--mode", mode, "--json"])
    assert time.monotonic() - started < HANG_SECONDS
    if rc == 0:
        answer = json.loads(out)
        check_answer_json(answer, world["chunk_ids"])
        assert len(answer["question"]) <= 4000
    else:
        check_clear_error(rc, err)


def test_qa_answers_never_echo_injected_markup(world):
    for injection in INJECTIONS:
        CASES["injection"] += 1
        answer = world["assistant"].ask(f"{injection} EC2 배치 그룹이란?", mode="qa")
        notes = "\n".join(c.text for c in world["assistant"].state.data.chunks)
        for token in ("<script", "onerror", "javascript:", "<iframe", "\x1b["):
            assert token not in answer.answer_markdown or token in notes, (injection, token)


# ---- the Python API ------------------------------------------------------------------------

odd_values = st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=20), st.lists(any_text, max_size=3),
                       st.dictionaries(any_text, any_text, max_size=2))


@FUZZ
@given(text=st.one_of(question_text, odd_values), mode=st.one_of(st.sampled_from(MODES), any_text),
       context=st.one_of(st.none(), any_text))
def test_api_ask_returns_an_answer_or_raises_query_error(world, text, mode, context):
    CASES["api ask"] += 1
    try:
        with no_hang():
            answer = world["assistant"].ask(text, mode=mode, context=context)
    except QueryError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert isinstance(text, str) and mode in MODES
    check_answer(answer, world["chunk_ids"])


@FEW
@given(text=question_text,
       options=st.dictionaries(st.one_of(st.sampled_from("ABCDEF"), st.text(any_char, max_size=3)),
                               st.text(any_char, max_size=80), max_size=7))
def test_api_exam_with_arbitrary_options(world, text, options):
    CASES["api exam"] += 1
    try:
        with no_hang():
            answer = world["assistant"].ask(text, mode="exam", options=options)
    except QueryError as err:
        assert str(err)
        return
    check_answer(answer, world["chunk_ids"])
    assert answer.choice is None or answer.choice in options


@FEW
@given(text=st.one_of(question_text, odd_values), k=st.one_of(st.none(), st.integers(min_value=1, max_value=10**7)),
       kind=st.sampled_from([None, "hybrid", "dense", "bm25"]))
def test_api_search_returns_hits_or_raises_query_error(world, text, k, kind):
    CASES["api search"] += 1
    try:
        with no_hang():
            hits = world["assistant"].search(text, k, kind=kind)
    except QueryError:
        assert not isinstance(text, str) or not text.strip() or not re.sub(r"[\x00-\x1f\x7f]", "", text).strip()
        return
    assert isinstance(text, str)
    assert len(hits) <= min(k or 10, len(world["chunk_ids"]))
    assert {h.chunk.chunk_id for h in hits} <= world["chunk_ids"]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_api_answers_are_deterministic(world):
    assistant = world["assistant"]
    for question in ["EC2 배치 그룹이란?", "분산 배치 그룹은 AZ 당 7개로 제한된다.", "What is ELB? A. a B. b C. c"]:
        CASES["determinism"] += 1
        first, second = assistant.ask(question).to_json(), assistant.ask(question).to_json()
        first.pop("timings_ms"), second.pop("timings_ms")
        assert first == second


# ---- the page's API ------------------------------------------------------------------------

GENERIC_CRASH = "has raised an exception but has not enabled verbose error reporting"


@pytest.fixture(scope="module")
def page(world):
    """The study page over the fuzz index, served on a free loopback port, and a client for `/ask`."""
    from test_reliability import serve_page

    app, _, client = serve_page(world["assistant"])
    yield client
    app.close()


@PAGE
@given(text=question_text.filter(lambda t: not re.search("[\ud800-\udfff]", t)), mode=st.one_of(st.sampled_from(MODES), st.text(any_char, max_size=10)))
@example(text=BIG_INPUTS["1 MB Korean"], mode="auto")
@example(text=BIG_INPUTS["html"], mode="qa")
def test_page_api_gives_an_answer_or_a_readable_error(world, page, text, mode):
    from gradio_client.exceptions import AppError

    CASES["page api"] += 1
    try:
        answer = page.predict(text, mode, api_name="/ask")
    except AppError as err:
        message = str(err)
        assert message.strip() and GENERIC_CRASH not in message, message
        return
    check_answer_json(answer, world["chunk_ids"])


# ---- the batch reader: JSON Lines ----------------------------------------------------------

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False), any_text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                 st.dictionaries(any_text, inner, max_size=3)),
                           max_leaves=8)
good_id = st.one_of(st.text(any_char, min_size=1, max_size=12).filter(str.strip), st.integers(0, 10**6))
good_text = st.text(any_char, min_size=1, max_size=200).filter(str.strip)


@st.composite
def jsonl_line(draw):
    """(raw line bytes, expected: ('item', id) | ('error', None) | ('blank', None))."""
    kind = draw(st.sampled_from(["question", "statement", "exam", "bad_json", "not_object", "no_id", "no_text",
                                 "bad_options", "blank", "bad_utf8", "crlf"]))
    if kind in ("question", "crlf", "statement", "exam"):
        item_id = draw(good_id)
        record = {"id": item_id, ("statement" if kind == "statement" else "question"): draw(good_text)}
        if kind == "exam":
            record["options"] = draw(st.dictionaries(st.sampled_from("ABCD"), st.text(any_char, max_size=30),
                                                     min_size=1, max_size=4))
        record.update(draw(st.dictionaries(st.sampled_from(["extra", "lang", "note"]), json_values, max_size=2)))
        raw = json.dumps(record, ensure_ascii=draw(st.booleans())).encode("utf-8")
        return raw + (b"\r" if kind == "crlf" else b""), ("item", str(item_id))
    if kind == "bad_json":
        text = draw(st.sampled_from(['{"id": 1, "question": "x"', "{id: 1}", "{'id': 1}", '{"id": 1,}', "nul\x00l",
                                     '"unterminated', "{}}", '{"id": 1, "question": "x"} trailing']))
        return text.encode("utf-8"), ("error", None)
    if kind == "not_object":
        value = draw(st.one_of(json_scalars.filter(lambda v: not (isinstance(v, str) and not v.strip())),
                               st.lists(json_values, max_size=3)))
        return json.dumps(value).encode("utf-8"), ("error", None)
    if kind == "no_id":
        record = {"question": draw(good_text)}
        if draw(st.booleans()):
            record["id"] = draw(st.sampled_from([None, "", "   "]))
        return json.dumps(record).encode("utf-8"), ("error", None)
    if kind == "no_text":
        record = {"id": draw(good_id)}
        record[draw(st.sampled_from(["question", "statement", "q"]))] = draw(
            st.one_of(st.none(), st.integers(), st.just(""), st.just(" \t"), st.lists(st.text(max_size=3), max_size=2)))
        return json.dumps(record).encode("utf-8"), ("error", None)
    if kind == "bad_options":
        record = {"id": draw(good_id), "question": draw(good_text),
                  "options": draw(st.one_of(st.lists(st.text(max_size=5), min_size=1, max_size=3), st.integers(),
                                            st.dictionaries(st.sampled_from("AB"), st.integers(), min_size=1)))}
        return json.dumps(record).encode("utf-8"), ("error", None)
    if kind == "blank":
        return draw(st.sampled_from([b"", b"   ", b"\t", b"\r"])), ("blank", None)
    return b'{"id": "x", "question": "' + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80abc"])) \
        + b'"}', ("error", None)


@FUZZ
@given(lines=st.lists(jsonl_line(), max_size=30), bom=st.booleans(), final_newline=st.booleans(),
       name=st.sampled_from(["q.jsonl", "Q.JSONL", "../../etc/passwd", "", "질문.jsonl", "a\x00b.jsonl"]))
def test_read_items_jsonl_keeps_good_lines_and_reports_each_bad_one(lines, bom, final_newline, name):
    CASES["read_items jsonl"] += 1
    data = (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(raw for raw, _ in lines) + (b"\n" if final_newline else b"")
    first = next((raw for raw, _ in lines if raw.strip()), b"")
    if not name.lower().endswith(".jsonl"):
        # a name that says neither JSON nor CSV is sniffed: a first line with a comma and no `{` reads as CSV
        assume(first.lstrip(b"\xef\xbb\xbf \t\r").startswith((b"{", b"[")) or b"," not in first)
    with no_hang():
        items, errors = read_items(data=data, name=name)
    assert all(isinstance(i, Item) for i in items) and all(isinstance(e, LineError) for e in errors)
    expected_ids, seen, expected_errors = [], set(), []
    for number, (_, (outcome, item_id)) in enumerate(lines, 1):
        if outcome == "item" and item_id not in seen:
            seen.add(item_id)
            expected_ids.append((number, item_id))
        elif outcome != "blank":
            expected_errors.append(number)
    assert [(i.line, i.id) for i in items] == expected_ids
    assert [e.line for e in errors] == expected_errors
    for item in items:
        assert item.question.strip() and item.mode in ("auto", "exam", "verify")
    for error in errors:
        assert str(error).startswith(f"line {error.line}: ") and "\n" not in error.message


# ---- the batch reader: CSV -----------------------------------------------------------------

csv_field = st.text(any_char, max_size=60)


@FUZZ
@given(rows=st.lists(st.tuples(csv_field, csv_field, st.lists(csv_field, max_size=2)), max_size=25),
       header=st.sampled_from([["id", "question"], ["question", "id"], ["id", "question", "notes"], ["id"],
                               ["ID", "Question"], []]),
       terminator=st.sampled_from(["\n", "\r\n"]), bom=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-8", "utf-8", "cp949", "utf-16", "latin-1"]), quote_all=st.booleans())
def test_read_items_csv_keeps_good_rows_and_never_crashes(rows, header, terminator, bom, encoding, quote_all):
    CASES["read_items csv"] += 1
    buffer = io.StringIO()
    has_cr = any("\r" in field for row in rows for field in (row[0], row[1], *row[2]))
    # an unquoted bare CR crashes the reader (pinned below as "CSV with CR-only line ends"): quote it here
    writer = csv.writer(buffer, lineterminator=terminator, quoting=csv.QUOTE_ALL if has_cr or quote_all else
                        csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(header)
    for item_id, question, extra in rows:
        values = {"id": item_id, "question": question}
        writer.writerow([values.get(col, "") for col in header] + extra if header else [item_id, question])
    text = buffer.getvalue()
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding, "replace")
    with no_hang():
        items, errors = read_items(data=data, name="questions.csv")
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        assert errors, "a file that is not UTF-8 must be reported, never silently skipped"
        return
    if not {"id", "question"} <= set(header):
        assert errors and not items, "a CSV without id,question columns must be reported"
        return
    if decoded != text:
        return  # characters the encoding could not hold became '?': rows differ from `rows`
    expected, seen = [], set()
    for item_id, question, _ in rows:
        if item_id.strip() and question.strip() and item_id not in seen:
            seen.add(item_id)
            expected.append((item_id, question))
    assert [(i.id, i.question) for i in items] == expected


@FUZZ
@given(data=st.one_of(st.binary(max_size=2000), st.text(any_char, max_size=500).map(lambda t: t.encode("utf-8"))),
       name=st.one_of(st.sampled_from(["x.csv", "x.jsonl", "x.txt", "../../x.csv", "", "CON", "x.CSV"]), any_text))
def test_read_items_on_arbitrary_bytes_never_raises(data, name):
    CASES["read_items bytes"] += 1
    with no_hang():
        items, errors = read_items(data=data, name=name)
    assert all(i.question.strip() and i.id for i in items)
    assert [e.line for e in errors] == sorted(e.line for e in errors)


@pytest.mark.parametrize("builder", ["valid", "duplicates", "csv", "missing fields", "bad utf8", "1 MB question"])
def test_read_items_handles_100k_lines_quickly(builder):
    CASES["read_items 100k"] += 1
    n = 100_000
    if builder == "valid":
        data, name = b"".join(b'{"id": %d, "question": "q %d"}\n' % (i, i) for i in range(n)), "a.jsonl"
    elif builder == "duplicates":
        data, name = b'{"id": 1, "question": "x"}\n' * n, "a.jsonl"
    elif builder == "csv":
        data, name = b"id,question\n" + b"".join(b'%d,"q, %d"\n' % (i, i) for i in range(n)), "a.csv"
    elif builder == "missing fields":
        data, name = b'{"id": 1}\n' * n, "a.jsonl"
    elif builder == "bad utf8":
        data, name = b'{"id": 1, "question": "\xff"}\n' * n, "a.jsonl"
    else:
        data, name = json.dumps({"id": 1, "question": "배" * 1_000_000}).encode() + b"\n", "a.jsonl"
    started = time.monotonic()
    with no_hang():
        items, errors = read_items(data=data, name=name)
    assert time.monotonic() - started < 10
    assert len(items) + len(errors) == (1 if builder == "1 MB question" else n)


# ---- the batch command ----------------------------------------------------------------------

@pytest.mark.slow  # starts worker processes: about 9 s
@FEW
@given(lines=st.lists(jsonl_line(), min_size=1, max_size=4), workers=st.sampled_from([1, 1, 1, 1, 1, 2, 3]))  # 2+: processes, ~1 s to start
def test_cli_batch_on_malformed_files_answers_good_lines_and_reports_bad_ones(world, lines, workers):
    CASES["cli batch"] += 1
    folder = world["root"] / f"batch-{CASES['cli batch']}"
    folder.mkdir()
    source = folder / "questions.jsonl"
    source.write_bytes(b"\n".join(raw for raw, _ in lines) + b"\n")
    out = folder / "answers.jsonl"
    rc, _, err = run_cli(world["base"] + ["batch", str(source), "-o", str(out), "--workers", str(workers)])
    assert "Traceback" not in err
    good_ids = [item_id for _, (outcome, item_id) in lines if outcome == "item"]
    good = set(good_ids)
    bad = any(outcome == "error" for _, (outcome, _) in lines) or len(good_ids) != len(good)
    if not good:
        assert rc == 1 and not out.exists()
        return
    assert rc == (1 if bad else 0), err
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    assert {r["id"] for r in records} == good
    for record in records:
        if "error" in record:
            assert record["error"].startswith("QueryError"), record["error"]
        else:
            check_answer_json(record, world["chunk_ids"])


# ---- regressions: core bugs this fuzzing found --------------------------------------------

def _deep(n: int) -> bytes:
    return b'{"id": 1, "question": "x", "extra": ' + b"[" * n + b"]" * n + b"}\n"


@pytest.mark.parametrize("label,data,name,ids", [
    # _csv.Error "field larger than field limit (131072)" escaped
    ("CSV field over 128 KiB", b"id,question\n1," + b"a" * 200_000 + b"\n", "q.csv", ["1"]),
    # _csv.Error "new-line character seen in unquoted field" escaped
    ("CSV with CR-only line ends", b"id,question\r1,x\r2,y\r", "q.csv", ["1", "2"]),
    # RecursionError from json.loads escaped
    ("JSON nested 100k deep", _deep(100_000) + b'{"id": 2, "question": "y"}\n', "q.jsonl", ["2"]),
    # ValueError (int max str digits) from json.loads escaped
    ("JSON integer over 4300 digits", b'{"id": ' + b"9" * 5000 + b', "question": "x"}\n', "q.jsonl", []),
    # the BOM stayed on line 1 in the line-by-line fallback, the file was sniffed as CSV and every line lost
    ("JSON Lines with a BOM and one non-UTF-8 line",
     b'\xef\xbb\xbf{"id": "1", "question": "x"}\n{"id": "2", "question": "\xff"}\n', "q.jsonl", ["1"]),
    # a .jsonl file was sniffed as CSV from a broken first line holding a comma, and every line lost
    ("JSON Lines whose first line is broken and holds a comma",
     b'id: 1, question: x}\n{"id": "2", "question": "y"}\n', "q.jsonl", ["2"]),
    # errors came back unsorted when the CSV header check failed after a decoding error
    ("CSV that is not UTF-8 from line 2 on", b"\n\x80", "x.csv", []),
])
def test_pathological_batch_files_give_line_errors(label, data, name, ids):
    CASES["read_items pathological"] += 1
    with no_hang():
        items, errors = read_items(data=data, name=name)
    assert [i.id for i in items] == ids
    assert items or errors
    assert [e.line for e in errors] == sorted(e.line for e in errors)


def test_100k_malformed_json_lines_are_read_quickly():
    # was quadratic: every line scanned every error so far (294 s for 100k lines on 2 cores)
    code = ("from rag.batch import read_items; "
            "items, errors = read_items(data=b'{\"id\": 1\\n' * 100000, name='q.jsonl'); "
            "assert len(errors) == 100000")
    try:
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=20, capture_output=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    except subprocess.TimeoutExpired:
        pytest.fail("reading 100k malformed lines took more than 20 s")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("text", ["\udcff EC2 배치 그룹", "배치 \udcff 그룹"])
def test_lone_surrogate_in_a_korean_question_is_answered(world, text):
    # `rag ask $'\xff 배치'` gives Python a lone surrogate; kiwipiepy raised UnicodeDecodeError on it
    CASES["regressions"] += 1
    rc, out, err = run_cli(world["base"] + ["ask", text, "--mode", "qa", "--json"])
    assert rc == 0, err
    check_answer_json(json.loads(out), world["chunk_ids"])


def test_verify_statement_with_a_bracketed_number_is_answered(world):
    # verify mode quoted the statement verbatim, so '[99]' tripped check_citations (AssertionError)
    CASES["regressions"] += 1
    answer = world["assistant"].ask("분산 배치 그룹은 AZ 당 7개로 제한된다 [99].", mode="verify")
    check_answer(answer, world["chunk_ids"])


def test_resumed_batch_never_duplicates_a_record_with_unicode_line_separators(tmp_path):
    # done_ids used str.splitlines(), which breaks at U+2028/U+0085 inside ensure_ascii=False records
    from rag.batch import answer_items, run_batch

    CASES["regressions"] += 1
    items, _ = read_items(data='{"id": "a", "question": "x\u2028y\u0085z"}\n{"id": "b", "question": "w"}\n'.encode(),
                          name="q.jsonl")
    out = tmp_path / "answers.jsonl"

    def answer(item):
        return {"question": item.question, "answer_markdown": "ok"}

    assert run_batch(items, out, lambda todo: answer_items(todo, answer)) == (2, 0)
    assert run_batch(items, out, lambda todo: answer_items(todo, answer)) == (0, 2)
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").split("\n") if line] == ["a", "b"]
