"""Parse Markdown notes into a heading tree and cut each section into chunks.

Sections open at `#`..`######` heading lines and at lines that are only a bold
title (`**InsufficientInstanceCapacity**`). A bold title's level is one below
the last real heading; a bold title that carries a course tag such as
`[SAA/DVA]` is a lecture title and sits at the `##` level, as the notes write
lecture titles. A summary heading or bold line (`정리`, or `Summary` in
English notes: `rag.language`) opens the lecture's summary block: its chunks
keep the lecture's heading path and are tagged `is_summary`. Each chunk
records the language of its prose. Top-level sections named in `skip_sections` (the custom
instructions) are not notes and are left out.

Chunks hold whole source lines, so every line keeps its line number. A
section longer than `max_tokens` is split at line boundaries; a single line
over the cap is cut at sentence ends, then at the cap itself.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from rag.text import normalise
from rag.language import chunk_language, is_summary_title
from rag.tokens import count_tokens
from rag.types import Chunk

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
BOLD_TITLE = re.compile(r"^\*\*([^*].*?)\*\*\s*$")
COURSE_TAG = re.compile(r"^\\?\[[A-Z/]+\]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
BULLET = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")
SUMMARY_ID = "정리"  # the summary block's id suffix; kept in every language so chunk ids stay stable
UNITS_VERSION = 4  # bump when chunking or sentence splitting changes, so indexes rebuild
LECTURE_LEVEL = 2


class NotesError(Exception):
    """A notes file cannot be read; the message names the file and the fix."""


@dataclass(frozen=True)
class ChunkerSettings:
    max_tokens: int = 400
    skip_sections: tuple[str, ...] = ("Custom Instructions",)


@dataclass(frozen=True)
class Unit:
    """One sentence or bullet of a chunk, the grain the composer quotes."""

    chunk_id: str
    line: int
    text: str


def heading_text(raw: str) -> str:
    """Heading text as written on its line, without `#`s and surrounding `**`."""
    text = raw.strip()
    while text.startswith("**") and text.endswith("**") and len(text) > 4:
        text = text[2:-2].strip()
    return text


def read_note(path: Path) -> list[str]:
    """The file's lines, normalised (`rag.text`); a decoding failure names the file and the line."""
    data = path.read_bytes()
    try:
        return normalise(data.decode("utf-8-sig")).splitlines()
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise NotesError(
            f"{path}: line {line} is not valid UTF-8; re-save the file as UTF-8 and run `rag index` again"
        ) from None


@dataclass
class _Section:
    path: tuple[str, ...]
    levels: tuple[int, ...]
    is_summary: bool
    lines: list[tuple[int, str]]


def split_sections(title: str, lines: list[str], settings: ChunkerSettings) -> list[_Section]:
    """Walk the lines once, opening a section at each heading or bold title.

    Text above the first heading belongs to a section named `title`.
    """
    path: tuple[str, ...] = (title,)
    levels: tuple[int, ...] = (0,)
    real_level = 0
    current = _Section(path, levels, False, [])
    sections: list[_Section] = [current]
    in_fence = False
    skipping = False
    previous_was_title = False

    def open_section(text: str, level: int, is_summary: bool = False) -> None:
        nonlocal path, levels, current
        if is_summary:
            keep = [i for i, lv in enumerate(levels) if lv <= LECTURE_LEVEL]
            depth = keep[-1] + 1 if keep else len(levels)
            current = _Section(path[:depth], levels[:depth], True, [])
        else:
            depth = sum(1 for lv in levels if 0 < lv < level)
            path, levels = path[:depth] + (text,), levels[:depth] + (level,)
            current = _Section(path, levels, False, [])
        sections.append(current)

    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        heading = None if in_fence else HEADING.match(stripped)
        bold = None if in_fence or heading else BOLD_TITLE.match(stripped)
        if heading:
            level, text = len(heading.group(1)), heading_text(heading.group(2))
            if level == 1:
                skipping = text in settings.skip_sections
            if is_summary_title(text):
                open_section(text, level, is_summary=True)
            else:
                real_level = level
                open_section(text, level)
            previous_was_title = True
        elif bold:
            text = heading_text(bold.group(0))
            if is_summary_title(text):
                open_section(text, 0, is_summary=True)
            elif COURSE_TAG.match(text):
                real_level = LECTURE_LEVEL
                open_section(text, LECTURE_LEVEL)
            else:
                level = levels[-1] + 1 if previous_was_title and levels else real_level + 1
                open_section(text, level)
            previous_was_title = True
        elif not skipping:
            current.lines.append((number, line))
            previous_was_title = previous_was_title and not stripped
    return [s for s in sections if any(t.strip() for _, t in s.lines)]


