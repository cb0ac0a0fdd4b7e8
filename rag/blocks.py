"""The notes' own blocks: a bullet with its sub-bullets, a lead-in line with its list, a prose line.

Answers quote whole blocks rather than loose sentences, so that a line that
introduces a list ("이유는 아래와 같다.") arrives with the list that answers
the question, and a line with two sentences arrives whole. Blocks are read
from a chunk's raw lines:

    이유는 아래와 같다.                      ┐ one block: a lead-in line
    -   EBS 볼륨 제한을 초과했을 때            │ and the list that follows it
    -   EBS 스냅샷이 손상되었을 때             ┘
    -   ENA는 최대 100Gbps를 제공한다.         ┐ one block: a bullet
        -   t2를 제외한 최신 세대에 설치된다.    ┘ and its indented children
    정확한 이유는 Description 탭에서 확인한다.   one block: a prose line
    -   **lowestPrice**:                     ┐ one block: a label and the lines
    -   최저 가격 풀에서 제공한다.              ┘ after it at its own depth
    -   대상 그룹의 옵션을 살펴보자              ┐ one block: a line that announces
    -   등록 취소 지연 (deregistration delay)   │ what follows ("…살펴보자",
    -   느린 시작 (slow start)                 ┘ "…란 무엇인가?") and its items

A count ("요청 유형은 두 가지이다.") or a bare title ("스팟 인스턴스 할당 전략")
heads its list the same way, and children keep their nesting. A blank line ends
a list, and a lone line ending in a colon takes the list after the blank line
that follows it. A line that heads items takes them only while they fit in
`MAX_CHILDREN` lines; the rest stand alone. Only lines that hold quotable units
(see `rag.notes.units_of`) take part, so code fences and tables stay out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rag.index import IndexData
from rag.types import Chunk

BULLET = re.compile(r"^(\s*)(?:[-*+]|(\d+)\.)\s+")
LEAD_IN = re.compile(r"(:|：|다음과 같다\.?|아래와 같다\.?|같다\.?|은|는|following:?)\s*$")
# Lines that head the list after them: a label ("**lowestPrice**:"), a bare title with no sentence ending
# ("스팟 인스턴스 할당 전략"), a count ("요청 유형은 두 가지이다.") and an announcement ("…을 살펴보자",
# "…이란 무엇인가?"; "…가정해보자", suppose, is none).
LABEL = re.compile(r"[:：]\s*$")
TITLE = re.compile(r"^[^.!?:：]{2,30}(?<![다요음함됨임])$")
COUNTED = re.compile(r"(두|세|네|다섯|몇|\d+)\s*가지(이다|가 있다)?\.?\s*$")
ANNOUNCE = re.compile(r"(살펴|알아|확인해)(보자|봅시다)\.?\s*$|\?\s*$")
SENTENCE_END = re.compile(r"[.!?]\s*$|[다요음함됨임]\s*$")
MAX_CHILDREN = 8  # a longer list is cut after this many items; the answer never dumps a whole section


@dataclass(frozen=True)
class Line:
    number: int  # line number in the source file
    text: str  # without the bullet marker
    depth: int  # 0 for the block's head, 1 for its children, 2 for theirs


@dataclass(frozen=True)
class Block:
    """A run of note lines that belong together, with the units (sentences) they hold."""

    chunk: Chunk
    lines: tuple[Line, ...]
    units: tuple[int, ...]  # rows of the index's unit list inside these lines
    position: int  # the block's order inside its chunk
    numbered: bool  # a numbered (step) list

    @property
    def children(self) -> int:
        return sum(line.depth > 0 for line in self.lines)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def first_line(self) -> int:
        return self.lines[0].number


def _indent(raw: str) -> int:
    return len(raw) - len(raw.lstrip(" \t").replace("\t", "    "))


def blocks_of(chunk: Chunk, data: IndexData) -> list[Block]:
    """The chunk's blocks in note order."""
    unit_ids = data.units_by_chunk.get(chunk.chunk_id, [])
    units_by_line: dict[int, list[int]] = {}
    for i in unit_ids:
        units_by_line.setdefault(data.units[i].line, []).append(i)
    raw = chunk.text.split("\n")
    groups: list[list[tuple[int, str, int, bool, bool]]] = []  # (number, text, indent, is_bullet, numbered)
    current: list = []
    for offset, line in enumerate(raw):
        number = chunk.line_start + offset
        if not line.strip():
            if current:
                groups.append(current)
            current = []
            continue
        if number not in units_by_line:
            continue
        match = BULLET.match(line)
        text = (line[match.end():] if match else line).strip().lstrip("> ").strip()
        current.append((number, text, _indent(line), bool(match), bool(match and match.group(2))))
    if current:
        groups.append(current)
    groups = _join_lead_ins(groups)
    blocks: list[Block] = []
    for group in groups:
        for members in _split_group(group):
            kept = members[:MAX_CHILDREN + 1]
            levels = sorted({indent for _, _, indent, *_rest in kept[1:]})  # children keep their nesting
            lines = tuple(Line(n, text, 0 if k == 0 else 1 + levels.index(indent))
                          for k, (n, text, indent, *_rest) in enumerate(kept))
            units = tuple(i for line in lines for i in units_by_line.get(line.number, []))
            blocks.append(Block(chunk, lines, units, len(blocks), any(m[4] for m in members)))
    return blocks


