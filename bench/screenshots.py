"""Refresh the study page's screenshots in docs/screenshots/ and time answers as the page shows them.

    python bench/screenshots.py [--index DIR] [--out docs/screenshots]

Serves the page over corpus/ with the default settings (the index is a
temporary copy of DIR, default ./index, so the feedback the script leaves
never reaches your own index folder; a missing index is built there), then
drives Debian's Chromium at desktop size (1400 × 1000) and phone size
(390 × 844) through each feature and saves one PNG per view. Answer times
are measured in the page, from pressing Enter to the answer's last line
being drawn, and written to bench/results/page-answer-times.json. Last, a
second page over an empty index folder shows the first start: the notice
with the build's progress and an answer from BM25 alone ("first-start").
The browser tests never write screenshots; this script is the only thing
that does.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "bench"), str(REPO), str(REPO / "tests")]

from common import machine  # noqa: E402
from page_driver import BOT, answer_seconds, ask, chromium, open_page, open_tab, serve  # noqa: E402
from rag.engine import Assistant  # noqa: E402
from rag.settings import load_settings  # noqa: E402
from ui.service import PageProgress  # noqa: E402

QUESTIONS = {  # what the answer-time run asks, by the mode the page answers in
    "qa": ["How many instances per AZ can a spread placement group have?", "클러스터 배치 그룹과 분산 배치 그룹의 차이는?",
           "What happens when an instance goes from pending straight to terminated?",
           "Elastic IP는 리전당 몇 개까지 가질 수 있나요?", "스팟 인스턴스는 어떻게 종료돼?", "What is an EC2 Savings Plan?"],
    "exam": ["Which placement group keeps instances on distinct racks?\nA. Cluster\nB. Spread\nC. Partition\nD. Dedicated Host",
             "Which purchasing option gives the deepest discount for interruptible work?\nA. On-Demand\nB. Reserved Instances\n"
             "C. Spot Instances\nD. Dedicated Hosts"],
    "verify": ["분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다.", "A spread placement group is limited to 10 instances per AZ."],
}
EXAM = QUESTIONS["exam"][0]


HIDE_TOASTS = ".toast-wrap { display: none !important; }"


def top_of_last_answer(page) -> None:
    page.locator(BOT).last.evaluate("el => el.scrollIntoView({block: 'start'})")


def shoot(page, out: Path, name: str, full_page: bool = False) -> None:
    page.add_style_tag(content=HIDE_TOASTS)
    page.wait_for_timeout(400)
    page.screenshot(path=out / f"{name}.png", full_page=full_page)
    print(f"  {name}.png", flush=True)


def desktop(browser, url: str, out: Path) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {mode: [] for mode in QUESTIONS}
    page = open_page(browser, url)
    for mode, questions in QUESTIONS.items():
        for text in questions:
            times[mode].append(answer_seconds(page, text))
    page.context.close()

    page = open_page(browser, url)
    ask(page, QUESTIONS["qa"][0])
    ask(page, "그럼 파티션 배치 그룹은?")
    cites = page.locator(BOT).last.locator("button.rag-cite:not(.rag-cite-src)")
    cites.first.click()
    page.wait_for_timeout(800)  # let the chat settle, or the hover ends as the answer scrolls
    cites.nth(1).hover()
    shoot(page, out, "chat")
    bar = page.locator("#rag-chat .rag-fb").last
    bar.get_by_role("button", name="틀렸어요").click()
    bar.locator("textarea").fill("파티션 개수 제한도 같이 나오면 좋겠어요")
    page.locator("#rag-chat .rag-retrieval input").last.scroll_into_view_if_needed()
    shoot(page, out, "feedback")
    bar.get_by_role("button", name="보내기").click()
    page.locator("#rag-new-chat").click()
    page.wait_for_function(f"document.querySelectorAll('{BOT}').length === 0")
    ask(page, EXAM)
    top_of_last_answer(page)
    shoot(page, out, "exam")
    page.locator("#rag-mode").get_by_text("검증", exact=True).click()
    ask(page, "A spread placement group is limited to 10 instances per AZ. The deregistration delay defaults to 300 seconds. "
             "Amazon Aurora keeps six copies of data.")
    top_of_last_answer(page)
    shoot(page, out, "verify")
    page.reload()
    page.wait_for_selector(BOT)
    page.locator("#rag-past input").click()
    shoot(page, out, "history")
    page.keyboard.press("Escape")
    page.locator("#rag-settings").get_by_text("⚙ 설정").click()
    page.locator("#rag-retriever").get_by_text("BM25", exact=True).click()
    shoot(page, out, "settings")
    page.locator("#rag-settings").get_by_text("⚙ 설정").click()

    page.locator(f"{BOT} button.rag-cite-src").first.click()
    page.locator("#rag-notes-view .rag-note-hit").first.wait_for()
    page.fill("#rag-notes-query textarea", "spread placement group 제한")
    page.locator("#rag-notes-find").click()
    page.locator("#rag-notes-results .rag-results").wait_for()
    shoot(page, out, "notes")

    open_tab(page, "퀴즈")
    page.locator("#rag-quiz-load").click()
    page.locator("#rag-quiz-question h3").wait_for()
    page.locator("#rag-quiz-options label").nth(1).click()
    page.locator("#rag-quiz-check").click()
    page.locator("#rag-quiz-result h3").wait_for(timeout=60000)
    shoot(page, out, "quiz", full_page=True)

    questions = Path(tempfile.mkdtemp()) / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"id": "q1", "question": QUESTIONS["qa"][0]}, {"id": "q2", "question": QUESTIONS["qa"][1]},
        {"id": "q3", "question": "Which placement group keeps instances on distinct racks?",
         "options": {"A": "Cluster", "B": "Spread", "C": "Partition", "D": "Dedicated Host"}},
        {"id": "q4", "statement": "분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다."}]) + '\n{"id": "q5", "question": \n',
        encoding="utf-8")
    open_tab(page, "일괄 답변")
    page.locator("#rag-batch-file input[type=file]").set_input_files(str(questions))
    page.locator("#rag-batch-run").click()
    page.locator("#rag-batch-downloads a[href$='/study-sheet.md']").wait_for(timeout=120000)
    shoot(page, out, "batch")

    open_tab(page, "평가")
    gold = page.locator("#rag-eval-gold")
    gold.get_by_role("button", name="Remove").first.click()  # a small set, so the run takes seconds
    gold.locator("input").click()
    page.get_by_role("option", name="dev_open_ko.jsonl").click()
    page.keyboard.press("Escape")
    page.locator("#rag-eval-help").get_by_text("지표 설명").click()
    page.locator("#rag-eval-run").click()
    page.locator("#rag-eval-summary table").first.wait_for(timeout=600000)
    shoot(page, out, "eval", full_page=True)
    page.context.close()
    return times


def phone(browser, url: str, out: Path) -> None:
    page = open_page(browser, url, phone=True)
    page.wait_for_timeout(500)
    shoot(page, out, "phone-home")
    reply = ask(page, QUESTIONS["qa"][0])
    cite = reply.locator("button.rag-cite:not(.rag-cite-src)").nth(1)
    cite.scroll_into_view_if_needed()
    cite.click()
    page.locator("#rag-sheet").wait_for()
    shoot(page, out, "phone-sheet")
    page.context.close()


def first_start(browser, out: Path) -> None:
    """A fresh page over an empty index folder: the build's notice and a BM25-only answer while it runs.

    The build is held at its first embedding step until both views are taken, then released.
    """
    release = threading.Event()

    def hold(done: int, total: int, label: str) -> None:
        if label.startswith("embedding"):
            release.wait(300)

    watcher = PageProgress(hold)
    with tempfile.TemporaryDirectory(prefix="rag-first-") as folder:
        settings = load_settings().with_overrides(corpus_dir=REPO / "corpus", index_dir=Path(folder) / "index")
        try:
            with serve(Assistant(settings, progress=watcher), REPO / "eval" / "gold", QUESTIONS["qa"][0],
                       watcher=watcher) as (url, _):
                page = open_page(browser, url)
                ask(page, QUESTIONS["qa"][1])
                page.locator(BOT).last.get_by_text("빠른 검색 (색인 중)").first.wait_for()
                shoot(page, out, "first-start")
                page.context.close()
        finally:
            release.set()


def summary(times: dict[str, list[float]]) -> dict:
    return {mode: {"n": len(v), "median_s": round(statistics.median(v), 3), "max_s": round(max(v), 3)}
            for mode, v in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=REPO / "index", help="index to copy (built when missing)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rag-shots-"))
    if args.index.is_dir():
        shutil.copytree(args.index, work / "index", symlinks=True)
    settings = load_settings().with_overrides(corpus_dir=REPO / "corpus", index_dir=work / "index")
    args.out.mkdir(parents=True, exist_ok=True)
    assistant = Assistant(settings)
    assistant.ensure_index()  # built before serving: the page's views are of the built index
    with serve(assistant, REPO / "eval" / "gold", QUESTIONS["qa"][0], timeout=900) as (url, _), chromium() as browser:
        print(f"page at {url}; screenshots to {args.out}", flush=True)
        times = desktop(browser, url, args.out)
        phone(browser, url, args.out)
        first_start(browser, args.out)
    result = {"answer_seconds_in_page": summary(times), "raw": times, "machine": machine()}
    results = REPO / "bench" / "results" / "page-answer-times.json"
    results.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("\n| mode | answers | median (s) | max (s) |\n|---|---|---|---|")
    for mode, row in result["answer_seconds_in_page"].items():
        print(f"| {mode} | {row['n']} | {row['median_s']:.2f} | {row['max_s']:.2f} |")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
