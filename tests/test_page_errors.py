"""The page's `/ask` API with wrong input, and the batch study sheet with HTML in questions (issue 16).

- `/ask` with a null or numeric question gives a readable error (it gave
  `{"error": null}` and a `TypeError` in the log);
- ordinary user errors (empty question, unknown mode, not text) are logged
  as one line, with no traceback in the server's output;
- the Markdown study sheet shows `<script>` and `<img onerror>` from a
  question, its options, its id or an answer quoting it as text.
"""
from __future__ import annotations

import re
import shutil
import time

import pytest
from conftest import FIXTURES
from test_reliability import hash_settings, serve_page

from rag.batch import read_items
from rag.engine import Assistant

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
RAW_HTML = re.compile(r"<\s*(script|img)", re.IGNORECASE)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The study page over the fixture notes (hash embedder) and a client for `/ask`; the server log as a list."""
    root = tmp_path_factory.mktemp("page-errors")
    shutil.copytree(FIXTURES / "notes", root / "corpus")
    logged: list[str] = []
    app, _, client = serve_page(Assistant(hash_settings(root, root / "corpus"), log=logged.append))
    yield client, logged
    app.close()


@pytest.mark.fast
@pytest.mark.parametrize("question, mode, message", [
    (None, "auto", "the question must be text, not null"),
    (5, "auto", "the question must be text, not int"),
    (3.5, "qa", "the question must be text, not float"),
    ("   ", "auto", "the question is empty"),
    ("EC2 배치 그룹", "poetry", "unknown mode 'poetry'"),
])
def test_ask_api_user_errors_are_readable_and_logged_in_one_line(page, capfd, question, mode, message):
    from gradio_client.exceptions import AppError

    client, logged = page
    capfd.readouterr()
    before = len(logged)
    with pytest.raises(AppError) as raised:
        client.predict(question, mode, api_name="/ask")
    assert message in str(raised.value)
    time.sleep(0.3)  # the server's output of this request
    assert logged[before:] == [line for line in logged[before:] if line.startswith("ui: /ask: ")]
    assert len(logged[before:]) == 1 and message in logged[before]
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


@pytest.mark.fast
def test_ask_api_json_stays_data(page):
    client, _ = page
    answer = client.predict(f"EC2 배치 그룹 {SCRIPT} {IMG}", "qa", api_name="/ask")
    assert SCRIPT in answer["question"]  # data as given: the client escapes it where it shows it


@pytest.mark.fast
def test_study_sheet_shows_html_from_questions_as_text(hash_assistant):
    pytest.importorskip("gradio")
    from ui.batch_tab import study_sheet

    data = "\n".join([
        f'{{"id": "q1{SCRIPT}", "question": "EC2 배치 그룹이란? {SCRIPT}\\n{IMG}"}}',
        f'{{"id": "q2", "question": "Which one? {IMG}", "options": {{"A": "{SCRIPT}", "B{IMG}": "NLB"}}}}',
        f'{{"id": "q3", "statement": "분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다 {SCRIPT}."}}',
        '{"id": "q1<script>alert(1)</script>", "question": "duplicate"}',
    ]).encode()
    items, errors = read_items(data=data, name=f"{IMG}.jsonl")
    records = [{"id": item.id, **hash_assistant.ask(item.question, mode=item.mode, options=item.options).to_json()}
               for item in items]
    records.append({"id": items[0].id, "question": items[0].question, "error": f"QueryError: {SCRIPT}"})
    assert any(SCRIPT in r["answer_markdown"] for r in records if "answer_markdown" in r)  # the verify echo
    sheet = study_sheet(f"{IMG}.jsonl", items, records, errors)
    assert not RAW_HTML.search(sheet), RAW_HTML.search(sheet)
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in sheet  # shown, as text
    assert errors and "duplicate id" in sheet
