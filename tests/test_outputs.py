"""Output paths, resume, CSV quotes, `rag ask -` and batch worker processes (issues 16 and 13).

- `rag batch -o` on a folder, a read-only folder or a full disk, and
  `rag eval --out` on a read-only folder or a file, end in one line and
  fail before any model is loaded; a full disk mid-run keeps every whole
  record and the rerun completes the rest;
- on resume, records that ended in an error are answered again, once;
- an unclosed CSV quote is reported at its line and the rows after it are
  still answered;
- `rag ask -` reads the question from standard input, up to the README's
  1 MB (truncated with a notice);
- `rag batch --workers 2` answers in worker processes, with the same
  records in the same order as one worker, and resumes the same way.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_reliability import cli_args, run_cli

import rag.cli
import rag.engine
from rag.batch import read_items

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
QUESTIONS = [
    {"id": "q1", "question": "분산 배치 그룹은 AZ 당 몇 개의 인스턴스로 제한되나요?"},
    {"id": "q2", "question": "What does an NLB handle?"},
    {"id": "q3", "statement": "분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다."},
    {"id": "q4", "question": "Which load balancer works at layer 4?", "options": {"A": "ALB", "B": "NLB"}},
    {"id": "q5", "question": "Elastic IP는 무료야?"},
]


@pytest.fixture
def questions(tmp_path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS), encoding="utf-8")
    return path


@pytest.fixture
def no_models(monkeypatch):
    """Any attempt to create an assistant (and so load models or the index) fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("an assistant was created before the output path was checked")

    monkeypatch.setattr(rag.cli, "Assistant", refuse)
    monkeypatch.setattr(rag.engine, "Assistant", refuse)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def comparable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "timings_ms"}


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("rag: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def refuse_under(monkeypatch, folder: Path, code: int) -> None:
    """Creating files or folders under `folder` fails with `code`, as on a read-only mount (root ignores chmod)."""
    real_open, real_mkdir = os.open, os.mkdir

    def blocked(path) -> bool:
        return os.path.abspath(os.fspath(path)).startswith(str(folder))

    def open_(path, flags, *args, **kwargs):
        if blocked(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(code, os.strerror(code), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if blocked(path):
            raise OSError(code, os.strerror(code), os.fspath(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)


# ---- output paths --------------------------------------------------------------------------

@pytest.mark.fast
def test_batch_output_that_is_a_folder_fails_before_loading(tmp_path, notes_dir, questions, capsys, no_models):
    folder = tmp_path / "answers"
    folder.mkdir()
    rc, _, err = run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(questions), "-o", str(folder))
    assert rc == 1 and f"output {folder} is a folder" in one_error_line(err) and "answers.jsonl" in err


@pytest.mark.fast
@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_batch_output_in_a_read_only_folder_fails_before_loading(tmp_path, notes_dir, questions, capsys, no_models,
                                                                 monkeypatch, code):
    folder = tmp_path / "read-only"
    folder.mkdir()
    refuse_under(monkeypatch, folder, code)
    rc, _, err = run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(questions), "-o", str(folder / "a.jsonl"))
    line = one_error_line(err)
    assert rc == 1 and f"cannot write {folder / 'a.jsonl'} ({os.strerror(code)})" in line and "-o" in line


@pytest.mark.fast
@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_batch_output_in_a_chmod_read_only_folder_fails_before_loading(tmp_path, notes_dir, questions, capsys,
                                                                       no_models):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        rc, _, err = run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(questions), "-o",
                             str(folder / "a.jsonl"))
    finally:
        folder.chmod(0o755)
    assert rc == 1 and "cannot write" in one_error_line(err)


@pytest.mark.fast
def test_a_full_disk_mid_batch_is_one_line_and_the_rerun_completes(tmp_path, notes_dir, questions, capsys,
                                                                   monkeypatch):
    out = tmp_path / "answers.jsonl"
    real_write = os.write
    budget = {"records": 2}

    def write(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}") == str(out):
            if budget["records"] == 0:  # the disk fills half-way through the third record
                real_write(fd, data[: len(data) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            budget["records"] -= 1
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    rc, _, err = run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(questions), "-o", str(out))
    line = one_error_line(err)
    assert rc == 1 and f"cannot write {out} after 2 answers this run (No space left on device)" in line
    assert "rerun the same command to resume" in line
    assert not out.read_bytes().endswith(b"\n")  # the half-written third record is on disk
    monkeypatch.undo()
    rc, _, err = run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(questions), "-o", str(out))
    assert rc == 0 and "answered 3, already done 2" in err
    assert [r["id"] for r in records(out)] == ["q1", "q2", "q3", "q4", "q5"]


@pytest.mark.fast
@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_eval_out_in_a_read_only_folder_fails_before_loading(tmp_path, notes_dir, capsys, no_models, monkeypatch,
                                                             code):
    gold = tmp_path / "gold.jsonl"
    gold.write_text("{}\n", encoding="utf-8")
    refuse_under(monkeypatch, tmp_path / "ro", code)
    rc, _, err = run_cli(capsys, notes_dir, tmp_path / "index", "eval", "--gold", str(gold), "--out",
                         str(tmp_path / "ro" / "run"))
    line = one_error_line(err)
    assert rc == 1 and f"cannot write the report folder {tmp_path / 'ro' / 'run'}/ ({os.strerror(code)})" in line


@pytest.mark.fast
def test_eval_out_that_is_a_file_fails_before_loading(tmp_path, notes_dir, capsys, no_models):
    gold, target = tmp_path / "gold.jsonl", tmp_path / "report.md"
    gold.write_text("{}\n", encoding="utf-8")
    target.write_text("mine\n", encoding="utf-8")
    rc, _, err = run_cli(capsys, notes_dir, tmp_path / "index", "eval", "--gold", str(gold), "--out", str(target))
    assert rc == 1 and f"--out {target} is a file" in one_error_line(err)
    assert target.read_text(encoding="utf-8") == "mine\n"


# ---- resume --------------------------------------------------------------------------------

@pytest.mark.fast
def test_resume_answers_records_that_ended_in_an_error_again(tmp_path, notes_dir, questions, capsys, monkeypatch):
    out = tmp_path / "answers.jsonl"
    real_ask = rag.engine.Assistant.ask

    def flaky(self, text, *args, **kwargs):
        if "NLB handle" in text:
            raise RuntimeError("model crashed")
        return real_ask(self, text, *args, **kwargs)

    monkeypatch.setattr(rag.engine.Assistant, "ask", flaky)
    assert run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(questions), "-o", str(out))[0] == 0
    first = records(out)
    assert [r["id"] for r in first if "error" in r] == ["q2"]
    monkeypatch.undo()
    rc, _, err = run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(questions), "-o", str(out))
    assert rc == 0 and "answered 1, already done 4" in err
    again = records(out)
    assert sorted(r["id"] for r in again) == ["q1", "q2", "q3", "q4", "q5"]  # no duplicate, no error left
    assert not any("error" in r for r in again)
    assert [comparable(r) for r in again if r["id"] != "q2"] == [comparable(r) for r in first if r["id"] != "q2"]


