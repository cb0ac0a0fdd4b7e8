"""The quiz tab: pick a question set, choose an option, then see the result, the reasons and the sources.

The logic is in `ui/quiz.py`; this module lays out the tab and wires it.
The assistant answers in exam mode with the visitor's own settings only
once an option is picked.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from rag.engine import QueryError
from ui.quiz import (QuizState, item_from_paste, items_from_text, option_choices, question_markdown, quiz_files,
                     verdict_markdown)
from ui.render import literal_markdown, source_html, sources_of
from ui.service import Service
from ui.settings_panel import SettingsControls, request_options


def sources_block(answer) -> str:
    sources = sources_of(answer)
    if not sources:
        return ""
    return ('<div class="rag-sources rag-quiz-sources"><p class="rag-context">출처 — 번호를 누르면 열리고, '
            '"노트에서 보기"는 노트 탭에서 그 줄을 보여 줍니다.</p>'
            + "".join(source_html("quiz", s) for s in sources) + "</div>")


def refuse(message: str, outputs: int) -> tuple:
    """Say what the student must do first (a toast), changing nothing on the page."""
    gr.Warning(message)
    return (gr.skip(),) * outputs


def build_quiz_tab(service: Service, gold_dir: Path, settings: SettingsControls) -> None:
    """Lay out the quiz tab inside the current Blocks and wire its events."""
    assistant = service.assistant
    names = quiz_files(gold_dir)
    gr.Markdown("객관식 문제를 풀어 봅니다. 보기를 먼저 고르면 정답 여부, 보기마다의 근거, 출처를 보여 줍니다. "
                "이번 세션의 점수가 쌓입니다.", elem_classes="rag-hint")
    with gr.Row(equal_height=True):
        chosen = gr.Dropdown(names, value=next((n for n in names if n.startswith("dev_")), names[0] if names else None),
                             label="문제 세트 (eval/gold)", elem_id="rag-quiz-set", scale=2)
        upload = gr.File(label="또는 문제 파일 올리기 (.jsonl: question, options, answer)", file_types=[".jsonl"],
                         type="filepath", elem_id="rag-quiz-upload", scale=2)
        load = gr.Button("문제 불러오기", elem_id="rag-quiz-load", scale=1, min_width=120)
    with gr.Accordion("문제 하나 붙여 넣기", open=False, elem_id="rag-quiz-paste-box"):
        pasted = gr.Textbox(lines=6, show_label=False, elem_id="rag-quiz-paste",
                            placeholder="문제\nA. …\nB. …\nC. …\nD. …\n정답: B   (정답 줄은 선택)")
        use_pasted = gr.Button("이 문제 풀기", elem_id="rag-quiz-use-paste")
    problems = gr.Markdown(elem_id="rag-quiz-problems")
    state = gr.State(QuizState())
    score = gr.Markdown(QuizState().score_text(), elem_id="rag-quiz-score")
    question = gr.Markdown(elem_id="rag-quiz-question")
    options = gr.Radio([], label="답을 고르세요", elem_id="rag-quiz-options", interactive=True)
    with gr.Row():
        check = gr.Button("정답 확인", variant="primary", elem_id="rag-quiz-check")
        following = gr.Button("다음 문제 →", elem_id="rag-quiz-next")
    result = gr.Markdown(elem_id="rag-quiz-result", line_breaks=True)
    sources = gr.HTML(elem_id="rag-quiz-sources", js_on_load=None)

    outputs = [state, score, question, options, result, sources, problems]

    def show(quiz: QuizState, problem: str = ""):
        item = quiz.current
        return (quiz, quiz.score_text(), question_markdown(item) if item else "",
                gr.Radio(choices=option_choices(item) if item else [], value=None, interactive=True), "", "", problem)

    def load_set(name: str | None, uploaded: str | None):
        if uploaded:
            origin, path = Path(uploaded).name, Path(uploaded)
        elif name in names:
            origin, path = name, gold_dir / name
        else:
            return refuse("문제 세트를 고르거나 파일을 올려 주세요 (choose or upload a question set).", len(outputs))
        items, errors = items_from_text(path.read_text(encoding="utf-8", errors="replace"), origin)
        problem = "\n".join(f"- {literal_markdown(f'{origin}: {e}')}" for e in errors[:20])
        if not items:
            return refuse(f"{origin}에 객관식 문제가 없습니다 (no multiple-choice questions in {origin}).", len(outputs))
        return show(QuizState(tuple(items)), f"**건너뛴 줄 {len(errors)}개:**\n{problem}" if errors else "")

    def load_pasted(text: str):
        item = item_from_paste(text or "")
        if isinstance(item, str):
            return refuse(item, len(outputs))
        return show(QuizState((item,)))

    def mark(quiz: QuizState, picked: str | None, k, kind, model):
        item = quiz.current
        if item is None:
            return refuse("먼저 문제를 불러오세요 (load a question first).", 5)
        if not picked:
            return refuse("먼저 보기를 하나 고르세요 (pick an option first).", 5)
        if not service.answering:
            return refuse(service.notice() or "색인을 준비하는 중입니다.", 5)
        try:
            answer = assistant.ask(item.question, mode="exam", options=item.options,
                                   **request_options(assistant, k, kind, model))
        except QueryError as err:
            return refuse(str(err), 5)
        correct, markdown = verdict_markdown(item, picked, {k: v for k, v in answer.to_json().items() if k != "hits"})
        quiz = quiz if quiz.checked else quiz.scored(correct)
        return quiz, quiz.score_text(), gr.Radio(interactive=False), markdown, sources_block(answer)

    quiet = {"api_visibility": "private"}
    load.click(load_set, [chosen, upload], outputs, **quiet)
    use_pasted.click(load_pasted, [pasted], outputs, **quiet)
    following.click(lambda quiz: show(quiz.next()), [state], outputs, **quiet)
    check.click(mark, [state, options, *settings.inputs], [state, score, options, result, sources],
                concurrency_limit=4, **quiet)
