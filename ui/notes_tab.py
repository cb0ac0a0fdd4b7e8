"""The notes tab: which notes are indexed, when, with which model, and a re-index button."""
from __future__ import annotations

import gradio as gr

from ui.render import literal_markdown
from ui.service import Refresh, Service


def summary_markdown(service: Service) -> str:
    if not service.ready:
        return service.notice()
    s = service.summary()
    return (f"**색인 {s.generation}** · 만든 시각 {s.built_at.replace('T', ' ')} · 모델 {', '.join(s.models)} · "
            f"청크 {s.chunks}개 · 문장 {s.sentences}개 · 지금 답하는 모델 **{service.assistant.settings.embedders[0]}**")


def file_rows(service: Service) -> list[list]:
    return [list(row) for row in service.summary().files] if service.ready else []


def build_notes_tab(service: Service) -> Refresh:
    """Lay out the notes tab inside the current Blocks and wire its events."""
    summary = gr.Markdown(elem_id="rag-notes-summary")
    files = gr.Dataframe(headers=["노트 파일", "청크", "sha256"], datatype=["str", "number", "str"], value=[],
                         interactive=False, elem_id="rag-notes-files", label="색인된 노트")
    with gr.Row():
        reindex = gr.Button("재색인 (바뀐 노트만 다시 임베딩)", elem_id="rag-reindex", scale=0, min_width=260)
        outcome = gr.Markdown(elem_id="rag-reindex-result")

    def refresh():
        return summary_markdown(service), file_rows(service)

    def run_reindex():
        if not service.ready:
            raise gr.Error(service.notice() or "색인을 준비하는 중입니다.")
        try:
            report = service.reindex()
        except Exception as err:  # a broken note must not take the page down
            return *refresh(), f"⚠ 재색인 실패: {literal_markdown(f'{type(err).__name__}: {err}')}"
        if report is None:
            message = "✓ 노트가 바뀌지 않아 색인이 이미 최신입니다."
        else:
            message = (f"✓ {report.generation}: 청크 {report.chunks}개, 새로 임베딩 {report.embedded}개, "
                       f"재사용 {report.reused}개, {report.seconds:.1f}초")
        return *refresh(), message

    reindex.click(run_reindex, None, [summary, files, outcome], api_visibility="private", concurrency_limit=1)
    return Refresh(refresh, [summary, files])
