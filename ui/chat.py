"""The chat tab: questions in four modes, answers with their sources beside them.

`reply` is the logic (no Gradio inside): it refuses what cannot be asked,
hands the earlier turns to the engine, which searches a follow-up with the
context they lend, and turns the answer into a `ChatTurn`. `build_chat_tab`
lays out the tab and wires its events.

Each visitor's conversation lives in their own session and, between visits,
in their browser's local storage (`ui/history.py`): a reload keeps it,
"새 대화" files it under 지난 대화. Each answer shows the text that was
searched ("검색: …"); the page script turns that line into an editable box
whose "다시 묻기" asks again with the edited text, and adds the
"도움됐어요 / 틀렸어요" feedback control under every answer. Both reach the
server as events of the sources panel (`trigger` in `ui/assets.py`).

With the LLM writer configured (`rag/writer.py`, `[writer] kind = "openai"`)
the asking events stream: the model's text shows in the reply as it arrives,
marked as not yet checked, and the checked answer replaces it; "작성 중지"
ends the stream (the notes' own answer is shown then, with a notice).
Without the writer the events answer once, as plain functions.
"""
from __future__ import annotations

import functools
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import gradio as gr

from rag.conversation import turn_of
from rag.engine import QueryError, clean_question
from rag.modes import parse_options
from rag.types import Answer
from rag.writer import WriterStopped
from ui import feedback, history
from ui.assets import SCRIPT
from ui.render import (MODE_LABELS, ChatTurn, literal_markdown, messages, preview, reply_markdown, sources_of,
                       sources_panel)
from ui.service import Service
from ui.settings_panel import RETRIEVER_NAMES, STORAGE_SECRET, SettingsControls, request_options

EXAMPLES = [
    "How many instances per AZ can a spread placement group have?",
    "클러스터 배치 그룹과 분산 배치 그룹의 차이는?",
    "What happens when an instance goes from pending straight to terminated?",
    "Elastic IP는 리전당 몇 개까지 가질 수 있나요?",
    "Which placement group keeps instances on distinct racks?\nA. Cluster\nB. Spread\nC. Partition\nD. Dedicated Host",
    "분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다.",
]
MODE_CHOICES = [(label, mode) for mode, label in MODE_LABELS.items()]
WELCOME = ("**노트에서 답을 찾습니다.** 영어나 한국어로 물어보세요. 시험 문제(보기 A. B. …)를 붙여 넣으면 정답을 고르고, "
           "서술문을 넣으면 노트와 맞는지 검증합니다. 모든 답에 출처 번호가 붙습니다.\n\n"
           "예시 질문을 누르면 바로 물어봅니다 (English / 한국어):")
EMPTY_QUESTION = "질문을 입력해 주세요 (the question is empty; type a question first)."
UNCHECKED_NOTE = "*(작성 중: 아직 근거를 확인하지 않은 글입니다)*"


def too_long(chars: int, limit: int) -> str:
    return (f"⚠ **질문이 너무 깁니다** ({chars:,}자). {limit:,}자 이하로 줄여서 다시 보내 주세요.\n\n"
            f"The question is too long ({chars:,} characters); please keep it under {limit:,}.")


@dataclass(frozen=True)
class Request:
    """What to ask: the text as typed, the mode, this visitor's settings.

    `searched` marks a re-ask with an edited retrieval text: it is searched as
    it stands, without follow-up context.
    """

    text: str
    mode: str
    options: dict | None = None
    searched: bool = False


def asked_markdown(request: Request) -> str:
    """The user's side of a turn: the question, or the edited search text of a re-ask."""
    return preview(request.text) if not request.searched else f"*검색어를 고쳐 다시 물음:* {preview(request.text)}"


