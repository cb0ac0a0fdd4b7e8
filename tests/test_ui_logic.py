"""The study page's logic without a browser: rendering, honesty marks, saved conversations,
per-visitor settings, feedback and its draft gold items, the quiz, and the notes browser.

Everything runs over the fixture notes with the fast hash embedder.
"""
from __future__ import annotations

import json

import pytest

from rag.types import Chunk

pytestmark = pytest.mark.fast

SPREAD_Q = "How many instances per AZ can a spread placement group have?"
SPREAD_LINE = "이는 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다."


@pytest.fixture
def service(hash_assistant):
    from ui.service import Service

    service = Service(hash_assistant)
    service._prepare()  # what the background thread does, done here and now
    assert service.ready
    return service


def answered(service, text, mode="auto", turns=(), **options):
    from ui.chat import Request, reply

    return reply(service, Request(text, mode, options.pop("exam_options", None)), tuple(turns), options)


# ---- rendering ---------------------------------------------------------------------------

def test_note_lines_render_their_markdown_and_keep_html_inert():
    from ui.render import note_line_html

    assert note_line_html(r"-   Spot \[SAA] **요금** `t2`") == (
        "rag-li rag-depth-0", '<span class="rag-bullet">•</span>Spot [SAA] <strong>요금</strong> <code>t2</code>')
    assert note_line_html("### **Spot Instance**") == ("rag-h rag-h3", "<strong>Spot Instance</strong>")
    assert note_line_html("    - 하위 항목")[0] == "rag-li rag-depth-2"
    assert note_line_html("<img src=x onerror=alert(1)> ${1+1}") == (
        "rag-p", "&lt;img src=x onerror=alert(1)&gt; &#36;&#123;1+1&#125;")
    assert note_line_html("![pic](http://example.com/a.png)")[1] == "![pic](http://example.com/a.png)"  # no image load
    assert note_line_html("이는 한 AZ 당 7개", spans=[(3, 7)])[1] == "이는 <mark>한 AZ</mark> 당 7개"


def test_sources_panel_renders_markdown_and_offers_the_notes_browser():
    from ui.render import ChatTurn, Source, sources_panel

    chunk = Chunk("c1", "aws.md", ("SOA", "Spot"), 3, 4, r"-   Spot \[SAA] 가격" + "\n" + SPREAD_LINE, 9)
    html = sources_panel([ChatTurn(1, "q", "a", question="q", mode="qa", sources=(Source(1, chunk, (SPREAD_LINE,)),))])
    assert r"\[" not in html and "-   " not in html
    assert f'<li value=4 class="rag-p rag-cited"><mark>{SPREAD_LINE}</mark></li>' in html
    assert 'class="rag-open-note" data-file="aws.md" data-start="3" data-end="4"' in html


def test_honesty_marks_for_exam_and_verify_answers():
    from ui.render import honesty_label, honesty_lines, reply_markdown

    exam = {"mode": "exam", "answer_markdown": "**정답: B**", "confidence": 0.4242, "uncertain": True,
            "retrieval_text": "spread `racks`"}
    assert honesty_lines(exam) == ["⚠ **불확실** · 확신도 42%"]
    assert honesty_label(exam) == "불확실 · 확신도 42%"
    assert honesty_label({"mode": "exam", "confidence": None}) == "확신도 정보 없음"
    assert honesty_label({"mode": "qa", "uncertain": True, "confidence": 0.9}) == ""  # only exam and verify
    assert honesty_label({"mode": "qa", "stale": True}) == "이전 색인으로 답함"
    assert reply_markdown(exam).endswith("검색: `` spread `racks` ``")
    verify = {"mode": "verify", "confidence": 0.8, "verdicts": [
        {"sentence": "A는 B다.", "verdict": "supported"}, {"sentence": "Aurora <b>x</b>", "verdict": "not_covered"}]}
    assert honesty_lines(verify) == ["확신도 80%", "", "**문장별 판정**", "- ✓ 노트와 일치: A는 B다\\.",
                                     "- ? 노트로 확인할 수 없음: Aurora &lt;b&gt;x&lt;/b&gt;"]


# ---- the chat turn, follow-ups and re-asking -------------------------------------------

