"""Hostile and odd text: one normal form for questions and notes, and questions with no content abstain.

Issue 16: Korean pasted in decomposed form (as macOS writes it) was "not
covered", a zero-width space inside "spread" changed the answer, and
questions such as ".", "!!!" or "ㅋㅋㅋ" were answered with whatever notes
were nearest. The fast tests use the hash embedder; the `model` tests use
the packaged e5 model, on which the old behaviour showed.
"""
from __future__ import annotations

import unicodedata

import pytest
from conftest import make_settings

from rag.engine import Assistant, clean_question
from rag.notes import read_note
from rag.text import has_content, normalise

SPREAD_KO = "분산 배치 그룹은 AZ 당 몇 개의 인스턴스로 제한되나요?"
SPREAD_EN = "How many instances per AZ can a spread placement group have?"
CONTENTLESS = [".", "!!!", "1", "a", "ㅋㅋㅋ", "ㅎㅎ ㅠㅠ", "?!", "3.14", "…", "😀"]


def same_answer(first, second) -> bool:
    def key(answer):
        return answer.answer_markdown, answer.abstained, [(h.chunk.chunk_id, round(h.score, 6)) for h in answer.hits]

    return key(first) == key(second)


@pytest.mark.fast
@pytest.mark.parametrize("raw, expected", [
    (unicodedata.normalize("NFD", "배치 그룹"), "배치 그룹"),
    ("spr\u200bead", "spread"),
    ("spr\u200cea\u200dd\u2060\ufeff", "spread"),
    ("\u202espread\u202c \u200fgroup\u200e", "spread group"),
    ("spread\u00a0placement\u2028group\u2029x\u3000y\u2009z\u0085w", "spread placement group x y z w"),
    ("soft\u00adhyphen", "softhyphen"),
    ("e\u0301", "é"),
    ("plain text, 그대로.", "plain text, 그대로."),
])
def test_normalise_gives_nfc_without_invisibles_and_plain_spaces(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.fast
def test_clean_question_normalises():
    assert clean_question(unicodedata.normalize("NFD", SPREAD_KO), 4000)[0] == SPREAD_KO
    assert clean_question("\u200b\u00a0spr\u200bead\u2028", 4000)[0] == "spread"


@pytest.mark.fast
def test_notes_are_read_in_the_same_normal_form(tmp_path):
    note = tmp_path / "n.md"
    note.write_text(unicodedata.normalize("NFD", "# 배치\n분산\u200b 배치\u00a0그룹\u2028이다.\n"), encoding="utf-8")
    # U+2028 is a space, not a line break: line numbers match what an editor shows
    assert read_note(note) == ["# 배치", "분산 배치 그룹 이다."]


@pytest.mark.fast
@pytest.mark.parametrize("question", CONTENTLESS)
def test_contentless_questions_have_no_content(question):
    assert not has_content(question)


@pytest.mark.fast
@pytest.mark.parametrize("question", ["<script>alert(1)</script>", "<div><b>hi</b></div>", "<br/>"])
def test_markup_with_a_word_or_two_has_no_content(question):
    assert not has_content(question)


@pytest.mark.fast
@pytest.mark.parametrize("question", ["EC2", "배치", "NLB?", "m5.large", "AZ 7개", "spread", "<b>EC2 Hibernate</b>란?"])
def test_short_real_questions_have_content(question):
    assert has_content(question)


@pytest.mark.fast
def test_decomposed_korean_question_answers_like_composed(hash_assistant):
    composed = hash_assistant.ask(SPREAD_KO, mode="qa")
    decomposed = hash_assistant.ask(unicodedata.normalize("NFD", SPREAD_KO), mode="qa")
    assert composed.hits and same_answer(composed, decomposed)


@pytest.mark.fast
def test_decomposed_notes_answer_like_composed_notes(tmp_path, notes_dir, hash_assistant):
    for note in notes_dir.glob("*.md"):
        note.write_text(unicodedata.normalize("NFD", note.read_text(encoding="utf-8")), encoding="utf-8")
    decomposed = Assistant(make_settings(tmp_path / "nfd", notes_dir), log=lambda m: None)
    decomposed.ensure_index()
    assert same_answer(hash_assistant.ask(SPREAD_KO, mode="qa"), decomposed.ask(SPREAD_KO, mode="qa"))


@pytest.mark.fast
@pytest.mark.parametrize("mode", ["auto", "qa", "verify"])
@pytest.mark.parametrize("question", CONTENTLESS)
def test_contentless_questions_abstain_in_every_mode(hash_assistant, question, mode):
    answer = hash_assistant.ask(question, mode=mode)
    assert answer.abstained and answer.mode == "qa" and answer.choice is None


@pytest.mark.fast
def test_a_contentless_stem_with_options_is_still_an_exam(hash_assistant):
    answer = hash_assistant.ask("?", options={"A": "Spread placement group", "B": "Cluster placement group"})
    assert answer.mode == "exam" and answer.choice in ("A", "B")


@pytest.mark.model
@pytest.mark.parametrize("question", [".", "!!!", "ㅋㅋㅋ", "1", "a"])
def test_contentless_questions_abstain_with_e5(e5_assistant, question):
    assert e5_assistant.ask(question).abstained


@pytest.mark.model
@pytest.mark.parametrize("question, variant", [
    (SPREAD_KO, unicodedata.normalize("NFD", SPREAD_KO)),
    (SPREAD_EN, SPREAD_EN.replace("spread", "spr\u200bead")),
    (SPREAD_EN, SPREAD_EN.replace(" ", "\u00a0").replace("AZ", "\u200fAZ\u200e")),
])
def test_odd_text_answers_like_plain_text_with_e5(e5_assistant, question, variant):
    plain, odd = e5_assistant.ask(question, mode="qa"), e5_assistant.ask(variant, mode="qa")
    assert not plain.abstained and same_answer(plain, odd)
