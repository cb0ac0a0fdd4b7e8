"""The eval tab: score the assistant on gold questions, and review the answers' feedback.

Gold files are chosen by name from the gold folder (the page never takes a
path) or uploaded; each run writes into a fresh temporary folder, and
errors name the uploaded file, not its temporary copy. Every metric has a
one-line Korean explanation. The feedback section lists what visitors said
about answers (`ui/feedback.py`) and exports the entries as draft gold
items for a person to complete.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from ui import feedback
from ui.render import code_span, literal_markdown
from ui.service import Refresh, Service

METRICS = {
    "recall@k": "정답 섹션이 검색 상위 k개 안에 든 문항의 비율",
    "mrr@10": "정답 섹션이 처음 나온 순위의 역수 평균 (1이면 늘 1위)",
    "ndcg@10": "순위까지 따진 검색 품질 (1이 완벽)",
    "abstention_recall": "노트에 없는 질문에 '노트에 없음'이라고 답한 비율",
    "false_abstention": "노트에 있는 질문인데 답하지 않은 비율 (낮을수록 좋음)",
    "citation_validity": "답의 인용 번호가 모두 실제 출처를 가리키는 비율",
    "citation_precision": "인용한 출처 가운데 정답 섹션인 비율",
    "format_compliance": "제목·주제·TL;DR·출처 형식을 지킨 답의 비율",
    "key_term_coverage": "정답의 핵심 용어가 답에 나온 비율",
    "mcq_accuracy": "객관식 문제의 정답률",
    "verify_accuracy": "문장 검증(맞음/틀림) 판정의 정확도",
    "strike_hit_rate": "틀린 부분에 정확히 취소선을 그은 비율",
    "latency_*_ms": "답 하나에 걸린 시간 (p50 중앙값, p95), 밀리초",
}
FEEDBACK_COLUMNS = ["시각", "평가", "모드", "질문", "고른 답", "의견"]


def gold_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.jsonl")) if folder.is_dir() else []


def retriever_choices(models: tuple[str, ...]) -> list[str]:
    return ["bm25", *(f"dense:{m}" for m in models), "hybrid"]


def metrics_markdown() -> str:
    return "\n".join(f"- **{name}**: {meaning}" for name, meaning in METRICS.items())


def name_files(messages: list[str], paths: list[Path]) -> list[str]:
    """`messages` with each file's path (an upload's temporary copy included) replaced by its name."""
    for path in paths:
        messages = [m.replace(str(path), path.name) for m in messages]
    return messages


def build_eval_tab(service: Service, gold_dir: Path) -> tuple[Refresh, Refresh]:
    """Lay out the eval tab inside the current Blocks; returns (retriever choices, feedback list) refreshes."""
    names = gold_files(gold_dir)
    gr.Markdown("정답 파일을 고르거나 직접 올린 뒤 평가를 실행하면 지표 표와 Recall@k 그래프가 나옵니다. "
                "정답 한 줄: `{\"id\": ..., \"question\": ..., \"gold_headings\": [...]}` (`rag eval`과 같은 형식).")
    with gr.Row():
        chosen = gr.Dropdown(names, value=[n for n in names if n.startswith("dev_")][:1] or names[:1],
                             multiselect=True, label="정답 파일 (eval/gold)", elem_id="rag-eval-gold", scale=2)
        upload = gr.File(label="또는 정답 파일 올리기 (.jsonl)", file_types=[".jsonl"], type="filepath",
                         elem_id="rag-eval-upload", scale=2)
    choices = retriever_choices(tuple(service.assistant.embedders))
    retrievers = gr.CheckboxGroup(choices, value=default_retrievers(choices), label="비교할 검색기",
                                  elem_id="rag-eval-retrievers")
    run = gr.Button("평가 실행", variant="primary", elem_id="rag-eval-run")
    with gr.Accordion("지표 설명", open=False, elem_id="rag-eval-help"):
        gr.Markdown(metrics_markdown())
    problems = gr.Markdown(label="형식 오류", elem_id="rag-eval-errors")
    with gr.Row():
        summary = gr.Markdown(label="지표 요약", elem_id="rag-eval-summary")
        plot = gr.Image(label="Recall@k 그래프", type="filepath", interactive=False, elem_id="rag-eval-plot")
    feedback_refresh = build_feedback_section(service)

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
            raise gr.Error("정답 파일을 하나 이상 고르거나 올려 주세요 (choose or upload a gold file).")
        if not specs:
            raise gr.Error("비교할 검색기를 하나 이상 고르세요 (pick at least one retriever).")

        def report(done: int, total: int, label: str) -> None:
            progress((done, total), desc=label)

        result = evaluate(paths, service.assistant, list(specs), Path(tempfile.mkdtemp(prefix="rag-eval-")), report)
        shown = name_files(result.errors, paths)
        errors = "\n".join(f"- {literal_markdown(e)}" for e in shown)
        problems_text = f"**형식이 잘못된 정답 줄 {len(result.errors)}개:**\n{errors}" if errors else ""
        image = str(result.plot_path) if result.plot_path.exists() else None
        return result.summary_markdown, image, problems_text

    def refresh_choices():
        indexed = retriever_choices(service.indexed_models())
        return gr.CheckboxGroup(choices=indexed, value=default_retrievers(indexed))

    run.click(evaluate_files, [chosen, upload, retrievers], [summary, plot, problems], api_name="evaluate",
              concurrency_limit=1)
    return Refresh(refresh_choices, [retrievers]), feedback_refresh


def default_retrievers(choices: list[str]) -> list[str]:
    """BM25, the first dense model and hybrid: the baselines side by side."""
    return list(dict.fromkeys([choices[0], *choices[1:2], choices[-1]]))


def build_feedback_section(service: Service) -> Refresh:
    """The list of answer feedback and its export as draft gold items."""
    folder = service.assistant.settings.index_dir
    gr.Markdown("### 답변 피드백\n채팅에서 남긴 **도움됐어요 / 틀렸어요**와 의견입니다 "
                f"({code_span(str(folder / feedback.FEEDBACK_FILE))}, 이 컴퓨터에만 저장). "
                "내보내면 정답 파일 형식의 **초안**이 되어, 사람이 빈 필드를 채우고 검토한 뒤 정답 파일에 옮길 수 있습니다.")
    with gr.Row():
        reload = gr.Button("피드백 새로 고침", size="sm", elem_id="rag-feedback-reload", scale=0, min_width=150)
        export = gr.Button("초안 정답 항목으로 내보내기", size="sm", elem_id="rag-feedback-export", scale=0, min_width=200)
    listing = gr.Dataframe(headers=FEEDBACK_COLUMNS, datatype=["str"] * len(FEEDBACK_COLUMNS), value=[],
                           interactive=False, wrap=True, label="피드백 목록", elem_id="rag-feedback-table")
    status = gr.Markdown(elem_id="rag-feedback-status")
    drafts = gr.File(label="초안 정답 항목 (draft-gold.jsonl)", interactive=False, elem_id="rag-feedback-drafts")

    def entries():
        found, errors = feedback.load(folder)
        problems = "".join(f"\n- {literal_markdown(e)}" for e in errors)
        return found, (f"피드백 {len(found)}개." + (f" 읽지 못한 줄:{problems}" if errors else ""))

    def show():
        found, text = entries()
        return feedback.table_rows(found), text

    def export_drafts():
        found, text = entries()
        if not found:
            raise gr.Error("내보낼 피드백이 없습니다 (no feedback yet: rate an answer in the chat first).")
        path = feedback.export_drafts(found, Path(tempfile.mkdtemp(prefix="rag-feedback-")) / "draft-gold.jsonl")
        return feedback.table_rows(found), f"{text} 초안 {len(found)}개를 만들었습니다.", str(path)

    quiet = {"api_visibility": "private"}
    reload.click(show, None, [listing, status], **quiet)
    export.click(export_drafts, None, [listing, status, drafts], **quiet)
    return Refresh(show, [listing, status])
