"""The batch tab: upload a question set, watch answers arrive, download them.

The upload is read from Gradio's temporary copy. Answers are written to a
fresh temporary folder under fixed names (`answers.jsonl`,
`study-sheet.md`), never to a path the user names. Malformed lines are
listed with their line numbers and the rest still run, as in `rag batch`.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import gradio as gr

from rag.batch import Item, LineError, answer_items, read_items
from ui.render import MODE_LABELS, honesty_label, honesty_lines, literal_markdown, safe_markdown
from ui.service import Service
from ui.settings_panel import SettingsControls, request_options

WORKERS = 2
COLUMNS = ["id", "모드", "답", "확신도", "출처", "상태"]


def preview_row(record: dict) -> list:
    """One row of the preview table for an answer record (or an error record)."""
    if "error" in record:
        return [record["id"], "", "", "", 0, f"오류: {record['error']}"]
    if record.get("choice"):
        summary = f"정답: {record['choice']}"
    elif record.get("abstained"):
        summary = "노트에 없음"
    else:
        first = next((line for line in record["answer_markdown"].splitlines() if line.strip()), "")
        summary = first.strip("*# ").strip()
    return [record["id"], MODE_LABELS.get(record.get("mode", ""), ""), summary, honesty_label(record),
            len(record.get("citations", [])), "완료"]


def errors_markdown(errors: list[LineError], name: str) -> str:
    if not errors:
        return ""
    lines = [f"**형식이 잘못된 줄 {len(errors)}개** (나머지는 계속 답합니다):"]
    lines += [f"- {literal_markdown(f'{name}: {e}')}" for e in errors]
    return "\n".join(lines)


def study_sheet(name: str, items: list[Item], records: list[dict], errors: list[LineError]) -> str:
    """A Markdown study sheet: every question with its options and answer, in input order.

    What the user wrote (file name, ids, questions, options) is shown as literal text and answers have their
    HTML neutralised, so a `<script>` or `<img onerror>` in a question stays text in any Markdown viewer.
    """
    by_id = {item.id: item for item in items}
    out = [f"# 학습 노트: {literal_markdown(name)}", "",
           f"{time.strftime('%Y-%m-%d %H:%M')} · 문항 {len(records)}개 · 형식 오류 {len(errors)}줄", ""]
    for number, record in enumerate(records, 1):
        item = by_id[record["id"]]
        out += [f"## {number}. {literal_markdown(record['id'])}", "",
                *[f"> {literal_markdown(line)}" for line in item.question.splitlines()]]
        out += [f"> {literal_markdown(f'{letter}. {text}')}" for letter, text in (item.options or {}).items()]
        if "error" in record:
            out += ["", f"> 오류: {literal_markdown(record['error'])}"]
        else:
            out += ["", *honesty_lines(record), "", safe_markdown(record["answer_markdown"])]
        out += ["", "---", ""]
    if errors:
        out += ["## 형식 오류", "", *[f"- {literal_markdown(str(e))}" for e in errors], ""]
    return "\n".join(out)


def build_batch_tab(service: Service, settings: SettingsControls) -> None:
    """Lay out the batch tab inside the current Blocks and wire its events."""
    gr.Markdown("질문 세트(JSON Lines 또는 CSV, `rag batch`와 같은 형식)를 올리면 순서대로 답합니다. "
                "JSON Lines 한 줄: `{\"id\": \"q1\", \"question\": \"...\"}` (보기는 `options`, 검증은 `statement`). "
                "CSV는 `id,question` 머리글.")
    with gr.Row():
        upload = gr.File(label="질문 파일 (.jsonl / .csv)", file_types=[".jsonl", ".json", ".csv", ".txt"],
                         type="filepath", elem_id="rag-batch-file", scale=2)
        downloads = gr.File(label="다운로드 (JSON Lines · 학습 노트 Markdown)", file_count="multiple",
                            interactive=False, elem_id="rag-batch-downloads", scale=2)
    run = gr.Button("일괄 답변 시작", variant="primary", elem_id="rag-batch-run")
    problems = gr.Markdown(label="형식 오류", elem_id="rag-batch-errors")
    table = gr.Dataframe(headers=COLUMNS, datatype=["str", "str", "str", "str", "number", "str"], value=[],
                         interactive=False, wrap=True, elem_id="rag-batch-table", label="미리보기")

    def answer_file(path: str | None, top_k: int, retriever: str, embedder: str, progress=gr.Progress()):
        if not path:
            raise gr.Error("먼저 질문 파일을 올려 주세요 (upload a .jsonl or .csv file first).")
        if not service.ready:
            raise gr.Error(service.notice() or "색인을 준비하는 중입니다.")
        name = Path(path).name
        items, errors = read_items(data=Path(path).read_bytes(), name=name)
        problems_text = errors_markdown(errors, name)
        if not items:
            problems_text = "\n\n".join(filter(None, [problems_text, "**답할 질문이 없습니다.**"]))
        rows: list[list] = []
        records: list[dict] = []
        yield rows, problems_text, None
        assistant = service.assistant
        ask_options = request_options(assistant, top_k, retriever, embedder)

        def answer(item: Item) -> dict:
            return assistant.ask(item.question, mode=item.mode, options=item.options, **ask_options).to_json()

        def report(done: int, total: int, label: str) -> None:
            progress((done, total), desc=f"답하는 중 {done}/{total}")

        for record in answer_items(items, answer, WORKERS, report):
            records.append(record)
            rows.append(preview_row(record))
            yield rows, problems_text, None
        folder = Path(tempfile.mkdtemp(prefix="rag-batch-"))
        jsonl = folder / "answers.jsonl"
        jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        sheet = folder / "study-sheet.md"
        sheet.write_text(study_sheet(name, items, records, errors), encoding="utf-8")
        yield rows, problems_text, [str(jsonl), str(sheet)] if records else None

    run.click(answer_file, [upload, *settings.inputs], [table, problems, downloads], api_name="batch",
              concurrency_limit=1)
