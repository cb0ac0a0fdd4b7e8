"""The study page in a real browser: a live server on a free port, `gradio_client` and Playwright.

The server runs inside the test session over the fixture notes with the real
e5 model. Chromium is Debian's (`/usr/bin/chromium`); `playwright install`
cannot download browsers here. Screenshots go to tests/artifacts/screenshots/
and are copied to docs/screenshots/ for the README.
"""
from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest

from rag.types import Chunk

pytestmark = [
    pytest.mark.browser,
    # pandas 3 deprecations raised inside Gradio's queue, not in this project
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
HERE = Path(__file__).parent
SHOTS = HERE / "artifacts" / "screenshots"
DOCS_SHOTS = HERE.parent / "docs" / "screenshots"
SPREAD_Q = "How many instances per AZ can a spread placement group have?"
NLB_Q = "NLB는 AZ 당 몇 개의 고정 IP를 가지나요?"
CITED_LINE = "이는 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다."
BOT = "#rag-chat [data-testid=bot]"
USER = "#rag-chat [data-testid=user]"
GOLD = [
    {"id": "fx-en-1", "question": SPREAD_Q, "gold_headings": ["Spread Placement Group (분산 배치 그룹)"]},
    {"id": "fx-ko-1", "question": NLB_Q, "gold_headings": ["Network Load Balancer (NLB)"]},
    {"id": "fx-oos-1", "question": "What is the maximum number of Aurora Replicas in a cluster?"},
]
BATCH = "\n".join([
    json.dumps({"id": "q1", "question": SPREAD_Q}),
    '{"id": "q2", "question": ',
    json.dumps({"id": "q3", "question": NLB_Q}, ensure_ascii=False),
]) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shoot(page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=full_page)
    shutil.copyfile(SHOTS / f"{name}.png", DOCS_SHOTS / f"{name}.png")


@pytest.fixture(scope="module")
def server(e5_assistant, tmp_path_factory):
    from gradio_client import Client

    from ui.app import build_app, launch

    original = e5_assistant.settings
    gold_dir = tmp_path_factory.mktemp("gold")
    (gold_dir / "dev_fixture.jsonl").write_text(
        "".join(json.dumps(g, ensure_ascii=False) + "\n" for g in GOLD), encoding="utf-8")
    app = build_app(e5_assistant, gold_dir=gold_dir)
    port = free_port()
    launch(app, port=port, block=False)
    url = f"http://127.0.0.1:{port}/"
    client = Client(url, verbose=False)
    deadline = time.monotonic() + 60
    while True:  # the page answers once its background index check is done
        try:
            client.predict(SPREAD_Q, "auto", api_name="/ask")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    yield url, client
    app.close()
    e5_assistant.settings = original


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    tab.goto(server[0])
    tab.wait_for_selector("#rag-input textarea")
    yield tab
    context.close()


def ask(page, text: str, wait: bool = True):
    """Type `text`, press Enter, and return the locator of the reply."""
    before = page.locator(BOT).count()
    page.fill("#rag-input textarea", text)
    page.locator("#rag-input textarea").press("Enter")
    if wait:
        page.wait_for_function(f"document.querySelectorAll('{BOT}').length > {before}", timeout=30000)
    return page.locator(BOT).nth(before)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


# ---- the API, through gradio_client -------------------------------------------------------

def test_api_ask_returns_the_cli_json(server):
    _, client = server
    result = client.predict(SPREAD_Q, "auto", api_name="/ask")
    assert result["mode"] == "qa"
    assert "7개" in result["answer_markdown"]
    assert result["citations"] and result["citations"][0]["source"] == "aws.md"


def test_api_batch_answers_good_lines_and_lists_the_bad_one(server, tmp_path):
    from gradio_client import handle_file

    _, client = server
    questions = tmp_path / "questions.jsonl"
    questions.write_text(BATCH, encoding="utf-8")
    table, problems, files = client.predict(handle_file(str(questions)), api_name="/batch")
    assert [row[0] for row in table["data"]] == ["q1", "q3"]
    assert "line 2" in problems and "not valid JSON" in problems
    by_name = {Path(f).name: Path(f) for f in files}
    assert sorted(by_name) == ["answers.jsonl", "study-sheet.md"]
    records = [json.loads(line) for line in by_name["answers.jsonl"].read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["q1", "q3"]
    sheet = by_name["study-sheet.md"].read_text(encoding="utf-8")
    assert sheet.count("\n## ") == 3 and "line 2: not valid JSON" in sheet  # two answers, then the errors


def test_note_text_is_escaped_in_the_sources_panel():
    from ui.render import ChatTurn, Source, sources_panel

    chunk = Chunk("c1", "x.md", ("Top", "<b>Head</b>"), 3, 4, "<img src=x onerror=alert(1)>\n${1+1} {{x}}", 9)
    html = sources_panel([ChatTurn(1, "q", "a", question="<script>q</script>", mode="qa",
                                   sources=(Source(1, chunk, ("${1+1} {{x}}",)),))])
    assert "<img" not in html and "<script>" not in html and "<b>Head" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<mark>&#36;&#123;1+1&#125; &#123;&#123;x&#125;&#125;</mark>" in html


# ---- the page, in Chromium ----------------------------------------------------------------

def test_chat_answers_with_a_citation_and_opens_its_source(page):
    from playwright.sync_api import expect

    page.wait_for_selector("#rag-notice", state="hidden")
    expect(page.get_by_text(SPREAD_Q, exact=True)).to_be_visible()  # English and Korean examples
    expect(page.get_by_text("클러스터 배치 그룹과 분산 배치 그룹의 차이는?", exact=True)).to_be_visible()
    reply = ask(page, SPREAD_Q)
    expect(reply).to_contain_text("Spread Placement Group (분산 배치 그룹)")
    expect(reply).to_contain_text("TL;DR")
    expect(reply).to_contain_text(CITED_LINE)
    assert reply.locator("strong").count() >= 2  # Markdown rendered
    assert page.locator("#rag-chat button[aria-label='Copy message']").count() >= 1
    cite = reply.locator("button.rag-cite", has_text="[1]").first
    expect(cite).to_be_visible()
    source = page.locator("#rag-src-1-1")
    assert source.get_attribute("open") is None
    cite.click()
    expect(source).to_have_attribute("open", "")
    expect(source.locator("summary")).to_contain_text("L14–L15")
    expect(source.locator("mark", has_text=CITED_LINE)).to_be_visible()
    shoot(page, "chat")

    follow = ask(page, "그럼 클러스터 배치 그룹은?")
    expect(follow).to_contain_text("클러스터")
    expect(page.locator("#rag-turn-2 .rag-context")).to_contain_text("How many instances per AZ")

    page.get_by_role("button", name="지우기").click()
    expect(page.locator(BOT)).to_have_count(0)
    expect(page.locator("#rag-sources .rag-empty")).to_be_visible()


def test_a_corrected_note_line_renders_struck_through(page):
    from playwright.sync_api import expect

    reply = ask(page, "EIP 요금은?")
    expect(reply.locator("del").first).to_contain_text("요금을 지불하지 않는다")
    expect(reply).to_contain_text("정정: 2024년 2월부터")


def test_exam_mode_shows_the_chosen_option(page):
    pytest.importorskip("rag.exam")
    from playwright.sync_api import expect

    page.locator("#rag-mode").get_by_text("시험", exact=True).click()
    reply = ask(page, "Which placement group limits you to 7 running instances per AZ?\n"
                      "A. Cluster placement group\nB. Spread placement group\n"
                      "C. Partition placement group\nD. Dedicated Host")
    expect(reply).to_contain_text("정답:", timeout=30000)
    shoot(page, "exam")


def test_user_html_renders_literally_and_runs_nothing(page):
    from playwright.sync_api import expect

    ask(page, "<img src=x onerror=alert(1)>")
    ask(page, "<script>alert(2)</script> **not bold**")
    users = page.locator(USER)
    expect(users.nth(0)).to_have_text("<img src=x onerror=alert(1)>")
    expect(users.nth(1)).to_have_text("<script>alert(2)</script> **not bold**")
    assert page.locator("#rag-chat img[src='x']").count() == 0
    assert page.locator("#rag-chat script").count() == 0
    assert users.nth(1).locator("strong").count() == 0
    page.wait_for_timeout(300)
    assert page.dialogs == []


def test_a_one_megabyte_question_is_refused_and_the_page_stays_usable(page):
    from playwright.sync_api import expect

    reply = ask(page, "a" * 1_048_576)
    expect(reply).to_contain_text("질문이 너무 깁니다")
    expect(page.locator("#rag-input textarea")).to_have_value("")
    expect(ask(page, SPREAD_Q)).to_contain_text("7개")


def test_two_tabs_asking_at_once_get_their_own_answers(page, browser, server):
    from playwright.sync_api import expect

    other = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        other.goto(server[0])
        other.wait_for_selector("#rag-input textarea")
        first = ask(page, SPREAD_Q, wait=False)
        second = ask(other, NLB_Q, wait=False)
        expect(first).to_contain_text("7개의 EC2 인스턴스", timeout=30000)
        expect(second).to_contain_text("고정 IP", timeout=30000)
        expect(first).not_to_contain_text("고정 IP")
        expect(page.locator(BOT)).to_have_count(1)
        expect(other.locator(BOT)).to_have_count(1)
    finally:
        other.close()


def test_batch_tab_fills_the_preview_and_reports_the_bad_line(page, tmp_path):
    from playwright.sync_api import expect

    questions = tmp_path / "questions.jsonl"
    questions.write_text(BATCH, encoding="utf-8")
    open_tab(page, "일괄 답변")
    page.locator("#rag-batch-file input[type=file]").set_input_files(str(questions))
    expect(page.locator("#rag-batch-file")).to_contain_text("questions.jsonl")
    page.locator("#rag-batch-run").click()
    downloads = page.locator("#rag-batch-downloads")
    expect(downloads.locator("a[href$='/study-sheet.md']")).to_be_visible(timeout=60000)
    expect(downloads.locator("a[href$='/answers.jsonl']")).to_be_visible()
    table = page.locator("#rag-batch-table")
    expect(table).to_contain_text("q1")
    expect(table).to_contain_text("q3")
    expect(table).not_to_contain_text("q2")
    expect(page.locator("#rag-batch-errors li")).to_have_count(1)
    expect(page.locator("#rag-batch-errors")).to_contain_text("line 2: not valid JSON")
    shoot(page, "batch")


def test_eval_tab_shows_metrics_and_the_recall_plot(page):
    pytest.importorskip("rag.evaluate")
    from playwright.sync_api import expect

    open_tab(page, "평가")
    expect(page.locator("#rag-eval-gold")).to_contain_text("dev_fixture.jsonl")
    expect(page.locator("#rag-eval-retrievers")).to_contain_text("dense:e5")
    page.locator("#rag-eval-run").click()
    expect(page.locator("#rag-eval-summary table").first).to_be_visible(timeout=90000)
    expect(page.locator("#rag-eval-summary")).to_contain_text("recall@5")
    expect(page.locator("#rag-eval-plot img")).to_be_visible()
    shoot(page, "eval")


def test_notes_tab_lists_the_index_and_reindexes(page, e5_assistant):
    from playwright.sync_api import expect

    open_tab(page, "노트")
    data = e5_assistant.state.data
    summary = page.locator("#rag-notes-summary")
    expect(summary).to_contain_text(f"청크 {len(data.chunks)}개")
    expect(summary).to_contain_text(data.manifest["generation"])
    expect(summary).to_contain_text("e5")
    expect(page.locator("#rag-notes-files")).to_contain_text("aws.md")
    expect(page.locator("#rag-notes-files")).to_contain_text("elb.md")
    page.locator("#rag-reindex").click()
    expect(page.locator("#rag-reindex-result")).to_contain_text("최신")
    shoot(page, "notes")


def test_settings_apply_without_restart_and_a_new_embedder_offers_reindex(page, e5_assistant):
    from playwright.sync_api import expect

    from rag.embed import available_embedders

    page.locator("#rag-settings").locator("button").first.click()
    page.locator("#rag-retriever").get_by_text("BM25", exact=True).click()
    expect(page.locator("#rag-applied")).to_contain_text("bm25")
    assert e5_assistant.settings.retriever == "bm25"
    expect(ask(page, SPREAD_Q)).to_contain_text("7개")
    missing = [m for m in available_embedders() if m not in e5_assistant.state.data.manifest["models"]]
    if missing:
        choose_embedder(page, missing[0])
        expect(page.locator("#rag-embedder-note")).to_contain_text("다시 임베딩")
        expect(page.locator("#rag-switch")).to_be_visible()
    shoot(page, "settings", full_page=False)
    page.locator("#rag-retriever").get_by_text("하이브리드 (dense + BM25)", exact=True).click()
    expect(page.locator("#rag-applied")).to_contain_text("hybrid")
    if "use" in e5_assistant.state.data.manifest["models"] and "use" in available_embedders():
        choose_embedder(page, "use")  # already indexed: switched at once
        expect(page.locator("#rag-embedder-note")).to_contain_text("이미 색인되어 있음", timeout=30000)
        expect(page.locator("#rag-switch")).to_be_hidden()
        expect(ask(page, SPREAD_Q)).to_contain_text("Spread Placement Group")  # answered (or abstained) by use
        open_tab(page, "노트")
        expect(page.locator("#rag-notes-summary")).to_contain_text("지금 답하는 모델 use")
        choose_embedder(page, "e5")


def choose_embedder(page, model: str) -> None:
    page.locator("#rag-embedder input").click()
    page.get_by_role("option", name=model, exact=True).click()


def test_auth_and_bind_helpers():
    from ui.app import is_loopback, parse_auth

    assert parse_auth(None) is None and parse_auth("") is None
    assert parse_auth("me:s3cret:x") == ("me", "s3cret:x")
    with pytest.raises(ValueError, match="user:pass"):
        parse_auth("nopassword")
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
