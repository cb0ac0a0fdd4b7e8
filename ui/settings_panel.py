"""The settings sidebar: top-k, retriever and embedder, applied without a restart.

Top-k and the retriever take effect on the next question. An embedder whose
vectors the index already holds is switched to at once; one it lacks needs
the notes embedded first, which the panel says before offering the button.
"""
from __future__ import annotations

import gradio as gr

from rag.embed import available_embedders
from ui.service import Refresh, Service

RETRIEVERS = [("하이브리드 (dense + BM25)", "hybrid"), ("dense", "dense"), ("BM25", "bm25")]


def build_settings_panel(service: Service, others: list[Refresh]) -> Refresh:
    """Lay out the sidebar; a model switch redraws `others`. Returns the sidebar's own refresh."""
    settings = service.assistant.settings
    models = list(dict.fromkeys([settings.embedders[0], *available_embedders()]))
    with gr.Sidebar(label="설정", open=False, elem_id="rag-settings"):
        gr.Markdown("### 검색 설정\n모든 탭에 바로 적용됩니다 (재시작 필요 없음).")
        top_k = gr.Slider(1, 30, step=1, value=settings.top_k, label="top-k (가져올 노트 조각 수)", elem_id="rag-top-k")
        retriever = gr.Radio(RETRIEVERS, value=settings.retriever, label="검색기", elem_id="rag-retriever")
        applied = gr.Markdown(elem_id="rag-applied")
        embedder = gr.Dropdown(models, value=settings.embedders[0], label="임베딩 모델", visible=len(models) > 1,
                               elem_id="rag-embedder")
        note = gr.Markdown(elem_id="rag-embedder-note")
        switch = gr.Button("재색인하고 전환", visible=False, variant="primary", elem_id="rag-switch")

    def configure(k: int, kind: str) -> str:
        return service.configure(k, kind)

    def choose(model: str):
        if model == service.assistant.settings.embedders[0]:
            return "", gr.Button(visible=False)
        if not service.ready:
            return "색인이 준비된 뒤에 모델을 바꿀 수 있습니다.", gr.Button(visible=False)
        if service.needs_reindex(model):
            size = service.summary()
            return (f"⚠ 색인에 **{model}** 벡터가 없습니다. 이 모델로 바꾸려면 노트를 다시 임베딩해야 합니다 "
                    f"(청크 {size.chunks}개 + 문장 {size.sentences}개, 몇 분 걸릴 수 있음). "
                    "그동안은 지금 모델로 계속 답합니다."), gr.Button(visible=True)
        service.switch_embedder(model)
        return f"✓ **{model}**(으)로 바꿨습니다 (이미 색인되어 있음).", gr.Button(visible=False)

    def switch_now(model: str, progress=gr.Progress(track_tqdm=True)):
        progress(0, desc=f"{model}로 임베딩하는 중")
        report = service.switch_embedder(model)
        done = f", 새로 임베딩 {report.embedded}개, {report.seconds:.1f}초" if report else ""
        return f"✓ **{model}**(으)로 바꿨습니다{done}.", gr.Button(visible=False)

    def current():
        now = service.assistant.settings
        return now.top_k, now.retriever, now.embedders[0]

    for control in (top_k.release, retriever.input):
        control(configure, [top_k, retriever], [applied], api_visibility="private")
    for event in (embedder.select(choose, [embedder], [note, switch], api_visibility="private", concurrency_limit=1),
                  switch.click(switch_now, [embedder], [note, switch], api_visibility="private", concurrency_limit=1)):
        for other in others:
            event = event.then(other.fn, None, other.outputs, api_visibility="private")
    return Refresh(current, [top_k, retriever, embedder])
