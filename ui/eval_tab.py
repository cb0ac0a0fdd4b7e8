"""The eval tab: score the assistant on gold questions and show the metrics and Recall@k plot.

Gold files are chosen by name from the gold folder (the page never takes a
path) or uploaded; each run writes into a fresh temporary folder.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from ui.render import literal_markdown
from ui.service import Refresh, Service


def gold_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.jsonl")) if folder.is_dir() else []


def retriever_choices(models: tuple[str, ...]) -> list[str]:
    return ["bm25", *(f"dense:{m}" for m in models), "hybrid"]


def build_eval_tab(service: Service, gold_dir: Path) -> Refresh:
    """Lay out the eval tab inside the current Blocks and wire its events."""
    names = gold_files(gold_dir)
    gr.Markdown("정답 파일을 고르거나 직접 올린 뒤 평가를 실행하면 지표 표와 Recall@k 그래프가 나옵니다. "
                "정답 한 줄: `{\"id\": ..., \"question\": ..., \"gold_headings\": [...]}` (`rag eval`과 같은 형식).")
    with gr.Row():
        chosen = gr.Dropdown(names, value=[n for n in names if n.startswith("dev_")][:1] or names[:1],
                             multiselect=True, label="정답 파일 (eval/gold)", elem_id="rag-eval-gold", scale=2)
        upload = gr.File(label="또는 정답 파일 올리기 (.jsonl)", file_types=[".jsonl"], type="filepath",
                         elem_id="rag-eval-upload", scale=2)
    retrievers = gr.CheckboxGroup(retriever_choices(()), value=["bm25", "hybrid"], label="비교할 검색기",
                                  elem_id="rag-eval-retrievers")
    run = gr.Button("평가 실행", variant="primary", elem_id="rag-eval-run")
    problems = gr.Markdown(elem_id="rag-eval-errors")
    with gr.Row():
        summary = gr.Markdown(elem_id="rag-eval-summary")
        plot = gr.Image(label="Recall@k", type="filepath", interactive=False, elem_id="rag-eval-plot")

    def evaluate_files(names_chosen: list[str], uploaded: str | None, specs: list[str], progress=gr.Progress()):
        try:
            from rag.evaluate import evaluate
        except ImportError as err:
            raise gr.Error(f"평가 모듈을 아직 쓸 수 없습니다 ({err}).") from None
        if not service.ready:
            raise gr.Error(service.notice() or "색인을 준비하는 중입니다.")
        allowed = set(gold_files(gold_dir))
        paths = [gold_dir / n for n in names_chosen or [] if n in allowed]
        if uploaded:
            paths.append(Path(uploaded))
        if not paths:
            raise gr.Error("정답 파일을 하나 이상 고르거나 올려 주세요.")
        if not specs:
            raise gr.Error("비교할 검색기를 하나 이상 고르세요.")

        def report(done: int, total: int, label: str) -> None:
            progress((done, total), desc=label)

        result = evaluate(paths, service.assistant, list(specs), Path(tempfile.mkdtemp(prefix="rag-eval-")), report)
        errors = "\n".join(f"- {literal_markdown(e)}" for e in result.errors)
        problems_text = f"**형식이 잘못된 정답 줄 {len(result.errors)}개:**\n{errors}" if errors else ""
        image = str(result.plot_path) if result.plot_path.exists() else None
        return result.summary_markdown, image, problems_text

    def refresh_choices():
        choices = retriever_choices(service.indexed_models())
        return gr.CheckboxGroup(choices=choices, value=list(dict.fromkeys([choices[0], *choices[1:2], choices[-1]])))

    run.click(evaluate_files, [chosen, upload, retrievers], [summary, plot, problems], api_name="evaluate",
              concurrency_limit=1)
    return Refresh(refresh_choices, [retrievers])
