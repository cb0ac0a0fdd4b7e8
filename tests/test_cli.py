"""CLI round trips in-process: ask/search/index/batch/eval, --json field names, exit codes."""
import json

import pytest

from rag.cli import main

pytestmark = pytest.mark.model  # the CLI's default path indexes the USE option model

ANSWER_FIELDS = {"question", "mode", "answer_markdown", "abstained", "citations", "hits", "choice", "is_correct",
                 "verdicts", "timings_ms", "retrieval_text", "confidence", "uncertain", "generation", "stale",
                 "provisional", "citations_dropped", "writer"}


@pytest.fixture
def base(tmp_path, notes_dir):
    return ["--corpus", str(notes_dir), "--index", str(tmp_path / "index"), "--embedders", "hash"]


def output_ids(path):
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_json_has_the_documented_fields(capsys, base):
    code, out, _ = run(capsys, base + ["ask", "분산 배치 그룹은 AZ당 몇 개의 인스턴스를 가질 수 있나요?", "--json", "--mode", "qa"])
    assert code == 0
    data = json.loads(out)
    assert set(data) == ANSWER_FIELDS
    assert data["mode"] == "qa" and data["choice"] is None and data["verdicts"] is None
    assert set(data["citations"][0]) == {"n", "chunk_id", "source", "heading_path", "line_start", "line_end"}
    assert set(data["hits"][0]) == {"rank", "chunk_id", "source", "heading_path", "line_start", "line_end", "score"}
    assert [h["rank"] for h in data["hits"]] == list(range(1, len(data["hits"]) + 1)) and len(data["hits"]) <= 10
    assert set(data["timings_ms"]) == {"encode_ms", "retrieve_ms", "compose_ms", "total_ms"}


def test_ask_prints_markdown(capsys, base):
    code, out, _ = run(capsys, base + ["ask", "What does an NLB handle?", "--mode", "qa"])
    assert code == 0 and "**TL;DR**" in out and "출처" in out


@pytest.mark.parametrize("question", ["", "   \n\t "])
def test_empty_question_exits_2_with_one_line(capsys, base, question):
    code, out, err = run(capsys, base + ["ask", question])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("rag: error: the question is empty")


def test_missing_notes_say_where_to_put_them(capsys, tmp_path):
    code, _, err = run(capsys, ["--corpus", str(tmp_path / "none"), "--index", str(tmp_path / "i"),
                                "--embedders", "hash", "ask", "q"])
    assert code == 1 and "put your Markdown notes (*.md) into" in err and err.count("\n") == 1


def test_search_json_and_index(capsys, base):
    assert run(capsys, base + ["index"])[0] == 0
    code, out, _ = run(capsys, base + ["index"])
    assert code == 0 and out.startswith("index is up to date: gen-000001, 10 chunks")
    code, out, _ = run(capsys, base + ["search", "NLB 고정 IP", "-k", "3", "--json"])
    hits = json.loads(out)
    assert code == 0 and len(hits) == 3 and hits[0]["heading_path"][-1] == "Network Load Balancer (NLB)"


def test_batch_reports_bad_lines_answers_the_rest_and_resumes(capsys, base, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join([
        '{"id": "a", "question": "NLB는 몇 계층이야?"}',
        '{"id": "b", "question": ',
        '{"id": "c", "statement": "분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다."}',
        '{"id": "d", "question": "Which LB?", "options": {"A": "ALB", "B": "NLB"}}',
        '{"question": "no id"}',
    ]), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, _, err = run(capsys, base + ["batch", str(questions), "-o", str(out)])
    assert code == 1
    assert f"{questions}:line 2: not valid JSON" in err and f"{questions}:line 5: missing field 'id'" in err
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert output_ids(out) == ["a", "c", "d"]
    assert [r["mode"] for r in records] == ["qa", "verify", "exam"]
    assert all(ANSWER_FIELDS <= set(r) for r in records)
    # an interrupted run left half a line: the rerun drops it and answers only what is missing
    out.write_text(out.read_text(encoding="utf-8").splitlines()[0] + "\n" + '{"id": "c", "ques', encoding="utf-8")
    code, _, err = run(capsys, base + ["batch", str(questions), "-o", str(out), "--workers", "2"])
    assert "answered 2, already done 1" in err
    assert output_ids(out) == ["a", "c", "d"]


def test_batch_accepts_csv(capsys, base, tmp_path):
    questions = tmp_path / "q.csv"
    questions.write_text('id,question\n1,"NLB는 몇 계층이야?"\n2,ALB는 무엇을 지원해?\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run(capsys, base + ["batch", str(questions), "-o", str(out)])[0] == 0
    assert output_ids(out) == ["1", "2"]


def test_eval_writes_metrics_report_and_plot(capsys, base, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join([
        '{"id": "1", "question": "NLB는 몇 계층 로드 밸런서야?", "gold_headings": ["Network Load Balancer (NLB)"], "key_terms": ["L4"]}',
        '{"id": "2", "question": "How do I set up Aurora Global Database?", "note": "not in notes"}',
        '{"id": "3", "question": "bad", "gold_headings": ["Nope"]}',
    ]), encoding="utf-8")
    out = tmp_path / "run"
    code, stdout, err = run(capsys, base + ["eval", "--gold", str(gold), "--retrievers", "bm25,hybrid", "--out", str(out)])
    assert code == 1 and f"{gold}:3: unknown heading 'Nope'" in err
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["retrieval"]["bm25"]["all"]["recall@1"] == 1.0
    assert metrics["answers"]["all"]["abstention_recall"] == 1.0
    assert (out / "report.md").read_text(encoding="utf-8").startswith("# Eval report")
    assert (out / "recall_at_k.png").read_bytes()[:4] == b"\x89PNG"
    assert "### Targets" in stdout


def test_python_m_rag_works():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "rag", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "index" in result.stdout and "serve" in result.stdout
