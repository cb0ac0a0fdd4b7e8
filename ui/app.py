"""The Gradio study page: `build_app` lays it out, `launch` serves it, `serve` is `rag serve`.

The page has four tabs (chat, batch, eval, notes) and a settings sidebar.
It opens at once; while the index is built in the background a notice says
so and questions are answered politely with the same notice. `ask` is also
an API endpoint (`/ask`) for `gradio_client`, as is the batch tab (`/batch`).

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
from ui.chat import MAX_MESSAGE_CHARS, build_chat_tab, too_long  # noqa: E402
from ui.eval_tab import build_eval_tab  # noqa: E402
from ui.notes_tab import build_notes_tab  # noqa: E402
from ui.service import PageProgress, Service  # noqa: E402
from ui.settings_panel import build_settings_panel  # noqa: E402

TITLE = "SOA 노트 학습 도우미"
FONTS = ["Noto Sans CJK KR", "Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic", "system-ui", "sans-serif"]
MONO = ["Noto Sans Mono CJK KR", "ui-monospace", "monospace"]
MAX_UPLOAD = "5mb"


def build_app(assistant: Assistant, watcher: PageProgress | None = None,
              gold_dir: Path = Path("eval/gold")) -> gr.Blocks:
    """The page for `assistant`; its index is built or refreshed in the background from here on."""
    service = Service(assistant, watcher)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        notice = gr.Markdown(service.notice(), elem_id="rag-notice", visible=bool(service.notice()))
        gr.Markdown(f"## {TITLE}\n노트에 있는 내용만으로 답하고, 모든 답에 출처를 붙입니다. "
                    "설정은 왼쪽 사이드바에 있습니다.")
        with gr.Tabs():
            with gr.Tab("채팅", id="chat", elem_id="rag-tab-chat"):
                build_chat_tab(service)
            with gr.Tab("일괄 답변", id="batch", elem_id="rag-tab-batch"):
                build_batch_tab(service)
            with gr.Tab("평가", id="eval", elem_id="rag-tab-eval"):
                eval_refresh = build_eval_tab(service, gold_dir)
            with gr.Tab("노트", id="notes", elem_id="rag-tab-notes"):
                notes_refresh = build_notes_tab(service)
        settings_refresh = build_settings_panel(service, [notes_refresh, eval_refresh])
        refreshes = [notes_refresh, eval_refresh, settings_refresh]

        def poll():
            text = service.notice()
            return gr.Markdown(text, visible=bool(text)), gr.Timer(active=not (service.ready or service.error))

        timer = gr.Timer(1.0)
        quiet = {"show_progress": "hidden", "api_visibility": "private"}
        for event in (app.load(poll, None, [notice, timer], **quiet), timer.tick(poll, None, [notice, timer], **quiet)):
            for refresh in refreshes:
                event = event.then(refresh.fn, None, refresh.outputs, **quiet)

        def ask(question: str, mode: str = "auto") -> dict:
            """Answer one question from the notes; returns the JSON of `rag ask --json`.

            The JSON is data: its text fields hold the question and the notes as written, HTML included,
            so a client that shows them in a web page must escape them.
            """
            if isinstance(question, str) and len(question) > MAX_MESSAGE_CHARS:
                raise gr.Error(too_long(len(question)))
            if not service.ready:
                raise gr.Error(service.notice())
            try:
                return service.assistant.ask(question, mode=mode).to_json()
            except QueryError as err:  # the visitor's mistake: one log line, no traceback
                service.assistant.log(f"ui: /ask: {err}")
                raise gr.Error(str(err), print_exception=False) from None
            except Exception as err:  # a readable one-line error instead of Gradio's generic one
                service.assistant.log(f"ui: /ask failed: {type(err).__name__}: {err}")
                raise gr.Error(f"{type(err).__name__}: {err}") from None

        gr.api(ask, api_name="ask", concurrency_limit=4)
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
