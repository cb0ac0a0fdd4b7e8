"""Quiz mode: answer a multiple-choice question first, then see right or wrong, the reasons and the notes.

Questions come from the gold files (the MCQ items of `eval/gold/*.jsonl`),
from an uploaded set (JSON Lines in the same shape: `question`, `options`,
optionally `answer`) or from one pasted question (options as `A. …`, an
optional `정답: B` / `Answer: B` line). The assistant's exam answer is
computed only after the student picks, so nothing on the page gives it
away. A question with an answer key is marked against the key, one without
against the assistant's pick, which the page says may itself be wrong.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from rag.batch import LineError, item_from_record
from rag.modes import parse_options
from ui.jsonl import records
from ui.render import honesty_lines, literal_markdown, safe_markdown

ANSWER_LINE = re.compile(r"^\s*(?:정답|answer)\s*[:：]\s*\(?([A-Fa-f])\)?\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class QuizItem:
    id: str
    question: str
    options: dict
    answer: str | None  # the answer key, when the set has one
    origin: str  # the file the question came from, or "붙여 넣은 문제"


@dataclass(frozen=True)
class QuizState:
    """A session's quiz: the questions, where it is, and the score so far."""

    items: tuple[QuizItem, ...] = ()
    index: int = 0
    right: int = 0
    answered: int = 0
    checked: bool = False

    @property
    def current(self) -> QuizItem | None:
        return self.items[self.index] if self.items else None

    def next(self) -> "QuizState":
        return replace(self, index=(self.index + 1) % len(self.items), checked=False) if self.items else self

    def scored(self, correct: bool) -> "QuizState":
        return replace(self, right=self.right + correct, answered=self.answered + 1, checked=True)

    def score_text(self) -> str:
        if not self.items:
            return "문제 세트를 고르거나 올리거나 붙여 넣으세요."
        return (f"**점수 {self.right} / {self.answered}** · 문제 {self.index + 1} / {len(self.items)} "
                f"({literal_markdown(self.current.origin)})")


def item_from_json(record, line: int, origin: str) -> QuizItem | str:
    """A quiz question from one JSON record, or the reason it is not one."""
    item = item_from_record(record, line)
    if isinstance(item, LineError):
        return str(item)
    if not item.options or len(item.options) < 2:
        return f"line {line}: a quiz question needs 'options' with at least two choices"
    answer = record.get("answer")
    if answer is not None and answer not in item.options:
        return f"line {line}: answer {answer!r} is not one of the options {sorted(item.options)}"
    return QuizItem(item.id, item.question, dict(item.options), answer, origin)


def items_from_text(text: str, origin: str) -> tuple[list[QuizItem], list[str]]:
    """Questions from JSON Lines text; lines that are not multiple-choice questions are listed, not fatal."""
    items, problems = [], []
    for number, record, problem in records(text):
        if problem:
            problems.append(f"line {number}: {problem}")
            continue
        if isinstance(record, dict) and "options" not in record and "statement" not in record and "question" in record:
            continue  # an open question of a gold file: not a quiz question
        item = item_from_json(record, number, origin)
        (problems if isinstance(item, str) else items).append(item)
    return items, problems


def quiz_files(folder: Path) -> list[str]:
    """Gold files that hold multiple-choice questions."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.glob("*.jsonl") if '"options"' in p.read_text(encoding="utf-8", errors="replace"))


def item_from_paste(text: str) -> QuizItem | str:
    """One pasted question (stem, options `A. …`, optional `정답: B`), or what is missing."""
    key = ANSWER_LINE.search(text)
    stem, options = parse_options(ANSWER_LINE.sub("", text).strip())
    if len(options) < 2:
        return "보기를 찾지 못했습니다. 보기를 'A. …', 'B. …'처럼 한 줄에 하나씩 붙여 넣으세요 (paste options as A. … B. …)."
    answer = key.group(1).upper() if key else None
    if answer is not None and answer not in options:
        return f"정답 {answer}이(가) 보기에 없습니다 (the answer key is not one of the options)."
    return QuizItem("pasted", stem, options, answer, "붙여 넣은 문제")


def question_markdown(item: QuizItem) -> str:
    return f"### {literal_markdown(item.question)}"


def option_choices(item: QuizItem) -> list[tuple[str, str]]:
    return [(f"{key}. {text}", key) for key, text in item.options.items()]


def verdict_markdown(item: QuizItem, picked: str, record: dict) -> tuple[bool, str]:
    """Whether `picked` is right, and the result shown: right/wrong, the assistant's pick, its reasons."""
    choice = record.get("choice")
    key = item.answer or choice
    correct = picked == key
    head = "### ✓ 정답입니다" if correct else f"### ✗ 오답입니다 — 정답은 **{key}**"
    against = "문제의 정답 키와 비교했습니다." if item.answer else \
        "정답 키가 없어 도우미의 답과 비교했습니다 (도우미도 틀릴 수 있습니다)."
    assistant = f"도우미의 답: **{choice}**" + (" — 정답 키와 다릅니다" if item.answer and choice != item.answer else "")
    parts = [head, f"고른 답: **{picked}** · {against}", assistant, *honesty_lines(record), "---",
             safe_markdown(record["answer_markdown"])]
    return correct, "\n\n".join(parts)