def reply(service: Service, request: Request, turns: tuple[ChatTurn, ...], ask_options: dict,
          on_text: Callable[[str], None] | None = None) -> ChatTurn:
    """The next turn for `request`: an answer, or a polite refusal that keeps the page usable.

    `on_text` receives the writer's text so far while it streams (`Assistant.ask`).
    """
    number = len(turns) + 1
    text = request.text
    shown = asked_markdown(request)
    limit = service.assistant.settings.max_query_chars
    if len(text) > limit:
        return ChatTurn(number, shown, too_long(len(text), limit))
    if not service.answering:
        return ChatTurn(number, shown, service.notice())
    history = () if request.searched else tuple(t.as_conversation() for t in turns if t.answered)
    started = time.perf_counter()
    try:
        answer = service.assistant.ask(text, mode=request.mode, options=request.options, history=history,
                                       on_text=on_text, **ask_options)
    except QueryError as err:
        return ChatTurn(number, shown, f"⚠ {literal_markdown(str(err))}")
    except ImportError as err:
        return ChatTurn(number, shown, f"⚠ 이 질문에 필요한 모드를 아직 쓸 수 없습니다 ({literal_markdown(str(err))}).")
    except Exception as err:  # keep the page alive; the terminal gets the details
        service.assistant.log(f"ui: answering failed: {type(err).__name__}: {err}")
        return ChatTurn(number, shown, f"⚠ 답변 중 오류가 났습니다: {literal_markdown(f'{type(err).__name__}: {err}')}")
    record = {k: v for k, v in answer.to_json().items() if k != "hits"}
    options = request.options or (parse_options(text)[1] if answer.mode == "exam" else {})
    follow = turn_of(answer)
    return ChatTurn(number, shown, reply_markdown(record), question=text, mode=answer.mode,
                    sources=sources_of(answer), topic=follow.topic, context=follow.context,
                    seconds=time.perf_counter() - started, record=record, options=options,
                    searched_with=searched_with(service.assistant, ask_options, answer))


def streamed_reply(service: Service, request: Request, turns: tuple[ChatTurn, ...], ask_options: dict,
                   stop: threading.Event) -> Iterator[tuple[ChatTurn, bool]]:
    """(turn, final) pairs: the writer's unchecked text as it arrives, then the checked turn.

    Setting `stop` ends the writer's stream at its next piece; so does closing this generator.
    """
    updates: queue.Queue = queue.Queue()

    def on_text(so_far: str) -> None:
        if stop.is_set():
            raise WriterStopped
        updates.put(so_far)

    threading.Thread(target=lambda: updates.put(reply(service, request, turns, ask_options, on_text)),
                     daemon=True).start()
    shown = asked_markdown(request)
    try:
        while not isinstance(item := updates.get(), ChatTurn):
            yield ChatTurn(len(turns) + 1, shown, f"{literal_markdown(item)}\n\n{UNCHECKED_NOTE}"), False
        yield item, True
    finally:
        stop.set()  # a page that went away stops the model too


def settled(steps: Callable[..., Iterator]) -> Callable:
    """The generator function `steps` as a plain one returning its last value: the event updates the page once."""
    @functools.wraps(steps)
    def last(*args, **kwargs):
        for value in steps(*args, **kwargs):
            pass
        return value

    return last


def searched_with(assistant, ask_options: dict, answer: Answer) -> str:
    """"검색: BM25 · e5 · 노트 조각 1개": the retriever and model the request used and how many pieces it found."""
    settings = assistant.settings
    kind = "bm25" if answer.provisional else ask_options.get("kind") or settings.retriever
    model = "" if kind == "bm25" else f" · {ask_options.get('embedder') or settings.embedders[0]}"
    return f"검색: {RETRIEVER_NAMES[kind]}{model} · 노트 조각 {len(answer.hits)}개"


def reask_request(turn: ChatTurn, edited: str) -> Request:
    """Ask `turn` again, searching `edited`; an exam turn keeps its options (the engine appends them again)."""
    text = " ".join(edited.split())
    if turn.mode == "exam" and turn.options:
        suffix = " " + " ".join(" ".join(v.split()) for v in turn.options.values())
        text = text[: -len(suffix)] if text.endswith(suffix) else text
        return Request(text, "exam", dict(turn.options), searched=True)
    return Request(text, turn.mode or "auto", searched=True)


def turn_at(conversation: history.Conversation, number) -> ChatTurn | None:
    try:
        turn = conversation.turns[int(number) - 1]
    except (TypeError, ValueError, IndexError):
        return None
    return turn if turn.answered else None


@dataclass(frozen=True)
class ChatTab:
    """What the app runs on page load to bring back the visitor's conversations."""

    restore: Callable
    inputs: list
    outputs: list


def past_choices(past: list[history.Conversation]) -> list[tuple[str, str]]:
    """The 지난 대화 list: a heading entry (value "") and one entry per past conversation."""
    return [("지난 대화 열기…" if past else "지난 대화 없음", ""), *history.choices(past)]


def past_values(past: list[history.Conversation]) -> tuple[list[dict], gr.Dropdown]:
    """What the browser keeps of the past conversations, and the 지난 대화 list showing them."""
    return [history.to_json(c) for c in past], gr.Dropdown(choices=past_choices(past), value="")


