"""First start: answers from BM25 over the notes while the first index is built, then hybrid.

The build is held at its first embedding step by a progress callback, which
is where the checks run: the provisional index is installed then, and the
build has not finished. Everything runs over the fixture notes with the fast
hash embedder (the browser test of the same flow is in test_ui_browser.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import make_settings
from rag import index as store
from rag.engine import Assistant
from rag.params import params_from_tables

pytestmark = pytest.mark.fast

SPREAD_Q = "How many instances per AZ can a spread placement group have?"
SPREAD_LINE = "이는 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다."
ANSWERING = params_from_tables({"abstain": {"similarity": 0.0}})  # the hash embedder's cosines are no similarity


def settings_for(tmp_path, notes_dir):
    return make_settings(tmp_path, notes_dir, params=ANSWERING)


class AtFirstEmbedding:
    """A progress callback that runs `check` once, when the build starts embedding."""

    def __init__(self) -> None:
        self.check = None
        self.ran = False

    def __call__(self, done: int, total: int, label: str) -> None:
        if label.startswith("embedding") and not self.ran:
            self.ran = True
            self.check()


def test_the_provisional_index_matches_the_built_one_without_vector_files(tmp_path, notes_dir):
    settings = make_settings(tmp_path, notes_dir)
    assistant = Assistant(settings, log=lambda m: None)
    quick = store.provisional(settings, assistant.embedders)
    assert quick.provisional and quick.manifest["generation"] == store.PROVISIONAL
    assert not quick.chunk_vectors and not quick.unit_vectors and not (tmp_path / "index").exists()
    assistant.ensure_index()
    built = assistant.state.data
    assert not built.provisional
    assert [c.chunk_id for c in quick.chunks] == [c.chunk_id for c in built.chunks]
    assert quick.chunk_tokens == built.chunk_tokens and quick.unit_tokens == built.unit_tokens
    tokens = assistant.query(SPREAD_Q).tokens
    assert quick.lexical.top(tokens, 10) == built.lexical.top(tokens, 10)
    ids = [5, 0, 7, 5]  # any order, repeats allowed: encoded on demand, once
    np.testing.assert_allclose(quick.unit_rows("hash", ids), built.unit_rows("hash", ids), atol=1e-6)
    assert quick.unit_rows("hash", []).shape == (0, built.unit_matrix("hash").shape[1])


def test_questions_are_answered_from_bm25_while_the_first_index_is_built(tmp_path, notes_dir):
    gate = AtFirstEmbedding()
    messages = []
    assistant = Assistant(settings_for(tmp_path, notes_dir), progress=gate, log=messages.append)
    seen = {}

    def during_the_build():
        assert assistant.answering and not (tmp_path / "index" / "CURRENT").exists()
        seen["qa"] = assistant.ask(SPREAD_Q)
        seen["hybrid asked"] = assistant.ask(SPREAD_Q, kind="hybrid")

    gate.check = during_the_build
    assert not assistant.answering
    report = assistant.ensure_index(provisional=True)
    assert gate.ran and report is not None
    for answer in (seen["qa"], seen["hybrid asked"]):  # no vectors yet: BM25 whatever was asked
        assert answer.provisional and answer.generation == store.PROVISIONAL
        assert answer.to_json()["provisional"] is True
        assert SPREAD_LINE in answer.answer_markdown and answer.citations
    assert any("answering from BM25 alone" in m for m in messages)
    after = assistant.ask(SPREAD_Q)
    assert not after.provisional and after.generation == report.generation
    assert report.embedded == report.chunks + report.units  # the build re-embeds all: the quick index has no vectors


def test_an_assistant_built_without_asking_for_it_never_serves_a_provisional_index(tmp_path, notes_dir):
    gate = AtFirstEmbedding()
    assistant = Assistant(make_settings(tmp_path, notes_dir), progress=gate, log=lambda m: None)
    gate.check = lambda: seen.append(assistant.answering)
    seen: list[bool] = []
    assistant.ensure_index()  # the CLI's way: the first question waits for the index
    assert seen == [False]


def test_the_page_answers_during_the_first_build_and_says_so(tmp_path, notes_dir):
    from ui.chat import Request, reply
    from ui.render import PROVISIONAL
    from ui.service import PageProgress, Service

    gate = AtFirstEmbedding()
    watcher = PageProgress(gate)
    service = Service(Assistant(settings_for(tmp_path, notes_dir), progress=watcher, log=lambda m: None), watcher)
    seen = {}

    def during_the_build():
        seen["answering"], seen["ready"], seen["notice"] = service.answering, service.ready, service.notice()
        seen["turn"] = reply(service, Request(SPREAD_Q, "auto"), (), {})

    gate.check = during_the_build
    assert not service.answering and "색인을 준비하는 중" in service.notice()
    service._prepare()  # what the background thread does, done here and now
    assert seen["answering"] and not seen["ready"]
    assert seen["notice"].startswith("**빠른 검색 (색인 중)**") and "embedding chunks (hash) 0%" in seen["notice"]
    turn = seen["turn"]
    assert PROVISIONAL in turn.reply_markdown and SPREAD_LINE in turn.reply_markdown
    assert turn.searched_with.startswith("검색: BM25 ·")
    assert turn.record["provisional"] is True
    assert service.ready and service.notice() == ""
    after = reply(service, Request(SPREAD_Q, "auto"), (), {})
    assert PROVISIONAL not in after.reply_markdown and after.record["provisional"] is False
