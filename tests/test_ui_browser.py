"""The study page in a real browser: a live server on a free port, `gradio_client` and Playwright.

The server runs inside the test session over the fixture notes with the real
e5 model; Chromium is Debian's (see `tests/page_driver.py`). Every test opens
its own browser context, so local storage (conversations, settings) starts
empty unless the test reloads the same page. Nothing here writes into the
repository: screenshots are taken by `bench/screenshots.py`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import make_settings
from page_driver import BOT, INPUT, PHONE, USER, ask, chromium, open_page, open_tab, serve
from rag.types import Chunk
from writer_server import Reply, ScriptedServer, block_number, sse

pytestmark = [
    pytest.mark.browser,
    pytest.mark.model,
    # pandas 3 deprecations raised inside Gradio's queue, not in this project
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

SPREAD_Q = "How many instances per AZ can a spread placement group have?"
NLB_Q = "NLB는 AZ 당 몇 개의 고정 IP를 가지나요?"
CITED_LINE = "이는 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다."
EXAM_Q = ("Which placement group limits you to 7 running instances per AZ?\nA. Cluster placement group\n"
          "B. Spread placement group\nC. Partition placement group\nD. Dedicated Host")
GOLD = [
    {"id": "fx-en-1", "question": SPREAD_Q, "gold_headings": ["Spread Placement Group (분산 배치 그룹)"]},
    {"id": "fx-ko-1", "question": NLB_Q, "gold_headings": ["Network Load Balancer (NLB)"]},
    {"id": "fx-oos-1", "question": "What is the maximum number of Aurora Replicas in a cluster?"},
    {"id": "fx-mcq-1", "question": "Which placement group is limited to 7 instances per Availability Zone?",
     "options": {"A": "Cluster placement group", "B": "Spread placement group"}, "answer": "B",
     "gold_headings": ["Spread Placement Group (분산 배치 그룹)"]},
    {"id": "fx-mcq-2", "question": "Which load balancer works at layer 4 with one static IP per AZ?",
     "options": {"A": "Application Load Balancer", "B": "Network Load Balancer"}, "answer": "B",
     "gold_headings": ["Network Load Balancer (NLB)"]},
]
BATCH = "\n".join([
    json.dumps({"id": "q1", "question": SPREAD_Q}),
    '{"id": "q2", "question": ',
    json.dumps({"id": "q3", "question": NLB_Q}, ensure_ascii=False),
    json.dumps({"id": "q4", "question": "Which placement group spreads instances across racks?",
                "options": {"A": "Cluster", "B": "Spread"}}),
]) + "\n"


@pytest.fixture(scope="module")
def server(e5_assistant, tmp_path_factory):
    gold_dir = tmp_path_factory.mktemp("gold")
    (gold_dir / "dev_fixture.jsonl").write_text(
        "".join(json.dumps(g, ensure_ascii=False) + "\n" for g in GOLD), encoding="utf-8")
    settings = e5_assistant.settings
    with serve(e5_assistant, gold_dir, SPREAD_Q) as running:
        yield running
    assert e5_assistant.settings is settings  # the page never changes the assistant's settings


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


@pytest.fixture
def page(server, browser):
    tab = open_page(browser, server[0])
    yield tab
    tab.context.close()


@pytest.fixture
def phone(server, browser):
    tab = open_page(browser, server[0], phone=True)
    yield tab
    tab.context.close()


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


# ---- the API, through gradio_client -------------------------------------------------------

def test_api_ask_returns_the_cli_json(server):
    _, client = server
    result = client.predict(SPREAD_Q, "auto", api_name="/ask")
    assert result["mode"] == "qa"
    assert "7개" in result["answer_markdown"]
    assert result["citations"] and result["citations"][0]["source"] == "aws.md"
    assert result["retrieval_text"] == SPREAD_Q and result["stale"] is False


def test_api_endpoints_name_their_values_and_offer_every_indexed_retriever(server, e5_assistant):
    _, client = server
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["label"] for p in api["/ask"]["parameters"]] == ["question", "mode"]
    assert [r["label"] for r in api["/ask"]["returns"]] == ["answer"]
    assert [r["label"] for r in api["/evaluate"]["returns"]] == ["지표 요약", "Recall@k 그래프", "형식 오류"]
    assert [r["label"] for r in api["/batch"]["returns"]] == ["미리보기", "형식 오류", "다운로드 (JSON Lines · 학습 노트 Markdown)"]
    retrievers = api["/evaluate"]["parameters"][2]["python_type"]["type"]
    for spec in ("bm25", "hybrid", *(f"dense:{m}" for m in e5_assistant.embedders)):
        assert f"'{spec}'" in retrievers


def test_api_batch_answers_good_lines_and_lists_the_bad_one(server, tmp_path):
    from gradio_client import handle_file

    _, client = server
    questions = tmp_path / "questions.jsonl"
    questions.write_text(BATCH, encoding="utf-8")
    table, problems, files = client.predict(handle_file(str(questions)), api_name="/batch")
    assert [row[0] for row in table["data"]] == ["q1", "q3", "q4"]
    assert table["data"][2][3].startswith(("확신도", "불확실"))  # the exam row shows how sure it is
    assert "line 2" in problems and "not valid JSON" in problems
    by_name = {Path(f).name: Path(f) for f in files}
    assert sorted(by_name) == ["answers.jsonl", "study-sheet.md"]
    records = [json.loads(line) for line in by_name["answers.jsonl"].read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["q1", "q3", "q4"]
    assert records[2]["mode"] == "exam" and "uncertain" in records[2] and "confidence" in records[2]
    sheet = by_name["study-sheet.md"].read_text(encoding="utf-8")
    assert sheet.count("\n## ") == 4 and "line 2: not valid JSON" in sheet  # three answers, then the errors
    assert "확신도" in sheet.split("## 3. q4")[1]


def test_note_text_is_escaped_in_the_sources_panel():
    from ui.render import ChatTurn, Source, sources_panel

    chunk = Chunk("c1", "x.md", ("Top", "<b>Head</b>"), 3, 4, "<img src=x onerror=alert(1)>\n${1+1} {{x}}", 9)
    html = sources_panel([ChatTurn(1, "q", "a", question="<script>q</script>", mode="qa",
                                   sources=(Source(1, chunk, ("${1+1} {{x}}",)),))])
    assert "<img" not in html and "<script>" not in html and "<b>Head" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<mark>&#36;&#123;1+1&#125; &#123;&#123;x&#125;&#125;</mark>" in html


# ---- chat, on a desktop ---------------------------------------------------------------------

def test_chat_answers_with_citations_a_popover_and_the_side_panel(page):
    page.wait_for_selector("#rag-notice", state="hidden")
    expect()(page.get_by_text(SPREAD_Q, exact=True)).to_be_visible()  # English and Korean examples
    expect()(page.get_by_text("클러스터 배치 그룹과 분산 배치 그룹의 차이는?", exact=True)).to_be_visible()
    assert page.locator("#rag-chat").get_by_text("대화", exact=True).count() == 0  # no label over the welcome
    page.get_by_text(SPREAD_Q, exact=True).click()  # an example asks at once
    reply = page.locator(BOT).first
    expect()(reply).to_contain_text("Spread Placement Group (분산 배치 그룹)")
    expect()(reply).to_contain_text("TL;DR")
    expect()(reply).to_contain_text(CITED_LINE)
    assert reply.locator("strong").count() >= 2  # Markdown rendered
    cite = reply.locator("button.rag-cite:not(.rag-cite-src)", has_text="[1]").first
    cite.hover()
    expect()(page.locator("#rag-popover")).to_contain_text(CITED_LINE)
    source = page.locator("#rag-src-1-1")
    assert source.get_attribute("open") is None
    cite.click()
    expect()(source).to_have_attribute("open", "")
    expect()(source.locator("summary")).to_contain_text("L14–L15")
    expect()(source.locator("mark", has_text=CITED_LINE)).to_be_visible()
    assert "-   " not in page.locator("#rag-sources").inner_text()  # the note's Markdown is rendered

    follow = ask(page, "그럼 클러스터 배치 그룹은?")
    expect()(follow).to_contain_text("클러스터")
    expect()(page.locator("#rag-turn-2 .rag-follow-up")).to_contain_text("How many instances per AZ")

    page.locator("#rag-new-chat").click()
    expect()(page.locator(BOT)).to_have_count(0)
    expect()(page.locator("#rag-sources .rag-empty")).to_be_visible()


WRITER_Q = "분산 배치 그룹은 한 AZ 당 몇 개의 인스턴스로 제한돼?"
UNCHECKED = "아직 근거를 확인하지 않은 글"


@pytest.fixture
def writer_url(tmp_path, notes_dir):
    """The page with the LLM writer configured: a scripted loopback server writes one line every 1.5 s,
    one of them (100개) unsupported by the notes. The hash embedder: only the writer matters here."""
    from rag.engine import Assistant
    from rag.params import params_from_tables
    from rag.settings import WriterSettings

    def script(body, headers):
        n = block_number(body, "Spread Placement Group")
        return Reply(pieces=sse("**분산 배치 그룹**\n", f"- 분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다 [{n}]\n",
                                f"- 분산 배치 그룹은 AZ 당 100개까지 가능하다 [{n}]\n",
                                f"- 인스턴스가 서로 다른 랙에 분산된다 [{n}]\n"), pause_s=1.5)

    writer = ScriptedServer(script)
    params = params_from_tables({"abstain": {"similarity": -1.0, "min_known_mass": 0.0}})
    assistant = Assistant(make_settings(tmp_path, notes_dir, params=params,
                                        writer=WriterSettings(kind="openai", url=writer.url, model="m")),
                          log=lambda m: None)
    assistant.ensure_index()
    try:
        with serve(assistant, tmp_path, WRITER_Q) as (url, _):
            yield url
    finally:
        writer.close()


def test_the_writer_streams_unchecked_text_then_the_checked_answer_and_stop_ends_it(writer_url, browser):
    page = open_page(browser, writer_url)
    reply = ask(page, WRITER_Q)
    page.wait_for_function(  # the model's first lines show while it still writes, marked as unchecked
        f"(() => {{ const t = document.querySelectorAll('{BOT}')[0].innerText; "
        f"return t.includes('{UNCHECKED}') && t.includes('7개의 인스턴스로 제한된다'); }})()", timeout=60000)
    expect()(reply).not_to_contain_text(UNCHECKED, timeout=60000)  # the checked answer replaced it
    final = reply.inner_text()
    assert "7개의 인스턴스로 제한된다" in final and "서로 다른 랙에 분산된다" in final
    assert "100개" not in final  # the unsupported line never stays on the page
    expect()(page.locator("#rag-sources #rag-turn-1")).to_be_visible()
    page.context.close()

    page = open_page(browser, writer_url)
    reply = ask(page, WRITER_Q)
    expect()(reply).to_contain_text(UNCHECKED, timeout=60000)
    page.locator("#rag-stop").click()
    expect()(reply).to_contain_text("stopped by the user", timeout=60000)  # the notes' own answer, with a notice
    final = reply.inner_text()
    assert UNCHECKED not in final and "100개" not in final and "7개" in final
    page.context.close()


def test_a_corrected_note_line_renders_struck_through(page):
    reply = ask(page, "EIP 요금은?")
    expect()(reply.locator("del, s").first).to_contain_text("요금을 지불하지 않는다")
    expect()(reply).to_contain_text("정정: 2024년 2월부터")


def test_exam_answers_show_the_choice_and_how_sure_they_are(page):
    page.locator("#rag-mode").get_by_text("시험", exact=True).click()
    reply = ask(page, EXAM_Q)
    expect()(reply).to_contain_text("정답:")
    expect()(reply).to_contain_text("확신도")


def test_a_statement_the_notes_do_not_cover_reads_cannot_be_checked(page):
    page.locator("#rag-mode").get_by_text("검증", exact=True).click()
    reply = ask(page, "Amazon Aurora keeps six copies of the data across three Availability Zones.")
    expect()(reply).to_contain_text("문장별 판정")
    expect()(reply).to_contain_text("노트로 확인할 수 없음")
    expect()(reply).to_contain_text("확신도")


def test_user_html_renders_literally_and_runs_nothing(page):
    ask(page, "<img src=x onerror=alert(1)>")
    ask(page, "<script>alert(2)</script> **not bold**")
    users = page.locator(USER)
    expect()(users.nth(0)).to_have_text("<img src=x onerror=alert(1)>")
    expect()(users.nth(1)).to_have_text("<script>alert(2)</script> **not bold**")
    assert page.locator("#rag-chat img[src='x']").count() == 0
    assert page.locator("#rag-chat script").count() == 0
    assert users.nth(1).locator("strong").count() == 0
    page.wait_for_timeout(300)
    assert page.dialogs == []


def test_the_page_counts_characters_and_refuses_too_long_a_question(page, e5_assistant):
    limit = e5_assistant.settings.max_query_chars
    counter = page.locator("#rag-counter")
    expect()(counter).to_have_text(f"0 / {limit:,}자")
    for size in (limit + 1, 1_048_576):
        page.fill(INPUT, "a" * size)
        expect()(counter).to_contain_text(f"{size:,} / {limit:,}자 — 너무 깁니다")
        page.locator(INPUT).press("Enter")
        page.locator("#rag-send").click()
        page.wait_for_timeout(500)
        expect()(page.locator(USER)).to_have_count(0)  # refused in the page: nothing was sent
    expect()(ask(page, SPREAD_Q)).to_contain_text("7개")
    expect()(counter).to_have_text(f"0 / {limit:,}자")


def test_an_empty_question_is_answered_with_a_korean_notice(page):
    page.fill(INPUT, "   ")
    page.locator("#rag-send").click()
    expect()(page.get_by_text("질문을 입력해 주세요", exact=False)).to_be_visible()
    expect()(page.locator(USER)).to_have_count(0)


def test_two_browsers_asking_at_once_get_their_own_answers(page, browser, server):
    other = open_page(browser, server[0])
    try:
        first = ask(page, SPREAD_Q, wait=False)
        second = ask(other, NLB_Q, wait=False)
        expect()(first).to_contain_text("7개의 EC2 인스턴스", timeout=30000)
        expect()(second).to_contain_text("고정 IP", timeout=30000)
        expect()(first).not_to_contain_text("고정 IP")
        expect()(page.locator(BOT)).to_have_count(1)
        expect()(other.locator(BOT)).to_have_count(1)
    finally:
        other.context.close()


# ---- the conversation kept in the browser ----------------------------------------------------

def test_a_reload_keeps_the_conversation_and_new_chat_files_it_under_past(page):
    ask(page, SPREAD_Q)
    ask(page, "그럼 클러스터 배치 그룹은?")
    page.reload()
    expect()(page.locator(BOT)).to_have_count(2)
    expect()(page.locator(USER).nth(1)).to_have_text("그럼 클러스터 배치 그룹은?")
    expect()(page.locator("#rag-src-2-1")).to_be_attached()  # sources restored with the answers
    follow = ask(page, "그건 AZ 당 몇 개야?")  # follow-ups still see the restored turns
    expect()(follow).to_contain_text("7개")

    page.locator("#rag-new-chat").click()
    expect()(page.locator(BOT)).to_have_count(0)
    ask(page, NLB_Q)
    page.reload()
    expect()(page.locator(BOT)).to_have_count(1)
    page.locator("#rag-past input").click()
    page.get_by_role("option", name=SPREAD_Q[:40], exact=False).click()
    expect()(page.locator(BOT)).to_have_count(3)
    expect()(page.locator(USER).first).to_have_text(SPREAD_Q)
    page.locator("#rag-past input").click()
    expect()(page.get_by_role("option", name=NLB_Q[:20], exact=False)).to_be_visible()  # the other one is filed


def test_the_searched_text_is_shown_and_can_be_edited_and_asked_again(page):
    reply = ask(page, SPREAD_Q)
    ask(page, "그럼 클러스터 배치 그룹은?")
    boxes = page.locator("#rag-chat .rag-retrieval input")
    expect()(boxes).to_have_count(2)
    expect()(boxes.nth(0)).to_have_value(SPREAD_Q)
    assert "How many instances per AZ" in boxes.nth(1).input_value()  # the follow-up searched with context
    boxes.nth(1).fill("클러스터 배치 그룹 지연")
    page.locator("#rag-chat .rag-reask").nth(1).click()
    expect()(page.locator(BOT)).to_have_count(3)
    expect()(page.locator(USER).nth(2)).to_contain_text("검색어를 고쳐 다시 물음: 클러스터 배치 그룹 지연")
    expect()(page.locator("#rag-chat .rag-retrieval input").nth(2)).to_have_value("클러스터 배치 그룹 지연")
    expect()(page.locator(BOT).nth(2)).to_contain_text("클러스터 배치 그룹은 단일 AZ에서 낮은 지연을 제공한다.")
    expect()(reply).to_contain_text(CITED_LINE)


# ---- settings per visitor ---------------------------------------------------------------------

def open_settings(page) -> None:
    page.locator("#rag-settings").get_by_text("⚙ 설정").click()
    expect()(page.locator("#rag-retriever")).to_be_visible()


def test_settings_belong_to_one_browser_are_remembered_and_never_leak(page, browser, server, e5_assistant):
    open_settings(page)
    expect()(page.locator("#rag-applied")).to_contain_text("top-k 10 · 하이브리드 (dense + BM25) · e5")
    page.locator("#rag-retriever").get_by_text("BM25", exact=True).click()
    top_k = page.locator("#rag-top-k input[type=number]")
    top_k.fill("1")
    top_k.press("Enter")
    expect()(page.locator("#rag-applied")).to_contain_text("top-k 1 · BM25")
    page.locator("#rag-embedder input").click()
    options = page.get_by_role("option")
    expect()(options).to_have_count(len(e5_assistant.embedders))  # the indexed models only
    assert [o.strip("✓ \n") for o in options.all_inner_texts()] == list(e5_assistant.embedders)
    page.keyboard.press("Escape")

    other = open_page(browser, server[0])
    try:
        open_settings(other)
        expect()(other.locator("#rag-applied")).to_contain_text("top-k 10 · 하이브리드")
        narrow = ask(page, SPREAD_Q)
        wide = ask(other, SPREAD_Q)
        expect()(narrow).to_contain_text("7개")
        expect()(wide).to_contain_text("7개")
        expect()(page.locator("#rag-turn-1 .rag-searched")).to_have_text("검색: BM25 · 노트 조각 1개")
        expect()(other.locator("#rag-turn-1 .rag-searched")).to_contain_text("검색: 하이브리드 (dense + BM25) · e5")
        expect()(other.locator("#rag-turn-1 .rag-searched")).not_to_contain_text("조각 1개")
    finally:
        other.context.close()
    page.reload()
    open_settings(page)
    expect()(page.locator("#rag-applied")).to_contain_text("top-k 1 · BM25")
    expect()(page.locator("#rag-top-k input[type=number]")).to_have_value("1")
    assert (e5_assistant.settings.top_k, e5_assistant.settings.retriever) == (10, "hybrid")


# ---- feedback ------------------------------------------------------------------------------

def test_feedback_is_saved_locally_listed_and_exported_as_draft_gold(page, e5_assistant):
    ask(page, SPREAD_Q)
    bar = page.locator("#rag-chat .rag-fb").first
    bar.get_by_role("button", name="틀렸어요").click()
    bar.locator("textarea").fill("출처가 하나 더 있어야 해요 (browser test)")
    bar.get_by_role("button", name="보내기").click()
    expect()(bar).to_contain_text("피드백을 남겼습니다: 틀렸어요")
    saved = e5_assistant.settings.index_dir / "feedback.jsonl"
    expect()(page.get_by_text("피드백을 저장했습니다", exact=False)).to_be_visible()
    entry = [json.loads(line) for line in saved.read_text(encoding="utf-8").splitlines()][-1]
    assert (entry["rating"], entry["question"], entry["mode"]) == ("wrong", SPREAD_Q, "qa")
    assert entry["comment"] == "출처가 하나 더 있어야 해요 (browser test)" and "7개" in entry["answer_markdown"]

    open_tab(page, "평가")
    table = page.locator("#rag-feedback-table")
    expect()(table).to_contain_text("출처가 하나 더 있어야 해요")
    page.locator("#rag-feedback-export").click()
    link = page.locator("#rag-feedback-drafts a[href$='/draft-gold.jsonl']")
    expect()(link).to_be_visible()
    drafts = [json.loads(line) for line in page.request.get(link.get_attribute("href")).text().splitlines()]
    draft = next(d for d in drafts if "browser test" in d["note"])
    assert draft["question"] == SPREAD_Q and draft["gold_headings"] == [] and "틀렸어요" in draft["note"]


# ---- first start ---------------------------------------------------------------------------------

def test_a_fresh_page_answers_from_bm25_while_indexing_then_switches_to_hybrid(browser, tmp_path, notes_dir):
    import threading

    from rag.engine import Assistant
    from ui.service import PageProgress

    release = threading.Event()

    def hold_the_build(done, total, label):  # the build waits at its first embedding step until released
        if label.startswith("embedding"):
            release.wait(120)

    watcher = PageProgress(hold_the_build)
    assistant = Assistant(make_settings(tmp_path, notes_dir, embedders=("e5",)), progress=watcher, log=lambda m: None)
    try:
        with serve(assistant, tmp_path, SPREAD_Q, watcher=watcher) as (url, _):
            tab = open_page(browser, url)
            notice = tab.locator("#rag-notice")
            expect()(notice).to_contain_text("빠른 검색 (색인 중)")
            expect()(notice).to_contain_text("embedding chunks (e5) 0%")
            quick = ask(tab, SPREAD_Q)
            expect()(quick).to_contain_text("빠른 검색 (색인 중)", timeout=60000)
            expect()(quick).to_contain_text(CITED_LINE)
            expect()(tab.locator(".rag-searched").first).to_contain_text("검색: BM25 · 노트 조각")
            release.set()
            expect()(notice).to_be_hidden(timeout=120000)
            full = ask(tab, SPREAD_Q)
            expect()(full).to_contain_text(CITED_LINE, timeout=60000)
            expect()(full).not_to_contain_text("빠른 검색")
            expect()(tab.locator(".rag-searched").first).to_contain_text("검색: 하이브리드 (dense + BM25) · e5")
            tab.context.close()
    finally:
        release.set()


# ---- quiz --------------------------------------------------------------------------------------

def test_a_quiz_round_hides_the_answer_until_a_pick_then_scores_it(page):
    open_tab(page, "퀴즈")
    expect()(page.locator("#rag-quiz-set input")).to_have_value("dev_fixture.jsonl")
    page.locator("#rag-quiz-load").click()
    expect()(page.locator("#rag-quiz-question")).to_contain_text("limited to 7 instances per Availability Zone")
    expect()(page.locator("#rag-quiz-score")).to_contain_text("점수 0 / 0")
    assert page.locator("#rag-quiz-result").inner_text().strip() == ""  # nothing given away
    page.locator("#rag-quiz-check").click()
    expect()(page.get_by_text("먼저 보기를 하나 고르세요", exact=False)).to_be_visible()
    page.locator("#rag-quiz-options").get_by_text("A. Cluster placement group").click()
    page.locator("#rag-quiz-check").click()
    result = page.locator("#rag-quiz-result")
    expect()(result).to_contain_text("오답입니다 — 정답은 B")
    expect()(result).to_contain_text("선택지 분석")
    expect()(result).to_contain_text("확신도")
    expect()(page.locator("#rag-quiz-score")).to_contain_text("점수 0 / 1")
    result.locator("button.rag-cite:not(.rag-cite-src)").first.click()
    expect()(page.locator("#rag-src-quiz-1")).to_have_attribute("open", "")

    page.locator("#rag-quiz-next").click()
    expect()(page.locator("#rag-quiz-question")).to_contain_text("layer 4")
    expect()(result).to_have_text("")
    page.locator("#rag-quiz-options").get_by_text("B. Network Load Balancer").click()
    page.locator("#rag-quiz-check").click()
    expect()(result).to_contain_text("정답입니다")
    expect()(page.locator("#rag-quiz-score")).to_contain_text("점수 1 / 2")


def test_a_pasted_question_or_an_uploaded_set_can_be_quizzed(page, tmp_path):
    open_tab(page, "퀴즈")
    page.locator("#rag-quiz-paste-box").get_by_text("문제 하나 붙여 넣기").click()
    page.fill("#rag-quiz-paste textarea", "Which load balancer routes HTTP at layer 7?\nA. NLB\nB. ALB\n정답: B")
    page.locator("#rag-quiz-use-paste").click()
    expect()(page.locator("#rag-quiz-question")).to_contain_text("routes HTTP at layer 7")
    expect()(page.locator("#rag-quiz-score")).to_contain_text("붙여 넣은 문제")
    page.locator("#rag-quiz-options").get_by_text("B. ALB").click()
    page.locator("#rag-quiz-check").click()
    expect()(page.locator("#rag-quiz-result")).to_contain_text("정답입니다")

    upload = tmp_path / "my-quiz.jsonl"
    upload.write_text(json.dumps({"id": "u1", "question": "Which group limits instances to 7 per AZ?",
                                  "options": {"A": "Spread", "B": "Cluster"}}) + "\n{oops\n", encoding="utf-8")
    page.locator("#rag-quiz-upload input[type=file]").set_input_files(str(upload))
    expect()(page.locator("#rag-quiz-upload")).to_contain_text(re.compile(r"my-quiz\s*\.jsonl"))
    page.locator("#rag-quiz-load").click()
    expect()(page.locator("#rag-quiz-question")).to_contain_text("limits instances to 7 per AZ")
    expect()(page.locator("#rag-quiz-problems")).to_contain_text("my-quiz.jsonl: line 2: not valid JSON")
    page.locator("#rag-quiz-options").get_by_text("A. Spread").click()
    page.locator("#rag-quiz-check").click()
    expect()(page.locator("#rag-quiz-result")).to_contain_text("정답 키가 없어 도우미의 답과 비교했습니다")
    expect()(page.locator("#rag-quiz-score")).to_contain_text("점수")


# ---- the notes browser ---------------------------------------------------------------------------

def test_a_citation_opens_the_notes_browser_at_its_lines(page):
    reply = ask(page, SPREAD_Q)
    reply.locator("button.rag-cite-src", has_text="[1]").click()  # the [1] of the answer's 출처 list
    hits = page.locator("#rag-notes-view .rag-note-hit")
    expect()(hits).to_have_count(2)
    expect()(hits.nth(1)).to_contain_text(CITED_LINE)
    expect()(hits.nth(1)).to_be_in_viewport()
    expect()(page.locator('#rag-notes-view .rag-nl[data-line="13"]')).to_contain_text("Spread Placement Group")
    erratum = page.locator('#rag-notes-view .rag-nl[data-file="aws.md"][data-line="37"]')
    expect()(erratum.locator("s")).to_contain_text("요금을 지불하지 않는다")
    expect()(erratum.locator(".rag-erratum")).to_contain_text("정정: 2024년 2월부터")

    open_tab(page, "채팅")
    page.locator("#rag-src-1-1 summary").click()
    page.locator("#rag-src-1-1 .rag-open-note").click()  # "노트에서 보기" in the side panel
    expect()(page.locator("#rag-notes-view .rag-note-hit")).to_have_count(2)

    page.fill("#rag-notes-query textarea", "spread placement group 제한")
    page.locator("#rag-notes-find").click()
    results = page.locator("#rag-notes-results .rag-results button")
    expect()(results.first).to_be_visible()
    expect()(page.locator("#rag-notes-results")).to_contain_text("분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다.")
    page.locator("#rag-notes-results button", has_text="분산 배치 그룹은 AZ 당 7개").click()
    expect()(page.locator('#rag-notes-view .rag-note-hit[data-line="19"]')).to_be_in_viewport()
    page.locator("#rag-notes-toc a", has_text="Application Load Balancer (ALB)").click()
    expect()(page.locator('#rag-notes-view .rag-nl[data-file="elb.md"][data-line="6"]')).to_be_in_viewport()


def test_notes_tab_lists_the_index_and_reindexes(page, e5_assistant):
    open_tab(page, "노트")
    page.locator("#rag-index-info").get_by_text("색인 정보 · 재색인").click()
    data = e5_assistant.state.data
    summary = page.locator("#rag-notes-summary")
    expect()(summary).to_contain_text(f"청크 {len(data.chunks)}개")
    expect()(summary).to_contain_text(data.manifest["generation"])
    expect()(summary).to_contain_text("e5")
    expect()(page.locator("#rag-notes-files")).to_contain_text("aws.md")
    expect()(page.locator("#rag-notes-files")).to_contain_text("elb.md")
    page.locator("#rag-reindex").click()
    expect()(page.locator("#rag-reindex-result")).to_contain_text("최신")
    assert set(data.manifest["models"]) == set(e5_assistant.state.data.manifest["models"])  # nothing dropped


# ---- batch and eval tabs ------------------------------------------------------------------------

def test_batch_tab_fills_the_preview_and_reports_the_bad_line(page, tmp_path):
    questions = tmp_path / "questions.jsonl"
    questions.write_text(BATCH, encoding="utf-8")
    open_tab(page, "일괄 답변")
    page.locator("#rag-batch-file input[type=file]").set_input_files(str(questions))
    expect()(page.locator("#rag-batch-file")).to_contain_text("questions.jsonl")
    page.locator("#rag-batch-run").click()
    downloads = page.locator("#rag-batch-downloads")
    expect()(downloads.locator("a[href$='/study-sheet.md']")).to_be_visible(timeout=60000)
    expect()(downloads.locator("a[href$='/answers.jsonl']")).to_be_visible()
    table = page.locator("#rag-batch-table")
    expect()(table).to_contain_text("q1")
    expect()(table).to_contain_text("q4")
    expect()(table).to_contain_text("확신도")
    expect()(table).not_to_contain_text("q2")
    expect()(page.locator("#rag-batch-errors li")).to_have_count(1)
    expect()(page.locator("#rag-batch-errors")).to_contain_text("line 2: not valid JSON")


def test_eval_tab_explains_its_metrics_and_names_an_uploaded_file(page, tmp_path):
    open_tab(page, "평가")
    expect()(page.locator("#rag-eval-gold")).to_contain_text("dev_fixture.jsonl")
    expect()(page.locator("#rag-eval-retrievers")).to_contain_text("dense:use")
    page.locator("#rag-eval-help").get_by_text("지표 설명").click()
    expect()(page.locator("#rag-eval-help")).to_contain_text("정답 섹션이 검색 상위 k개 안에 든 문항의 비율")
    bad = tmp_path / "my-gold.jsonl"
    bad.write_text('{"id": "x1", "question": "q", "gold_headings": ["No Such Heading"]}\n', encoding="utf-8")
    page.locator("#rag-eval-upload input[type=file]").set_input_files(str(bad))
    expect()(page.locator("#rag-eval-upload")).to_contain_text(re.compile(r"my-gold\s*\.jsonl"))
    page.locator("#rag-eval-run").click()
    expect()(page.locator("#rag-eval-summary table").first).to_be_visible(timeout=90000)
    expect()(page.locator("#rag-eval-summary")).to_contain_text("recall@5")
    expect()(page.locator("#rag-eval-plot img")).to_be_visible()
    problems = page.locator("#rag-eval-errors")
    expect()(problems).to_contain_text("my-gold.jsonl:1")
    assert "/tmp" not in problems.inner_text() and "gradio" not in problems.inner_text()


# ---- the phone (390 × 844) --------------------------------------------------------------------

def test_phone_first_screen_shows_welcome_examples_and_the_input_pinned_to_the_bottom(phone):
    height = PHONE["height"]
    expect()(phone.locator("#rag-chat .placeholder")).to_be_in_viewport()
    expect()(phone.locator("#rag-chat button.example").first).to_be_in_viewport()
    compose = phone.locator("#rag-compose").bounding_box()
    assert height - 4 <= compose["y"] + compose["height"] <= height + 1  # pinned to the bottom edge
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
    assert not phone.locator("#rag-sources-col").is_visible()
    ask(phone, SPREAD_Q)
    phone.mouse.wheel(0, 600)
    compose = phone.locator("#rag-compose").bounding_box()
    assert height - 4 <= compose["y"] + compose["height"] <= height + 1  # still there after scrolling


def test_phone_citation_opens_a_bottom_sheet_and_closing_returns_to_the_same_place(phone):
    reply = ask(phone, SPREAD_Q)
    cite = reply.locator("button.rag-cite:not(.rag-cite-src)", has_text="[1]").nth(1)
    cite.scroll_into_view_if_needed()
    before = (phone.evaluate("window.scrollY"), cite.bounding_box()["y"])
    cite.click()
    sheet = phone.locator("#rag-sheet")
    expect()(sheet).to_be_visible()
    expect()(sheet.locator("mark", has_text=CITED_LINE)).to_be_visible()
    box = sheet.bounding_box()
    assert abs(box["y"] + box["height"] - PHONE["height"]) <= 1  # a sheet rising from the bottom
    sheet.get_by_role("button", name="✕ 닫기").click()
    expect()(sheet).to_have_count(0)
    assert (phone.evaluate("window.scrollY"), cite.bounding_box()["y"]) == before
    cite.click()
    expect()(phone.locator("#rag-sheet")).to_be_visible()
    phone.locator("#rag-sheet .rag-open-note").click()  # the sheet's "노트에서 보기"
    expect()(phone.locator("#rag-notes-view .rag-note-hit").last).to_contain_text(CITED_LINE)