def is_empty(message) -> bool:
    """True for a message with nothing to ask (empty, blank or control characters only)."""
    try:
        clean_question(message or "", len(message or "") + 1)
    except QueryError:
        return True
    return False


def build_chat_tab(service: Service, settings: SettingsControls) -> ChatTab:
    """Lay out the chat tab inside the current Blocks and wire its events."""
    assistant = service.assistant
    limit = assistant.settings.max_query_chars
    streaming = assistant.settings.writer.kind == "openai"
    stop_flags: dict[str, threading.Event] = {}  # per browser session: the stop button sets its stream's flag
    conversation = gr.State(history.new_conversation())
    current_store = gr.BrowserState(None, storage_key="soa-rag-conversation-v1", secret=STORAGE_SECRET)
    past_store = gr.BrowserState([], storage_key="soa-rag-past-v1", secret=STORAGE_SECRET)
    with gr.Row(equal_height=False, elem_id="rag-chat-row"):
        with gr.Column(scale=3, min_width=360, elem_id="rag-chat-col"):
            with gr.Row(elem_id="rag-chat-tools"):
                new_chat = gr.Button("＋ 새 대화", size="sm", scale=0, min_width=110, elem_id="rag-new-chat")
                past = gr.Dropdown(past_choices([]), value="", label="지난 대화", show_label=False, scale=3,
                                   container=False, elem_id="rag-past")
            chatbot = gr.Chatbot(elem_id="rag-chat", show_label=False, height=560, buttons=["copy", "copy_all"],
                                 autoscroll=False,  # the page script shows a new answer from its question down
                                 allow_tags=False, latex_delimiters=[], feedback_options=None, layout="panel",
                                 placeholder=WELCOME, examples=[{"text": e} for e in EXAMPLES])
            notice = gr.Markdown(elem_id="rag-chat-notice")
            with gr.Column(elem_id="rag-compose"):
                with gr.Row(equal_height=True):
                    text = gr.Textbox(elem_id="rag-input", show_label=False, lines=1, max_lines=8, scale=6,
                                      container=False, placeholder="질문·시험 문제·검증할 문장 (Enter 보내기, Shift+Enter 줄바꿈)")
                    send = gr.Button("보내기", variant="primary", scale=1, min_width=76, elem_id="rag-send")
                    halt = gr.Button("작성 중지", variant="stop", scale=1, min_width=76, visible=streaming,
                                     elem_id="rag-stop")
                gr.HTML(f'<div id="rag-counter" data-limit="{limit}">0 / {limit:,}자</div>', js_on_load=None)
            mode = gr.Radio(MODE_CHOICES, value="auto", label="모드", elem_id="rag-mode",
                            info="자동은 보기(A. B. …)가 있으면 시험, 서술문이면 검증, 그 밖에는 질문으로 답합니다.")
        with gr.Column(scale=2, min_width=320, elem_id="rag-sources-col"):
            gr.Markdown("#### 출처")
            panel = gr.HTML(sources_panel([]), elem_id="rag-sources", js_on_load=SCRIPT)

    def shown(conv: history.Conversation):
        return messages(conv.turns), sources_panel(conv.turns), history.to_json(conv)

    def updates(conv: history.Conversation, turns) -> Iterator[tuple]:
        """(chat, conversation, panel, store) for each (turn, final) pair: a final turn joins the conversation."""
        for turn, final in turns:
            if final:
                conv = conv.add(turn)
                chat, panel_html, stored = shown(conv)
                yield chat, conv, panel_html, stored
            else:
                yield messages((*conv.turns, turn)), conv, gr.skip(), gr.skip()

    def asked(request: Request, conv: history.Conversation, k, kind, model, session: str | None):
        """The updates for the answer to `request`: with the writer, its text as it streams, then the turn."""
        ask_options = request_options(assistant, k, kind, model)
        if not streaming:
            yield from updates(conv, [(reply(service, request, conv.turns, ask_options), True)])
            return
        key = session or ""
        stop = stop_flags[key] = threading.Event()
        try:
            yield from updates(conv, streamed_reply(service, request, conv.turns, ask_options, stop))
        finally:
            if stop_flags.get(key) is stop:
                del stop_flags[key]

    def respond(message: str, chosen_mode: str, conv: history.Conversation, k, kind, model, request: gr.Request):
        if is_empty(message):  # say so, change nothing
            gr.Warning(EMPTY_QUESTION)
            yield message, gr.skip(), conv, gr.skip(), gr.skip()
            return
        for update in asked(Request(message, chosen_mode), conv, k, kind, model, request.session_hash):
            yield "", *update

    def ask_example(chosen_mode: str, conv: history.Conversation, k, kind, model, evt: gr.SelectData,
                    request: gr.Request):
        example = evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value)
        yield from respond(example, chosen_mode, conv, k, kind, model, request)

    def reask(conv: history.Conversation, k, kind, model, evt: gr.EventData, request: gr.Request):
        data = getattr(evt, "_data", None) or {}
        turn = turn_at(conv, data.get("turn"))
        edited = str(data.get("text", ""))
        if turn is None or not edited.strip():
            gr.Warning("다시 물을 검색어가 없습니다 (nothing to search: edit the text under an answer first).")
            yield gr.skip(), conv, gr.skip(), gr.skip()
            return
        yield from asked(reask_request(turn, edited), conv, k, kind, model, request.session_hash)

    def stop_writing(request: gr.Request) -> None:
        flag = stop_flags.get(request.session_hash or "")
        if flag is not None:
            flag.set()

    def give_feedback(conv: history.Conversation, evt: gr.EventData):
        data = getattr(evt, "_data", None) or {}
        turn = turn_at(conv, data.get("turn"))
        if turn is None:
            raise gr.Error("이 답에는 피드백을 남길 수 없습니다 (no answer to rate there).")
        try:
            entry = feedback.entry_for(turn, str(data.get("rating", "")), str(data.get("comment", "")))
            path = feedback.save(assistant.settings.index_dir, entry)
        except feedback.FeedbackError as err:
            raise gr.Error(str(err)) from None
        gr.Info(f"피드백을 저장했습니다: {feedback.RATINGS[entry['rating']]} (#{turn.number}) → {path}")

    def start_new(conv: history.Conversation, stored_past):
        _, past_list, _ = history.restore(None, stored_past)
        past_list = history.archive(conv, past_list)
        fresh = history.new_conversation()
        chat, panel_html, stored = shown(fresh)
        return chat, fresh, panel_html, stored, *past_values(past_list)

    def open_past(chosen: str | None, conv: history.Conversation, stored_past):
        _, past_list, _ = history.restore(None, stored_past)
        target = next((c for c in past_list if c.id == chosen), None)
        if target is None or chosen == conv.id:  # nothing to open, or a repeated event for the one just opened
            return gr.skip(), conv, gr.skip(), gr.skip(), gr.skip(), gr.skip()
        past_list = history.archive(conv, [c for c in past_list if c.id != target.id])
        chat, panel_html, stored = shown(target)
        return chat, target, panel_html, stored, *past_values(past_list)

    quiet = {"api_visibility": "private"}
    ask_inputs = [conversation, *settings.inputs]
    event = (lambda steps: steps) if streaming else settled  # a generator streams; a plain function answers once
    for trigger in (text.submit, send.click):
        trigger(event(respond), [text, mode, *ask_inputs], [text, chatbot, conversation, panel, current_store],
                concurrency_limit=4, **quiet)
    chatbot.example_select(event(ask_example), [mode, *ask_inputs],
                           [text, chatbot, conversation, panel, current_store], concurrency_limit=4, **quiet)
    panel.submit(event(reask), ask_inputs, [chatbot, conversation, panel, current_store], concurrency_limit=4,
                 **quiet)
    halt.click(stop_writing, None, None, queue=False, **quiet)
    panel.click(give_feedback, [conversation], None, **quiet)
    switch_outputs = [chatbot, conversation, panel, current_store, past_store, past]
    new_chat.click(start_new, [conversation, past_store], switch_outputs, **quiet)
    chatbot.clear(start_new, [conversation, past_store], switch_outputs, **quiet)  # its own trash icon
    past.select(open_past, [past, conversation, past_store], switch_outputs, **quiet)

    def restore(stored_current, stored_past, conv: history.Conversation):
        stored, past_list, problem = history.restore(stored_current, stored_past)
        if conv.turns:  # a question was asked before the page finished loading: keep it, file the stored one
            kept, listing = past_values(history.archive(stored, past_list))
            return gr.skip(), gr.skip(), gr.skip(), kept, listing, problem
        chat, panel_html, _ = shown(stored)
        return chat, stored, panel_html, gr.skip(), past_values(past_list)[1], problem

    return ChatTab(restore, [current_store, past_store, conversation],
                   [chatbot, conversation, panel, past_store, past, notice])

