"""The Gradio study page: `build_app` lays it out, `launch` serves it, `serve` is `rag serve`.

The page has five tabs (chat, quiz, notes, batch, eval) under a labelled
⚙ 설정 panel whose settings belong to each visitor. It opens at once; while
the index is built in the background a notice says so and questions are
answered politely with the same notice. `ask` is also an API endpoint
(`/ask`) for `gradio_client`, as are the batch tab (`/batch`) and the eval
run (`/evaluate`).

`serve` binds 127.0.0.1 unless told otherwise, takes basic-auth credentials
from `--auth user:pass` or the RAG_AUTH environment variable, and warns
when the page is reachable from other machines without them.
"""
from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402  (analytics must be off before the import)

from rag.engine import Assistant, QueryError  # noqa: E402
from rag.progress import Bar  # noqa: E402
from rag.settings import Settings  # noqa: E402
from ui.batch_tab import build_batch_tab  # noqa: E402
from ui.chat import build_chat_tab, too_long  # noqa: E402
from ui.eval_tab import build_eval_tab  # noqa: E402
from ui.notes_tab import build_notes_tab  # noqa: E402
from ui.quiz_tab import build_quiz_tab  # noqa: E402
from ui.service import PageProgress, Service  # noqa: E402
from ui.settings_panel import build_settings_panel, restore_settings  # noqa: E402

TITLE = "SOA 노트 학습 도우미"
FONTS = ["Noto Sans CJK KR", "Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic", "system-ui", "sans-serif"]
MONO = ["Noto Sans Mono CJK KR", "ui-monospace", "monospace"]
MAX_UPLOAD = "5mb"


def build_app(assistant: Assistant, watcher: PageProgress | None = None,
              gold_dir: Path = Path("eval/gold")) -> gr.Blocks:
    """The page for `assistant`; its index is built or refreshed in the background from here on."""
    service = Service(assistant, watcher)
    quiet = {"show_progress": "hidden", "api_visibility": "private"}
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        notice = gr.Markdown(service.notice(), elem_id="rag-notice", visible=bool(service.notice()))
        gr.Markdown(f"## {TITLE}\n노트에 있는 내용만으로 답하고, 모든 답에 출처를 붙입니다.", elem_id="rag-header")
        settings = build_settings_panel(assistant)
        with gr.Tabs(elem_id="rag-tabs"):
            with gr.Tab("채팅", id="chat", elem_id="rag-tab-chat"):
                chat = build_chat_tab(service, settings)
            with gr.Tab("퀴즈", id="quiz", elem_id="rag-tab-quiz"):
                build_quiz_tab(service, gold_dir, settings)
            with gr.Tab("노트", id="notes", elem_id="rag-tab-notes") as notes_tab:
                notes_open, notes_refresh = build_notes_tab(service)
            with gr.Tab("일괄 답변", id="batch", elem_id="rag-tab-batch"):
                build_batch_tab(service, settings)
            with gr.Tab("평가", id="eval", elem_id="rag-tab-eval") as eval_tab:
                eval_refresh, feedback_refresh = build_eval_tab(service, gold_dir)
        for tab, refresh in ((notes_tab, notes_open), (eval_tab, feedback_refresh)):
            tab.select(refresh.fn, None, refresh.outputs, **quiet)
        refreshes = [notes_refresh, eval_refresh]

        def poll():
            text = service.notice()
            return gr.Markdown(text, visible=bool(text)), gr.Timer(active=not (service.ready or service.error))

        app.load(lambda stored: restore_settings(stored, assistant), [settings.store],
                 [settings.top_k, settings.retriever, settings.embedder, settings.applied], **quiet)
        app.load(chat.restore, chat.inputs, chat.outputs, **quiet)
        timer = gr.Timer(1.0)
        for event in (app.load(poll, None, [notice, timer], **quiet), timer.tick(poll, None, [notice, timer], **quiet)):
            for refresh in refreshes:
                event = event.then(refresh.fn, None, refresh.outputs, **quiet)

        def ask(question: str, mode: str | None = "auto") -> dict:
            """Answer one question from the notes; returns the JSON of `rag ask --json`.

            The JSON is data: its text fields hold the question and the notes as written, HTML included,
            so a client that shows them in a web page must escape them.
            """
            limit = service.assistant.settings.max_query_chars
            if isinstance(question, str) and len(question) > limit:
                raise gr.Error(too_long(len(question), limit))
            if not service.answering:
                raise gr.Error(service.notice())
            try:
                return service.assistant.ask(question, mode=mode or "auto").to_json()
            except QueryError as err:  # the visitor's mistake: one log line, no traceback
                service.assistant.log(f"ui: /ask: {err}")
                raise gr.Error(str(err), print_exception=False) from None
            except Exception as err:  # a readable one-line error instead of Gradio's generic one
                service.assistant.log(f"ui: /ask failed: {type(err).__name__}: {err}")
                raise gr.Error(f"{type(err).__name__}: {err}") from None

        with gr.Column(visible=False):  # /ask's named parameters and output for gradio_client
            question_in = gr.JSON(label="question")  # JSON: a null or a number reaches `ask` as sent, to be refused
            mode_in = gr.JSON(label="mode")  # left out or null: auto
            answer_out = gr.JSON(label="answer")
            api_button = gr.Button()
        api_button.click(ask, [question_in, mode_in], [answer_out], api_name="ask", concurrency_limit=4)
    service.start()
    return app


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
           block: bool = True):
    """Serve `app`; with `block=False` return at once (tests), else until Ctrl-C."""
    return app.launch(server_name=host, server_port=port, auth=auth, prevent_thread_lock=not block,
                      max_file_size=MAX_UPLOAD, ssr_mode=False, quiet=not block,
                      theme=gr.themes.Soft(font=FONTS, font_mono=MONO))


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """`user:pass` as a pair; None for no auth. A value without both parts is an error."""
    if not text:
        return None
    user, _, password = text.partition(":")
    if not user or not password:
        raise ValueError("auth must look like user:pass (from --auth or RAG_AUTH)")
    return user, password


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None) -> int:
    """`rag serve`: open the page, building the index in the background with terminal progress."""
    try:
        credentials = parse_auth(auth or os.environ.get("RAG_AUTH"))
    except ValueError as err:
        print(f"rag: error: {err}", file=sys.stderr)
        return 2
    if credentials is None and not is_loopback(host):
        print(f"rag: warning: serving on {host} without a password; anyone on the network can use the page. "
              "Add --auth user:pass or set RAG_AUTH.", file=sys.stderr)
    watcher = PageProgress(Bar())
    app = build_app(Assistant(settings, progress=watcher), watcher)
    print(f"study page: http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/  (Ctrl-C to stop)", file=sys.stderr)
    try:
        launch(app, host, port, credentials)
    except OSError as err:
        print(f"rag: error: cannot serve on {host}:{port} ({err}); choose another --port", file=sys.stderr)
        return 1
    return 0
