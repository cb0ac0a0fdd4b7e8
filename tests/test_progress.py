"""Progress on tqdm: redrawn bars on a terminal, ~10 plain lines per task elsewhere, visible to Gradio's tracker."""
from __future__ import annotations

import io
import types

import pytest

from rag.progress import Bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.fast
def test_a_stream_that_is_no_terminal_gets_about_ten_plain_lines_per_task():
    out = io.StringIO()
    bar = Bar(out)
    for done in range(1001):
        bar(done, 1000, "embedding chunks (e5)")
    for done in range(4):
        bar(done, 3, "tokenising notes")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    embedding = [line for line in lines if line.startswith("embedding chunks (e5):")]
    assert len(embedding) == 11 and "1000/1000" in embedding[-1] and "100%" in embedding[-1]
    assert [line.split("|")[-1].split()[0] for line in lines[11:]] == ["0/3", "1/3", "2/3", "3/3"]


@pytest.mark.fast
def test_a_terminal_gets_one_redrawn_tqdm_bar_per_task_left_in_place():
    out = Terminal()
    bar = Bar(out)
    for done in range(101):
        bar(done, 100, "indexing vectors")
    bar(0, 0, "embedding sentences (e5)")
    text = out.getvalue()
    assert text.startswith("\rindexing vectors:") and "100/100" in text
    assert text.count("\n") == 2  # each finished bar stays as one line


@pytest.mark.fast
def test_gradio_track_tqdm_sees_the_bars_even_without_a_terminal():
    import gradio as gr
    from gradio.context import LocalContext

    updates = []
    queue = types.SimpleNamespace(set_progress=lambda event, bars: updates.append([(b.desc, b.index, b.length)
                                                                                    for b in bars]))
    tokens = [LocalContext.blocks.set(types.SimpleNamespace(_queue=queue)), LocalContext.event_id.set("event"),
              LocalContext.progress.set(gr.Progress(track_tqdm=True))]
    try:
        bar = Bar(io.StringIO())
        for done in range(5):
            bar(done, 4, "embedding chunks (e5)")
    finally:
        for var, token in zip((LocalContext.blocks, LocalContext.event_id, LocalContext.progress), tokens):
            var.reset(token)
    assert ("embedding chunks (e5)", 2, 4) in [step for steps in updates for step in steps]
    assert updates[-1] == []  # the finished bar is closed, so the page drops it
