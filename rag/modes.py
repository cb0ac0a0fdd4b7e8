"""Which mode a message asks for, and the answer options pasted into it.

Options may be pasted as `A. …`, `A) …`, `(A) …` or `A: …`, one per line or
all on one line. A message with options is an exam question. A declarative
sentence (no question mark, no question word, a statement's shape) is a
statement to verify. Anything else is a question.
"""
from __future__ import annotations

import re

from rag.language import KOREAN, PROFILES, profile_of

LINE_OPTION = re.compile(r"^\s*\(?([A-Fa-f])[.):\]]\s+(.+?)\s*$")
INLINE_OPTION = re.compile(r"(?:^|(?<=\s))\(?([A-F])[.):\]]\s+")
ENGLISH_PREDICATE = re.compile(r"\b(is|are|was|were|can|cannot|can't|has|have|does|doesn't|do|don't|will|won't|must|"
                               r"should|supports?|provides?|uses?|allows?|requires?|costs?|gives?|runs?|works?|gets?|"
                               r"[a-z]+s)\b", re.IGNORECASE)


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
    """True for a declarative sentence or passage rather than a question or request.

    A question word or a question ending of any language makes it a question; the statement's shape is
    judged by the profile of the text's own language.
    """
    stripped = text.strip()
    if "?" in stripped or any(p.question_words.search(stripped) for p in PROFILES.values()):
        return False
    if any(p.question_end and p.question_end.search(stripped) for p in PROFILES.values()):
        return False
    if profile_of(stripped) is KOREAN:
        return bool(KOREAN.statement_end.search(stripped)) or len(stripped.split()) >= 6
    return len(stripped.split()) >= 5 and bool(ENGLISH_PREDICATE.search(stripped))


def detect_mode(text: str, options: dict[str, str]) -> str:
    if options:
        return "exam"
    return "verify" if is_statement(text) else "qa"
