"""Conversations kept in the visitor's browser: turns to JSON and back, the current one and the past ones.

The page stores two values in the browser's local storage (through
`gr.BrowserState`): the current conversation and a short list of past ones.
Nothing is kept on the server. Every turn carries the chunks it cites, so a
restored conversation shows its sources even after the notes were
re-indexed. What cannot be read back (an older format, a damaged value) is
dropped with a one-line notice instead of breaking the page.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace

from rag.types import Chunk
from ui.render import ChatTurn, Source

FORMAT = 1
MAX_PAST = 20  # past conversations kept in the browser
MAX_TURNS = 60  # turns kept per conversation (the oldest go first)
TITLE_CHARS = 40


@dataclass(frozen=True)
class Conversation:
    id: str
    started: float
    turns: tuple[ChatTurn, ...] = ()

    @property
    def title(self) -> str:
        first = next((t.question or t.user_markdown for t in self.turns), "")
        first = " ".join(first.split())
        return first if len(first) <= TITLE_CHARS else first[:TITLE_CHARS] + "…"

    def add(self, turn: ChatTurn) -> "Conversation":
        return replace(self, turns=(*self.turns, turn)[-MAX_TURNS:])

    def label(self) -> str:
        when = time.strftime("%m-%d %H:%M", time.localtime(self.started))
        return f"{when} · {self.title or '(빈 대화)'} · {len(self.turns)}턴"


def new_conversation() -> Conversation:
    return Conversation(uuid.uuid4().hex[:12], time.time())


def chunk_to_json(chunk: Chunk) -> dict:
    return {**chunk.location(), "text": chunk.text}


def chunk_from_json(data: dict) -> Chunk:
    return Chunk(str(data["chunk_id"]), str(data["source"]), tuple(str(h) for h in data["heading_path"]),
                 int(data["line_start"]), int(data["line_end"]), str(data["text"]), 0)


def turn_to_json(turn: ChatTurn) -> dict:
    return {
        "number": turn.number, "user_markdown": turn.user_markdown, "reply_markdown": turn.reply_markdown,
        "question": turn.question, "mode": turn.mode, "topic": turn.topic, "context": turn.context,
        "seconds": round(turn.seconds, 3), "record": turn.record, "options": turn.options,
        "searched_with": turn.searched_with,
        "sources": [{"n": s.n, "chunk": chunk_to_json(s.chunk), "sentences": list(s.sentences)} for s in turn.sources],
    }


def turn_from_json(data: dict) -> ChatTurn:
    sources = tuple(Source(int(s["n"]), chunk_from_json(s["chunk"]), tuple(str(x) for x in s["sentences"]))
                    for s in data.get("sources", []))
    context = data.get("context")
    return ChatTurn(int(data["number"]), str(data["user_markdown"]), str(data["reply_markdown"]),
                    question=str(data.get("question", "")), mode=str(data.get("mode", "")), sources=sources,
                    topic=str(data.get("topic", "")), context=None if context is None else str(context),
                    seconds=float(data.get("seconds", 0.0)), record=dict(data.get("record") or {}),
                    options={str(k): str(v) for k, v in (data.get("options") or {}).items()},
                    searched_with=str(data.get("searched_with", "")))


def to_json(conversation: Conversation) -> dict:
    return {"format": FORMAT, "id": conversation.id, "started": conversation.started,
            "turns": [turn_to_json(t) for t in conversation.turns]}


def from_json(data) -> Conversation:
    """A stored conversation; ValueError when it cannot be read back."""
    try:
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        turns = tuple(turn_from_json(t) for t in data["turns"])
        return Conversation(str(data["id"]), float(data["started"]), turns)
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"stored conversation unreadable ({type(err).__name__}: {err})") from None


def restore(current, past) -> tuple[Conversation, list[Conversation], str]:
    """The conversations stored in the browser, and a notice naming what could not be read ("" if none)."""
    dropped = 0
    try:
        conversation = from_json(current) if current else new_conversation()
    except ValueError:
        conversation, dropped = new_conversation(), 1
    kept = []
    for item in past if isinstance(past, list) else []:
        try:
            kept.append(from_json(item))
        except ValueError:
            dropped += 1
    notice = (f"브라우저에 저장된 대화 {dropped}개를 읽을 수 없어 건너뛰었습니다 "
              "(saved conversations from an older page version were skipped).") if dropped else ""
    return conversation, kept[:MAX_PAST], notice


def archive(conversation: Conversation, past: list[Conversation]) -> list[Conversation]:
    """The past list with `conversation` first (when it has turns), each conversation once, newest first."""
    others = [c for c in past if c.id != conversation.id]
    return ([conversation] if conversation.turns else []) + others[: MAX_PAST - 1]


def choices(past: list[Conversation]) -> list[tuple[str, str]]:
    """(label, id) pairs for the past-conversations list."""
    return [(c.label(), c.id) for c in past]