def test_reply_carries_the_retrieval_text_and_the_follow_up_context(service):
    from ui.render import ChatTurn

    first = answered(service, SPREAD_Q)
    assert first.answered and first.record["retrieval_text"] == SPREAD_Q
    assert "hits" not in first.record and first.sources
    assert first.reply_markdown.endswith(f"검색: ` {SPREAD_Q} `")
    found = ChatTurn(1, SPREAD_Q, "…", question=SPREAD_Q, mode="qa", topic="Spread Placement Group (분산 배치 그룹)")
    follow = answered(service, "그럼 클러스터 배치 그룹은?", turns=[found])
    assert follow.context and follow.record["retrieval_text"] == f"{follow.context} 그럼 클러스터 배치 그룹은?"
    assert answered(service, "그럼 클러스터 배치 그룹은?", turns=[first]).context is None  # an abstention lends none


def test_reask_searches_the_edited_text_without_context_and_keeps_exam_options(service):
    from ui.chat import Request, reask_request, reply

    exam = answered(service, "Which placement group spreads instances?", "exam",
                    exam_options={"A": "Cluster", "B": "Spread"})
    assert exam.record["retrieval_text"] == "Which placement group spreads instances? Cluster Spread"
    request = reask_request(exam, "placement group racks Cluster Spread")
    assert request == Request("placement group racks", "exam", {"A": "Cluster", "B": "Spread"}, searched=True)
    again = reply(service, request, (exam,), {})
    assert again.record["retrieval_text"] == "placement group racks Cluster Spread"
    assert again.user_markdown.startswith("*검색어를 고쳐 다시 물음:*") and again.context is None
    qa = answered(service, SPREAD_Q)
    assert reask_request(qa, "  spread   group  ") == Request("spread group", "qa", searched=True)


def test_a_question_over_the_page_limit_is_refused_before_asking(service):
    turn = answered(service, "a" * (service.assistant.settings.max_query_chars + 1))
    assert not turn.answered and "질문이 너무 깁니다" in turn.reply_markdown


# ---- per-visitor settings ------------------------------------------------------------------

def test_settings_from_the_browser_are_checked_and_only_differences_travel(hash_assistant):
    from ui.settings_panel import Prefs, default_prefs, prefs_from, request_options

    default = default_prefs(hash_assistant)
    assert default == Prefs(10, "hybrid", "hash")
    assert prefs_from({"top_k": "99", "retriever": "magic", "embedder": "gpt"}, hash_assistant) == default
    assert prefs_from("garbage", hash_assistant) == default
    assert default.ask_options(hash_assistant.settings) == {"kind": None, "top_k": None, "embedder": None}
    assert request_options(hash_assistant, 3, "bm25", "hash") == {"kind": "bm25", "top_k": 3, "embedder": None}


def test_a_visitors_settings_reach_the_answer_and_never_the_assistant(service):
    before = service.assistant.settings
    narrow = answered(service, SPREAD_Q, top_k=1, kind="bm25")
    wide = answered(service, SPREAD_Q)
    assert service.assistant.settings is before
    assert narrow.searched_with == "검색: BM25 · 노트 조각 1개"
    assert wide.searched_with == f"검색: 하이브리드 (dense + BM25) · hash · 노트 조각 {service.assistant.settings.top_k}개"


# ---- conversations kept in the browser ---------------------------------------------------

def test_a_conversation_round_trips_through_json_and_the_archive_keeps_it(service):
    from ui import history

    conversation = history.new_conversation().add(answered(service, SPREAD_Q))
    stored = json.loads(json.dumps(history.to_json(conversation)))  # what local storage holds
    back = history.from_json(stored)
    assert history.to_json(back) == stored
    assert back.turns[0].sources[0].chunk.text == conversation.turns[0].sources[0].chunk.text
    assert back.title == SPREAD_Q[:40] + "…"
    past = history.archive(conversation, [])
    again, restored_past, notice = history.restore(None, [history.to_json(c) for c in past])
    assert again.turns == () and notice == ""
    assert [history.to_json(c) for c in restored_past] == [stored]
    assert history.archive(history.new_conversation(), past) == past  # an empty conversation is not filed
    assert history.choices(past) == [(conversation.label(), conversation.id)]


def test_unreadable_stored_conversations_are_skipped_with_a_notice():
    from ui import history

    conversation, past, notice = history.restore({"format": 99, "turns": []}, [{"nonsense": 1}, "x"])
    assert conversation.turns == () and past == []
    assert "3개를 읽을 수 없어" in notice