def _pieces(line: str, max_tokens: int) -> list[str]:
    """Split one over-long line at sentence ends, then at the token cap."""
    from rag.tokens import truncate_to_tokens

    out: list[str] = []
    for sentence in SENTENCE_END.split(line):
        while count_tokens(sentence) > max_tokens:
            head = truncate_to_tokens(sentence, max_tokens)
            out.append(head)
            sentence = sentence[len(head):]
        if sentence:
            out.append(sentence)
    return out


def chunk_id(source: str, heading_path: tuple[str, ...], ordinal: int) -> str:
    """Stable id from file, heading path and position within that path."""
    key = "\x1f".join((source, *heading_path, str(ordinal)))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def chunk_note(source: str, lines: list[str], settings: ChunkerSettings) -> list[Chunk]:
    """All chunks of one note file, in file order."""
    chunks: list[Chunk] = []
    ordinals: dict[tuple[str, ...], int] = {}

    def emit(section: _Section, body: list[tuple[int, str]]) -> None:
        while body and not body[-1][1].strip():
            body.pop()
        while body and not body[0][1].strip():
            body.pop(0)
        if not body:
            return
        text = "\n".join(t for _, t in body)
        ordinal = ordinals.get(section.path, 0)
        ordinals[section.path] = ordinal + 1
        chunks.append(Chunk(
            chunk_id=chunk_id(source, section.path + ((SUMMARY_ID,) if section.is_summary else ()), ordinal),
            source=source,
            heading_path=section.path,
            line_start=body[0][0],
            line_end=body[-1][0],
            text=text,
            token_count=count_tokens(text),
            is_summary=section.is_summary,
            lang=chunk_language(text),
        ))

    for section in split_sections(Path(source).stem, lines, settings):
        body: list[tuple[int, str]] = []
        used = 0
        for number, line in section.lines:
            cost = count_tokens(line) + 1
            if cost > settings.max_tokens:
                emit(section, body)
                body, used = [], 0
                for piece in _pieces(line, settings.max_tokens):
                    emit(section, [(number, piece)])
                continue
            if used + cost > settings.max_tokens and body:
                emit(section, body)
                body, used = [], 0
            body.append((number, line))
            used += cost
        emit(section, body)
    return chunks


def units_of(chunk: Chunk) -> list[Unit]:
    """The chunk's sentences and bullets, each with its source line."""
    units: list[Unit] = []
    for offset, line in enumerate(chunk.text.split("\n")):
        text = BULLET.sub("", line).strip()
        if len(text) < 4 or text.startswith(("```", "|", "{", "}", "\"")):
            continue
        text = text.lstrip("> ").strip()
        if BOLD_TITLE.match(text):
            continue
        for sentence in SENTENCE_END.split(text):
            if len(sentence.strip()) >= 4 and not BOLD_TITLE.match(sentence.strip()):
                units.append(Unit(chunk.chunk_id, chunk.line_start + offset, sentence.strip()))
    return units


def note_files(corpus_dir: Path) -> list[Path]:
    """Every `*.md` under `corpus_dir`, sorted; none is an error that says where to put them."""
    files = sorted(p for p in corpus_dir.rglob("*.md") if p.is_file()) if corpus_dir.is_dir() else []
    if not files:
        raise NotesError(
            f"no notes found: put your Markdown notes (*.md) into {corpus_dir}/ and run `rag index`"
        )
    return files


def note_hashes(corpus_dir: Path, files: list[Path] | None = None) -> dict[str, str]:
    """A content hash per note file (`files`, else every note under `corpus_dir`): all an index's staleness
    check needs, without reading or chunking."""
    return {p.relative_to(corpus_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (files if files is not None else note_files(corpus_dir))}


def load_corpus(corpus_dir: Path, settings: ChunkerSettings) -> tuple[list[Chunk], dict[str, str]]:
    """Chunks of every `*.md` under `corpus_dir` plus a content hash per file, from one listing of the files."""
    files = note_files(corpus_dir)
    chunks: list[Chunk] = []
    for path in files:
        chunks.extend(chunk_note(path.relative_to(corpus_dir).as_posix(), read_note(path), settings))
    return chunks, note_hashes(corpus_dir, files)
