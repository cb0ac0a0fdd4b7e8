"""Which mode a message asks for, and the answer options pasted into it.

Options may be pasted as `A. …`, `A) …`, `(A) …` or `A: …`, one per line or
all on one line. A message with options is an exam question. A declarative
sentence (no question mark, no question word, a statement's shape) is a
statement to verify. Anything else is a question.
"""
from __future__ import annotations

import re

LINE_OPTION = re.compile(r"^\s*\(?([A-Fa-f])[.):\]]\s+(.+?)\s*$")
INLINE_OPTION = re.compile(r"(?:^|(?<=\s))\(?([A-F])[.):\]]\s+")
QUESTION_WORDS = re.compile(
    r"\b(what|which|how|why|when|where|who|whom|whose|explain|describe|compare|tell me|difference)\b"
    r"|^(is|are|does|do|did|can|could|should|will|would)\b"
    r"|어떻게|무엇|뭐|뭔|왜|언제|어디|어느|누가|몇|차이|설명|알려|정리해|비교|인가요|나요|까요",
    re.IGNORECASE,
)
KOREAN_STATEMENT_END = re.compile(r"(다|음|함|됨|임|요)[.!]?\s*$")
QUESTION_END = re.compile(r"(까|니|냐|나요|가요|죠|지)\s*[.?]?\s*$")


def parse_options(text: str) -> tuple[str, dict[str, str]]:
    """Split a pasted exam question into its stem and `{letter: option}`; no options gives `{}`."""
    lines = text.splitlines()
    options: dict[str, str] = {}
    stem_lines: list[str] = []
    for line in lines:
        match = LINE_OPTION.match(line)
        expected = chr(ord("A") + len(options))
        if match and match.group(1).upper() == expected:
            options[expected] = match.group(2)
        elif options and line.strip():
            last = list(options)[-1]
            options[last] += " " + line.strip()
        elif not options:
            stem_lines.append(line)
    if len(options) >= 2:
        return "\n".join(stem_lines).strip(), options
    return _parse_inline(text)


def _parse_inline(text: str) -> tuple[str, dict[str, str]]:
    markers = []
    for match in INLINE_OPTION.finditer(text):
        if match.group(1) == chr(ord("A") + len(markers)):
            markers.append(match)
    if len(markers) < 2:
        return text, {}
    options = {}
    for i, match in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        options[match.group(1)] = text[match.end():end].strip()
    if not all(options.values()):
        return text, {}
    return text[: markers[0].start()].strip(), options


def is_statement(text: str) -> bool:
    """True for a declarative sentence or passage rather than a question or request."""
    stripped = text.strip()
    if "?" in stripped or QUESTION_WORDS.search(stripped) or QUESTION_END.search(stripped):
        return False
    if re.search(r"[가-힣]", stripped):
        return bool(KOREAN_STATEMENT_END.search(stripped)) or len(stripped.split()) >= 6
    words = stripped.split()
    return len(words) >= 5 and bool(re.search(r"\b(is|are|was|were|can|cannot|can't|has|have|does|doesn't|"
                                               r"do|don't|will|won't|must|should|supports?|provides?|uses?|"
                                               r"allows?|requires?|costs?|gives?|runs?|works?|gets?|[a-z]+s)\b",
                                               stripped, re.IGNORECASE))


def detect_mode(text: str, options: dict[str, str]) -> str:
    if options:
        return "exam"
    return "verify" if is_statement(text) else "qa"