# ---- feedback --------------------------------------------------------------------------------

def test_feedback_is_appended_locally_and_listed(service):
    from ui import feedback

    qa = answered(service, SPREAD_Q)
    exam = answered(service, "Which placement group spreads instances?", "exam",
                    exam_options={"A": "Cluster", "B": "Spread"})
    folder = service.assistant.settings.index_dir
    feedback.save(folder, feedback.entry_for(qa, "helpful", "  정확해요 \n"))
    feedback.save(folder, feedback.entry_for(exam, "wrong", ""))
    with (folder / feedback.FEEDBACK_FILE).open("a", encoding="utf-8") as out:
        out.write("{broken\n")
    entries, errors = feedback.load(folder)
    assert [e["rating"] for e in entries] == ["helpful", "wrong"]
    assert errors == ["feedback.jsonl:3: not valid JSON (Expecting property name enclosed in double quotes)"]
    assert entries[0]["comment"] == "정확해요" and entries[0]["question"] == SPREAD_Q
    assert entries[0]["answer_markdown"] == qa.record["answer_markdown"] and entries[0]["mode"] == "qa"
    assert entries[1]["options"] == {"A": "Cluster", "B": "Spread"} and entries[1]["choice"] in ("A", "B")
    assert feedback.table_rows(entries)[0][1:4] == ["틀렸어요", "exam", "Which placement group spreads instances?"]
    with pytest.raises(feedback.FeedbackError, match="unknown rating"):
        feedback.entry_for(qa, "meh", "")


def test_feedback_exports_draft_gold_items_a_person_completes(service, tmp_path):
    from rag import metrics
    from rag.evaluate import load_gold
    from ui import feedback

    base = {"time": "t", "comment": "", "options": None, "choice": None, "is_correct": None, "abstained": False,
            "cited_headings": ["Spread Placement Group (분산 배치 그룹)"]}
    entries = [
        {**base, "id": "1", "rating": "helpful", "mode": "qa", "question": SPREAD_Q, "comment": "정확해요"},
        {**base, "id": "2", "rating": "wrong", "mode": "qa", "question": "Spread 제한은?"},
        {**base, "id": "3", "rating": "helpful", "mode": "exam", "question": "Which?", "choice": "B",
         "options": {"A": "Cluster", "B": "Spread"}},
        {**base, "id": "4", "rating": "wrong", "mode": "exam", "question": "Which one?", "choice": "A",
         "options": {"A": "Cluster", "B": "Spread"}},
        {**base, "id": "5", "rating": "helpful", "mode": "verify", "question": "분산 배치 그룹은 7개로 제한된다.",
         "is_correct": True},
        {**base, "id": "6", "rating": "helpful", "mode": "qa", "question": "What is Aurora?", "abstained": True},
    ]
    path = feedback.export_drafts(entries, tmp_path / "draft-gold.jsonl")
    drafts = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in drafts] == [f"draft-{i}" for i in range(1, 7)]
    assert drafts[0]["gold_headings"] == base["cited_headings"] and "의견: 정확해요" in drafts[0]["note"]
    assert drafts[1]["gold_headings"] == [] and "틀렸어요" in drafts[1]["note"]
    assert drafts[2]["answer"] == "B"
    assert drafts[4]["statement"] == entries[4]["question"] and drafts[4]["is_correct"] is True
    assert set(drafts[5]) == {"id", "question", "note"}  # rightly not in the notes: an out-of-scope item
    known = {metrics.normalise_heading(h) for c in service.assistant.state.data.chunks for h in c.heading_path}
    items, problems = load_gold([path], known)
    assert [(i.id, i.kind) for i in items] == [("draft-1", "open"), ("draft-3", "mcq"), ("draft-5", "verify"),
                                               ("draft-6", "oos")]
    assert problems == [f"{path}:{n}: gold_headings must be a non-empty list of strings" for n in (2, 4)]
    assert drafts[3]["answer"] == ""  # a person fills in the answer and the headings


def test_feedback_to_an_unwritable_folder_names_the_file_and_the_fix(service, tmp_path):
    from ui import feedback

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(feedback.FeedbackError, match="feedback.jsonl .*make the index folder writable"):
        feedback.save(blocker / "index", feedback.entry_for(answered(service, SPREAD_Q), "wrong", ""))


