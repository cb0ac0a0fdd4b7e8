"""Answer feedback: "틀렸어요 / 도움됐어요" with an optional comment, kept in a local JSON Lines file.

Each entry holds the question, the answer, the mode and the comment, and is
appended to `feedback.jsonl` in the index folder; nothing leaves the machine.
The eval tab lists the entries and turns them into draft gold items in the
gold format (`eval/gold/*.jsonl`), with the fields a person must still fill
in left empty and a `note` saying so.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

from ui.jsonl import records
from ui.render import ChatTurn

FEEDBACK_FILE = "feedback.jsonl"
RATINGS = {"wrong": "틀렸어요", "helpful": "도움됐어요"}
_write_lock = threading.Lock()


class FeedbackError(Exception):
    """Feedback cannot be saved; the message names the file and the fix."""


def entry_for(turn: ChatTurn, rating: str, comment: str) -> dict:
    """The feedback entry for one answered turn."""
    if rating not in RATINGS:
        raise FeedbackError(f"unknown rating {rating!r}; use one of {', '.join(RATINGS)}")
    record = turn.record
    return {
        "id": f"fb-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "rating": rating,
        "mode": turn.mode,
        "question": turn.question,
        "options": turn.options or None,
        "answer_markdown": record.get("answer_markdown", ""),
        "abstained": bool(record.get("abstained")),
        "choice": record.get("choice"),
        "is_correct": record.get("is_correct"),
        "confidence": record.get("confidence"),
        "uncertain": bool(record.get("uncertain")),
        "retrieval_text": record.get("retrieval_text", ""),
        "cited_headings": list(dict.fromkeys(s.chunk.heading_path[-1] for s in turn.sources)),
        "generation": record.get("generation", ""),
        "comment": " ".join(comment.split())[:2000],
    }


def save(folder: Path, entry: dict) -> Path:
    """Append `entry` to the feedback file in `folder`; returns the file."""
    path = folder / FEEDBACK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _write_lock, path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")
    except OSError as err:
        raise FeedbackError(f"cannot write {path} ({err.strerror or err}); make the index folder writable") from None
    return path


def load(folder: Path) -> tuple[list[dict], list[str]]:
    """The saved entries, oldest first, and one message per unreadable line."""
    path = folder / FEEDBACK_FILE
    if not path.exists():
        return [], []
    entries, errors = [], []
    for number, entry, problem in records(path.read_text(encoding="utf-8", errors="replace")):
        if problem is None and isinstance(entry, dict) and entry.get("rating") in RATINGS \
                and isinstance(entry.get("question"), str):
            entries.append(entry)
        else:
            errors.append(f"{FEEDBACK_FILE}:{number}: {problem or 'not a feedback entry'}")
    return entries, errors


def table_rows(entries: list[dict]) -> list[list]:
    """Rows for the eval tab's list, newest first."""
    return [[e.get("time", "").replace("T", " "), RATINGS[e["rating"]], e.get("mode", ""), e["question"],
             e.get("choice") or "", e.get("comment", "")] for e in reversed(entries)]


def draft_gold(entry: dict) -> dict:
    """A draft gold item in the gold format of the entry's kind (`eval/gold/README.md`), for a person to complete.

    A "도움됐어요" entry proposes the answer's own result (choice, verdict, cited headings), which the harness
    accepts as is; a "틀렸어요" entry leaves those fields empty, so the harness refuses the draft until a person
    fills them in. `evidence_ko` and `key_terms` are always left for the person; the `note` says so.
    """
    helpful = entry["rating"] == "helpful"
    comment = f"; 의견: {entry['comment']}" if entry.get("comment") else ""
    note = (f"초안 — 피드백 '{RATINGS[entry['rating']]}'{comment}. 빈 필드를 채우고 evidence_ko(노트 문장)와 "
            "key_terms를 더해 노트와 대조해 검토한 뒤 dev_ 또는 test_ 파일에 옮기세요.")
    item_id = "draft-" + str(entry.get("id", uuid.uuid4().hex[:8]))
    headings = list(entry.get("cited_headings", [])) if helpful else []
    if entry.get("mode") == "exam" and entry.get("options"):
        return {"id": item_id, "question": entry["question"], "options": entry["options"],
                "answer": (entry.get("choice") or "") if helpful else "", "gold_headings": headings,
                "key_terms": [], "note": note}
    if entry.get("mode") == "verify":
        verdict = entry.get("is_correct") if helpful and isinstance(entry.get("is_correct"), bool) else None
        return {"id": item_id, "statement": entry["question"], "is_correct": verdict, "wrong_span": None,
                "correction_ko": None, "gold_headings": headings, "note": note}
    if entry.get("abstained") and helpful:  # the notes rightly had no answer: an out-of-scope item
        return {"id": item_id, "question": entry["question"], "note": note + " category(absent/near_miss/junk)를 정하세요."}
    return {"id": item_id, "question": entry["question"], "gold_headings": headings, "key_terms": [], "note": note}


def export_drafts(entries: list[dict], path: Path) -> Path:
    """Write every entry's draft gold item to `path` (JSON Lines)."""
    path.write_text("".join(json.dumps(draft_gold(e), ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    return path