def _join_lead_ins(groups: list[list[tuple]]) -> list[list[tuple]]:
    """A lone line ending in a colon takes the list after the blank line that follows it ("예를 들면:")."""
    out: list[list[tuple]] = []
    for group in groups:
        lone = out[-1][0] if out and len(out[-1]) == 1 else None  # (number, text, indent, is_bullet, numbered)
        if lone and not lone[3] and lone[1].endswith((":", "：")) and group[0][3]:
            out[-1] = out[-1] + group
        else:
            out.append(group)
    return out


def _split_group(group: list[tuple]) -> list[list[tuple]]:
    """Cut one paragraph (lines between blank lines) into blocks."""
    out: list[list[tuple]] = []
    i = 0
    while i < len(group):
        number, text, indent, is_bullet, _ = group[i]
        j = _bullet_end(group, i) if is_bullet else i + 1
        if is_bullet and j == i + 1 and (LABEL.search(text) or ANNOUNCE.search(text)):
            j = _items_end(group, i, indent, stop_at_label=bool(LABEL.search(text)))
        elif not is_bullet and j < len(group) and group[j][3] and heads_a_list(text):
            j = _items_end(group, i, group[j][2], stop_at_label=False)  # a lead-in line takes the list after it
        elif not is_bullet and ANNOUNCE.search(text):
            while j < len(group) and j - i <= MAX_CHILDREN:  # "…살펴보자." takes the rest of its paragraph
                j += 1
        out.append(group[i:j])
        i = j
    return out


def heads_a_list(text: str) -> bool:
    """A prose line that introduces the list after it: a lead-in ("이유는 아래와 같다."), an announcement, a count
    ("두 가지이다.") or a bare title ("스팟 인스턴스 할당 전략")."""
    return bool(LEAD_IN.search(text) or ANNOUNCE.search(text) or COUNTED.search(text) or TITLE.match(text))


def bare_name(text: str) -> bool:
    """A bare name or label ("capacityOptimized", "**diversified**:"), not a sentence."""
    return bool(TITLE.match(text) or LABEL.search(text))


def _bullet_end(group: list[tuple], i: int) -> int:
    """Where the bullet at `i` and its indented children end."""
    j = i + 1
    while j < len(group) and group[j][3] and group[j][2] > group[i][2]:
        j += 1
    return j


def _items_end(group: list[tuple], i: int, indent: int, stop_at_label: bool) -> int:
    """Where the items that the line at `i` heads end: the bullets at depth `indent` after it, each with its
    children, up to the next label (for a label) or announcement, and only while they fit in `MAX_CHILDREN` lines."""
    j, described = i + 1, True
    while j < len(group) and group[j][3] and group[j][2] == indent:
        if (stop_at_label and LABEL.search(group[j][1])) or ANNOUNCE.search(group[j][1]):
            break
        end = _bullet_end(group, j)
        if end - i - 1 > MAX_CHILDREN:
            break
        if end == len(group) and end - j == 1 and described and j > i + 1 and bare_name(group[j][1]):
            break  # a bare name last, without the description every item before it has: the chunk ends before it
        described = described and end - j > 1
        j = end
    return j


def first_item(data: IndexData, chunk: Chunk, line_number: int) -> int | None:
    """The line after note line `line_number` in its block when that line is a bare label ("**lowestPrice**:")
    and the next line is listed under it or beside it (its description), or when it is no sentence and the next
    line is listed under it ("등록 취소 지연 (deregistration delay)", too long for a bare title); else None."""
    for block in blocks_of(chunk, data):
        for k, line in enumerate(block.lines[:-1]):
            if line.number == line_number:
                after = block.lines[k + 1]
                labels = (bare_name(line.text) and after.depth >= line.depth
                          or not SENTENCE_END.search(line.text) and after.depth > line.depth)
                return after.number if labels else None
    return None


def section_blocks(data: IndexData, section_key: tuple) -> list[Block]:
    """Every block of a section, chunk by chunk."""
    return [b for chunk in data.chunks_by_section.get(section_key, []) for b in blocks_of(chunk, data)]
