"""The ⚙ 설정 panel: this visitor's top-k, retriever and embedder, remembered in their browser.

Settings belong to one visitor: they live in the browser's local storage and
travel with each question (`Prefs.ask_options`), so one visitor's choice
never changes another's answers and the assistant's own settings are never
touched. The embedder is chosen among the models the index already holds;
a stored choice the index no longer has falls back to the default.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from rag.engine import Assistant
from rag.settings import Settings

RETRIEVERS = [("하이브리드 (dense + BM25)", "hybrid"), ("dense", "dense"), ("BM25", "bm25")]
RETRIEVER_NAMES = dict((value, label) for label, value in RETRIEVERS)
STORAGE_SECRET = "soa-rag-study-page"  # local storage on the visitor's own machine; nothing secret is kept
TOP_K_RANGE = (1, 30)


@dataclass(frozen=True)
class Prefs:
    """One visitor's search settings."""

    top_k: int
    retriever: str
    embedder: str

    def to_json(self) -> dict:
        return {"top_k": self.top_k, "retriever": self.retriever, "embedder": self.embedder}

    def ask_options(self, settings: Settings) -> dict:
        """`Assistant.ask` keywords for the settings that differ from the assistant's defaults."""
        return {"kind": None if self.retriever == settings.retriever else self.retriever,
                "top_k": None if self.top_k == settings.top_k else self.top_k,
                "embedder": None if self.embedder == settings.embedders[0] else self.embedder}

    def describe(self) -> str:
        return f"top-k {self.top_k} · {RETRIEVER_NAMES[self.retriever]} · {self.embedder}"


def default_prefs(assistant: Assistant) -> Prefs:
    settings = assistant.settings
    return Prefs(settings.top_k, settings.retriever, settings.embedders[0])


def prefs_from(stored, assistant: Assistant) -> Prefs:
    """Settings read from the browser (or the controls); anything unusable takes the default."""
    default = default_prefs(assistant)
    stored = stored if isinstance(stored, dict) else {}
    try:
        top_k = int(stored.get("top_k", default.top_k))
    except (TypeError, ValueError):
        top_k = default.top_k
    if not TOP_K_RANGE[0] <= top_k <= TOP_K_RANGE[1]:
        top_k = default.top_k
    retriever = stored.get("retriever") if stored.get("retriever") in RETRIEVER_NAMES else default.retriever
    embedder = stored.get("embedder") if stored.get("embedder") in assistant.embedders else default.embedder
    return Prefs(top_k, retriever, embedder)


def request_options(assistant: Assistant, top_k, retriever, embedder) -> dict:
    """`Assistant.ask` keywords for one request, from the visitor's controls."""
    prefs = prefs_from({"top_k": top_k, "retriever": retriever, "embedder": embedder}, assistant)
    return prefs.ask_options(assistant.settings)


@dataclass(frozen=True)
class SettingsControls:
    """The panel's components; `inputs` go into every event that asks the assistant."""

    top_k: gr.Slider
    retriever: gr.Radio
    embedder: gr.Dropdown
    applied: gr.Markdown
    store: gr.BrowserState

    @property
    def inputs(self) -> list:
        return [self.top_k, self.retriever, self.embedder]


def applied_text(prefs: Prefs) -> str:
    return f"적용됨 (이 브라우저): {prefs.describe()}"


def build_settings_panel(assistant: Assistant) -> SettingsControls:
    """Lay out the panel inside the current Blocks and wire saving; the app restores it on load."""
    default = default_prefs(assistant)
    models = list(assistant.embedders)
    with gr.Accordion("⚙ 설정", open=False, elem_id="rag-settings"):
        gr.Markdown("검색 설정은 **이 브라우저에만** 적용되고 기억됩니다. 다른 방문자의 답에는 영향이 없습니다 "
                    "(settings apply to this browser only).", elem_classes="rag-hint")
        with gr.Row():
            top_k = gr.Slider(*TOP_K_RANGE, step=1, value=default.top_k, label="top-k (가져올 노트 조각 수)",
                              elem_id="rag-top-k")
            retriever = gr.Radio(RETRIEVERS, value=default.retriever, label="검색기", elem_id="rag-retriever")
            embedder = gr.Dropdown(models, value=default.embedder, label="임베딩 모델 (색인된 모델)",
                                   interactive=len(models) > 1, elem_id="rag-embedder")
        applied = gr.Markdown(applied_text(default), elem_id="rag-applied")
    store = gr.BrowserState(default.to_json(), storage_key="soa-rag-settings-v1", secret=STORAGE_SECRET)

    def save(k: int, kind: str, model: str):
        prefs = prefs_from({"top_k": k, "retriever": kind, "embedder": model}, assistant)
        return prefs.to_json(), applied_text(prefs)

    for change in (top_k.release, top_k.input, retriever.input, embedder.input):
        change(save, [top_k, retriever, embedder], [store, applied], api_visibility="private", queue=False)
    return SettingsControls(top_k, retriever, embedder, applied, store)


def restore_settings(stored, assistant: Assistant):
    """Values for (top_k, retriever, embedder, applied) from what the browser remembered."""
    prefs = prefs_from(stored, assistant)
    return prefs.top_k, prefs.retriever, prefs.embedder, applied_text(prefs)
