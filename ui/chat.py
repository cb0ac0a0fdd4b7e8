"""The chat tab: questions in four modes, answers with their sources beside them.

`reply` is the logic (no Gradio inside): it refuses what cannot be asked,
carries the conversation into follow-up questions and turns the answer into
a `ChatTurn`. `build_chat_tab` lays out the tab and wires its events. Each
browser tab keeps its own turns in a `gr.State`, so two tabs asking at once
each get their own answers. With the LLM writer configured (`rag/writer.py`)
the model's text streams into the reply as it arrives, marked as not yet
checked, and the checked answer replaces it; the stop button ends the stream
(the notes' own answer is shown then).
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Iterator

import gradio as gr

from rag.conversation import context_for
from rag.engine import QueryError, clean_question
from rag.writer import WriterStopped
from ui.assets import SCRIPT
from ui.render import (MODE_LABELS, ChatTurn, literal_markdown, messages, preview, safe_markdown, sources_of,
                       sources_panel, topic_of)
from ui.service import Service

MAX_MESSAGE_CHARS = 20_000
EXAMPLES = [
    "How many instances per AZ can a spread placement group have?",
    "클러스터 배치 그룹과 분산 배치 그룹의 차이는?",
    "What happens when an instance goes from pending straight to terminated?",
    "Elastic IP는 리전당 몇 개까지 가질 수 있나요?",
    "Which placement group keeps instances on distinct racks?\nA. Cluster\nB. Spread\nC. Partition\nD. Dedicated Host",
    "분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다.",
]
MODE_CHOICES = [(label, mode) for mode, label in MODE_LABELS.items()]
UNCHECKED_NOTE = "*(작성 중: 아직 근거를 확인하지 않은 글입니다)*"
STOP_FLAGS: dict[str, threading.Event] = {}  # per browser session: set by the stop button


def too_long(chars: int) -> str:
    return (f"⚠ **질문이 너무 깁니다** ({chars:,}자). {MAX_MESSAGE_CHARS:,}자 이하로 줄여서 다시 보내 주세요.\n\n"
            f"The question is too long ({chars:,} characters); please keep it under {MAX_MESSAGE_CHARS:,}.")


def reply(service: Service, text: str, mode: str, turns: list[ChatTurn],
          on_text: Callable[[str], None] | None = None) -> ChatTurn:
    """The next turn for `text`: an answer, or a polite refusal that keeps the page usable."""
    number = len(turns) + 1
    shown = preview(text)
    if len(text) > MAX_MESSAGE_CHARS:
        return ChatTurn(number, shown, too_long(len(text)))
    if not service.ready:
        return ChatTurn(number, shown, service.notice())
    context = context_for(text, [t.as_conversation() for t in turns if t.answered])
    started = time.perf_counter()
    try:
        answer = service.assistant.ask(text, mode=mode, context=context, on_text=on_text)
    except QueryError as err:
        return ChatTurn(number, shown, f"⚠ {literal_markdown(str(err))}")
    except ImportError as err:
        return ChatTurn(number, shown, f"⚠ 이 질문에 필요한 모드를 아직 쓸 수 없습니다 ({literal_markdown(str(err))}).")
    except Exception as err:  # keep the page alive; the terminal gets the details
        service.assistant.log(f"ui: answering failed: {type(err).__name__}: {err}")
        return ChatTurn(number, shown, f"⚠ 답변 중 오류가 났습니다: {literal_markdown(f'{type(err).__name__}: {err}')}")
    return ChatTurn(number, shown, safe_markdown(answer.answer_markdown), question=text, mode=answer.mode,
                    sources=sources_of(answer), topic=topic_of(answer), context=context,
                    seconds=time.perf_counter() - started)


def streamed_reply(service: Service, text: str, mode: str, turns: list[ChatTurn],
                   stop: threading.Event) -> Iterator[tuple[ChatTurn, bool]]:
    """(turn, final) pairs: the writer's unchecked text as it arrives, then the checked turn."""
    updates: queue.Queue = queue.Queue()

    def on_text(so_far: str) -> None:
        if stop.is_set():
            raise WriterStopped
        updates.put(so_far)

    threading.Thread(target=lambda: updates.put(reply(service, text, mode, turns, on_text)), daemon=True).start()
    while not isinstance(item := updates.get(), ChatTurn):
        yield ChatTurn(len(turns) + 1, preview(text), f"{literal_markdown(item)}\n\n{UNCHECKED_NOTE}"), False
    yield item, True


def build_chat_tab(service: Service) -> None:
    """Lay out the chat tab inside the current Blocks and wire its events."""
    turns = gr.State([])
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=420):
            chatbot = gr.Chatbot(elem_id="rag-chat", label="대화", height=560, buttons=["copy", "copy_all"],
                                 allow_tags=False, latex_delimiters=[], feedback_options=None, layout="panel",
                                 placeholder="**노트에서 답을 찾습니다.** 영어나 한국어로 물어보세요. "
                                             "시험 문제를 붙여 넣거나 문장을 검증할 수도 있습니다.")
            mode = gr.Radio(MODE_CHOICES, value="auto", label="모드", elem_id="rag-mode",
                            info="자동은 보기(A. B. …)가 있으면 시험, 서술문이면 검증, 그 밖에는 질문으로 답합니다.")
            with gr.Row():
                text = gr.Textbox(elem_id="rag-input", show_label=False, lines=1, max_lines=12, scale=6,
                                  placeholder="질문, 시험 문제(보기 포함) 또는 검증할 문장 — Enter로 보내기, Shift+Enter로 줄바꿈")
                send = gr.Button("보내기", variant="primary", scale=1, min_width=90, elem_id="rag-send")
            with gr.Row():
                clear = gr.Button("지우기", size="sm", elem_id="rag-clear")
                halt = gr.Button("작성 중지", size="sm", elem_id="rag-stop")
            gr.Examples([[e] for e in EXAMPLES], inputs=[text], label="예시 질문 (English / 한국어)")
        with gr.Column(scale=2, min_width=320):
            gr.Markdown("#### 출처")
            panel = gr.HTML(sources_panel([]), elem_id="rag-sources", js_on_load=SCRIPT)

    def respond(message: str, chosen_mode: str, history: list[ChatTurn], request: gr.Request):
        try:
            clean_question(message or "", MAX_MESSAGE_CHARS)
        except QueryError as err:  # an empty message: say so, change nothing
            gr.Warning(str(err))
            yield message, gr.skip(), history, gr.skip()
            return
        if service.assistant.settings.writer.kind != "openai":
            history = [*history, reply(service, message, chosen_mode, history)]
            yield "", messages(history), history, sources_panel(history)
            return
        stop = STOP_FLAGS.setdefault(request.session_hash or "", threading.Event())
        stop.clear()
        for turn, final in streamed_reply(service, message, chosen_mode, history, stop):
            if final:
                history = [*history, turn]
                yield "", messages(history), history, sources_panel(history)
            else:
                yield "", messages([*history, turn]), history, gr.skip()

    def stop_writing(request: gr.Request) -> None:
        STOP_FLAGS.setdefault(request.session_hash or "", threading.Event()).set()

    def reset():
        return "", [], [], sources_panel([])

    for trigger in (text.submit, send.click):
        trigger(respond, [text, mode, turns], [text, chatbot, turns, panel], concurrency_limit=4,
                api_visibility="private")
    halt.click(stop_writing, None, None, queue=False, api_visibility="private")
    clear.click(reset, None, [text, chatbot, turns, panel], api_visibility="private")
    chatbot.clear(reset, None, [text, chatbot, turns, panel], api_visibility="private")  # its own trash icon