# ---- the quiz ---------------------------------------------------------------------------------

def test_quiz_questions_come_from_gold_lines_uploads_and_pastes():
    from ui.quiz import QuizItem, item_from_paste, items_from_text

    text = "\n".join([
        json.dumps({"id": "m1", "question": "Q1?", "options": {"A": "a", "B": "b"}, "answer": "B"}),
        json.dumps({"id": "o1", "question": "an open question", "gold_headings": ["x"]}),
        "{not json",
        json.dumps({"id": "m2", "question": "Q2?", "options": {"A": "a", "B": "b"}, "answer": "C"}),
        json.dumps({"id": "m3", "question": "Q3?", "options": {"A": "a", "B": "b"}}),
    ])
    items, problems = items_from_text(text, "set.jsonl")
    assert items == [QuizItem("m1", "Q1?", {"A": "a", "B": "b"}, "B", "set.jsonl"),
                     QuizItem("m3", "Q3?", {"A": "a", "B": "b"}, None, "set.jsonl")]
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 4"]
    pasted = item_from_paste("Which one?\nA. Cluster\nB. Spread\n정답: b")
    assert pasted == QuizItem("pasted", "Which one?", {"A": "Cluster", "B": "Spread"}, "B", "붙여 넣은 문제")
    assert "보기를 찾지 못했습니다" in item_from_paste("no options here")


def test_quiz_marks_against_the_key_and_keeps_the_score():
    from ui.quiz import QuizItem, QuizState, verdict_markdown

    item = QuizItem("m1", "Q?", {"A": "a", "B": "b"}, "B", "set.jsonl")
    record = {"mode": "exam", "choice": "A", "confidence": 0.3, "uncertain": True, "answer_markdown": "**정답: A**"}
    right, text = verdict_markdown(item, "B", record)
    assert right and text.startswith("### ✓ 정답입니다") and "도우미의 답: **A** — 정답 키와 다릅니다" in text
    assert "⚠ **불확실** · 확신도 30%" in text
    wrong, text = verdict_markdown(QuizItem("p", "Q?", {"A": "a", "B": "b"}, None, "붙여 넣은 문제"), "B", record)
    assert not wrong and "정답은 **A**" in text and "도우미의 답과 비교했습니다" in text
    state = QuizState((item, item)).scored(True).next().scored(False)
    assert (state.right, state.answered, state.index) == (1, 2, 1)
    assert state.score_text() == "**점수 1 / 2** · 문제 2 / 2 (set\\.jsonl)"


# ---- the notes browser ----------------------------------------------------------------------

def test_notes_render_with_line_anchors_headings_and_errata(hash_assistant):
    from ui.notes_view import headings_of, read_notes, render_notes, toc_html

    notes = read_notes(hash_assistant.settings.corpus_dir)
    assert [n.source for n in notes] == ["aws.md", "elb.md"]
    heads = {(h.text, h.level) for h in headings_of(notes[0])}
    assert {("SOA 시험 대비", 1), ("Spread Placement Group (분산 배치 그룹)", 3), ("정리", 4)} <= heads
    html = render_notes(notes, hash_assistant.state.errata)
    assert f'data-file="aws.md" data-line="15"><span class="rag-ln">15</span><div class="rag-lt">{SPREAD_LINE}' in html
    assert "<s>" in html and '<div class="rag-erratum"><strong>정정: 2024년 2월부터' in html
    assert 'class="rag-toc-link rag-toc-3" data-file="aws.md" data-line="13"' in toc_html(notes)


def test_note_search_uses_the_index_tokens_in_both_languages(hash_assistant):
    from ui.notes_view import NoteSearch, results_html

    search = NoteSearch(hash_assistant.state.data)
    korean = search.search("분산 배치 그룹")
    assert ("aws.md", 19) in [(m.source, m.line) for m in korean[:3]]
    english = search.search("spread placement group")  # the glossary adds the Korean terms
    assert {m.line for m in english} & {14, 15, 19}
    assert search.search("   ") == [] and search.search("zzqx") == []
    html = results_html("분산", korean)
    assert "<mark>분산</mark>" in html and 'data-file="aws.md"' in html