# ---- CSV -----------------------------------------------------------------------------------

UNCLOSED = 'id,question\nc1,"What does an NLB handle?\nc2,분산 배치 그룹이란?\nc3,Elastic IP는 무료야?\n'


@pytest.mark.fast
@pytest.mark.parametrize("text, ids", [
    (UNCLOSED, ["c2", "c3"]),  # the quote runs to the end of the file
    (UNCLOSED + 'c4,"Quoted, fine"\n', ["c2", "c3", "c4"]),  # a later quote closes it mid-field
])
def test_an_unclosed_csv_quote_is_reported_at_its_line_and_later_rows_are_read(text, ids):
    items, errors = read_items(data=text.encode(), name="q.csv")
    assert [i.id for i in items] == ids
    assert [e.line for e in errors] == [2] and "quote opened on this line is not closed" in errors[0].message


@pytest.mark.fast
def test_an_unclosed_csv_quote_through_the_command(tmp_path, notes_dir, capsys):
    source, out = tmp_path / "q.csv", tmp_path / "a.jsonl"
    source.write_text(UNCLOSED, encoding="utf-8")
    rc, _, err = run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(source), "-o", str(out))
    assert rc == 1 and f"{source}:line 2: CSV quote opened on this line is not closed" in err
    assert "malformed lines 1" in err and [r["id"] for r in records(out)] == ["c2", "c3"]


