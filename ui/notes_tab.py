"""The notes tab: a browser over the notes (headings, search, rendered lines) and the index summary.

The rendered notes are sent when the tab is opened, and rebuilt only when a
note file or the index generation changes. A citation's "노트에서 보기"
(and a click on a source line under an answer) opens this tab at the cited
lines; the page script (`ui/assets.py`) scrolls to them and highlights them.
"""
from __future__ import annotations

import threading

import gradio as gr

from rag.notes import NotesError
from ui.notes_view import NoteSearch, read_notes, render_notes, results_html, toc_html
from ui.render import esc, literal_markdown
from ui.service import Refresh, Service


WAITING = '<p class="rag-empty">색인을 준비하는 중입니다. 준비되면 노트를 여기서 볼 수 있습니다 (indexing the notes).</p>'


class NotesBrowser:
    """The rendered notes and the search index, cached until the notes or the index change."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._key = None
        self._pages = ("", "")
        self._search: NoteSearch | None = None

    def _fresh_key(self):
        corpus = self.service.assistant.settings.corpus_dir
        files = sorted((str(p), p.stat().st_mtime_ns) for p in corpus.rglob("*.md")) if corpus.is_dir() else []
        return self.service.assistant.state.generation, tuple(files)

    def pages(self) -> tuple[str, str]:
        """(table of contents, notes) as HTML."""
        if not self.service.ready:
            return WAITING, ""
        with self._lock:
            key = self._fresh_key()
            if key != self._key:
                state = self.service.assistant.state
                try:
                    notes = read_notes(self.service.assistant.settings.corpus_dir)
                except NotesError as err:  # a note that cannot be read is named; the rest of the page works
                    return "", f'<p class="rag-empty">⚠ {esc(str(err))}</p>'
                self._pages = toc_html(notes), render_notes(notes, state.errata)
                self._search = NoteSearch(state.data)
                self._key = key
            return self._pages

    def search(self, query: str) -> str:
        if not self.service.ready:
            return WAITING
        self.pages()
        return results_html(query, self._search.search(query))


def summary_markdown(service: Service) -> str:
    if not service.ready:
        return service.notice()
    s = service.summary()
    return (f"**색인 {s.generation}** · 만든 시각 {s.built_at.replace('T', ' ')} · 모델 {', '.join(s.models)} · "
            f"청크 {s.chunks}개 · 문장 {s.sentences}개 · 기본 모델 **{service.assistant.settings.embedders[0]}**")


def file_rows(service: Service) -> list[list]:
    return [list(row) for row in service.summary().files] if service.ready else []


def build_notes_tab(service: Service) -> tuple[Refresh, Refresh]:
    """Lay out the notes tab inside the current Blocks; returns (open the browser, refresh the summary)."""
    browser = NotesBrowser(service)
    with gr.Row(equal_height=False, elem_id="rag-notes-row"):
        with gr.Column(scale=1, min_width=260, elem_id="rag-notes-nav"):
            with gr.Row(equal_height=True):
                query = gr.Textbox(show_label=False, placeholder="노트 검색 (한국어 / English)", scale=4,
                                   container=False, elem_id="rag-notes-query")
                find = gr.Button("검색", scale=1, min_width=60, elem_id="rag-notes-find")
            results = gr.HTML(elem_id="rag-notes-results", js_on_load=None)
            toc = gr.HTML(elem_id="rag-notes-toc", js_on_load=None)
        with gr.Column(scale=3, elem_id="rag-notes-main"):
            view = gr.HTML('<p class="rag-empty">노트를 불러오는 중…</p>', elem_id="rag-notes-view", js_on_load=None)
    with gr.Accordion("색인 정보 · 재색인", open=False, elem_id="rag-index-info"):
        summary = gr.Markdown(elem_id="rag-notes-summary")
        files = gr.Dataframe(headers=["노트 파일", "청크", "sha256"], datatype=["str", "number", "str"], value=[],
                             interactive=False, elem_id="rag-notes-files", label="색인된 노트")
        with gr.Row():
            reindex = gr.Button("재색인 (바뀐 노트만 다시 임베딩)", elem_id="rag-reindex", scale=0, min_width=260)
            outcome = gr.Markdown(elem_id="rag-reindex-result")

    def refresh():
        return summary_markdown(service), file_rows(service)

    def run_reindex(progress=gr.Progress(track_tqdm=True)):  # the build's tqdm bars, shown in the page
        if not service.ready:
            raise gr.Error(service.notice() or "색인을 준비하는 중입니다.")
        try:
            report = service.reindex()
        except Exception as err:  # a broken note must not take the page down
            return *refresh(), f"⚠ 재색인 실패: {literal_markdown(f'{type(err).__name__}: {err}')}", *browser.pages()
        if report is None:
            message = "✓ 노트가 바뀌지 않아 색인이 이미 최신입니다."
        else:
            message = (f"✓ {report.generation}: 청크 {report.chunks}개, 새로 임베딩 {report.embedded}개, "
                       f"재사용 {report.reused}개, {report.seconds:.1f}초")
        return *refresh(), message, *browser.pages()

    quiet = {"api_visibility": "private"}
    for event in (query.submit, find.click):
        event(browser.search, [query], [results], **quiet)
    reindex.click(run_reindex, None, [summary, files, outcome, toc, view], concurrency_limit=1, **quiet)
    return Refresh(browser.pages, [toc, view]), Refresh(refresh, [summary, files])