# ---- rag ask - -----------------------------------------------------------------------------

def ask_stdin(corpus: Path, index: Path, data: bytes, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rag", *cli_args(corpus, index), "ask", "-", *args], input=data,
                          capture_output=True, cwd=REPO, env=ENV, timeout=120)


@pytest.mark.fast
def test_ask_dash_reads_the_question_from_stdin(tmp_path, notes_dir, capsys):
    question = "분산 배치 그룹은 AZ 당 몇 개의 인스턴스로 제한되나요?"
    index = tmp_path / "index"
    rc, out, _ = run_cli(capsys, notes_dir, index, "ask", question, "--json", "--mode", "qa")
    proc = ask_stdin(notes_dir, index, question.encode() + b"\n", "--json", "--mode", "qa")
    assert proc.returncode == 0, proc.stderr
    piped = json.loads(proc.stdout)
    assert piped["question"] == question and piped["answer_markdown"] == json.loads(out)["answer_markdown"]


@pytest.mark.fast
@pytest.mark.parametrize("label, data", [("1 MB Korean", "배치 그룹 ".encode() * 71_429),
                                         ("1 MB ASCII", b"spread placement group " * 43_690)])
def test_ask_dash_takes_a_1_mb_question(tmp_path, notes_dir, label, data):
    assert len(data) >= 1_000_000
    proc = ask_stdin(notes_dir, tmp_path / "index", data, "--json")
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    assert "question truncated to 4000 characters" in answer["answer_markdown"]
    assert len(answer["question"]) == 4000


@pytest.mark.fast
@pytest.mark.parametrize("data", [b"", b"  \n\t\n", b"\xff\xfe"])
def test_ask_dash_with_nothing_on_stdin_is_one_line(tmp_path, notes_dir, data):
    proc = ask_stdin(notes_dir, tmp_path / "index", data)
    if data == b"\xff\xfe":  # undecodable bytes become U+FFFD: a question with no content, answered by abstaining
        assert proc.returncode == 0 and b"Traceback" not in proc.stderr
        return
    assert proc.returncode == 2 and proc.stderr.decode().startswith("rag: error: the question is empty")
    assert proc.stderr.count(b"\n") == 1


# ---- worker processes ----------------------------------------------------------------------

@pytest.mark.fast
def test_two_worker_processes_give_the_same_records_in_the_same_order(tmp_path, notes_dir, questions, capsys):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(questions), "-o", str(one))[0] == 0
    rc, _, err = run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(questions), "-o", str(two),
                         "--workers", "2")
    assert rc == 0 and "answered 5, already done 0" in err
    assert "answering" in err and "5/5" in err  # progress still shows
    assert [comparable(r) for r in records(two)] == [comparable(r) for r in records(one)]


@pytest.mark.slow
def test_two_worker_processes_resume_like_one(tmp_path, notes_dir, questions, capsys):
    out = tmp_path / "answers.jsonl"
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS[:2]), encoding="utf-8")
    assert run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(partial), "-o", str(out), "--workers", "2")[0] == 0
    out.write_bytes(out.read_bytes() + b'{"id": "q3", "answ')  # killed mid-write
    rc, _, err = run_cli(capsys, notes_dir, tmp_path / "index", "batch", str(questions), "-o", str(out),
                         "--workers", "2")
    assert rc == 0 and "answered 3, already done 2" in err
    assert [r["id"] for r in records(out)] == ["q1", "q2", "q3", "q4", "q5"]



@pytest.mark.fast
def test_a_worker_that_cannot_start_is_one_error_not_a_hang(tmp_path, notes_dir, capfd):
    from conftest import make_settings

    from rag.batch import WorkerError, answer_in_processes

    items, _ = read_items(data=b'{"id": "1", "question": "EC2"}\n{"id": "2", "question": "ELB"}\n', name="q.jsonl")
    broken = make_settings(tmp_path, tmp_path / "no-notes-here")
    with pytest.raises(WorkerError, match="could not start"):
        list(answer_in_processes(items, broken, "auto", 2))
    err = capfd.readouterr().err
    assert "rag: error: a batch worker could not start: no notes found" in err and "Traceback" not in err
