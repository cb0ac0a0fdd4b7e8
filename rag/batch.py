"""Batch answering: read a question set, answer each item, write JSON Lines.

Input is JSON Lines (each record has `id` and `question`, optionally with
`options`, or `statement`) or CSV with `id,question` columns. A malformed
line is reported with its line number and skipped; the rest are answered.
Output lines follow input order. A rerun after an interruption keeps the
complete lines already written and answers only the missing ids.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from rag.progress import Progress, silent


@dataclass(frozen=True)
class Item:
    line: int
    id: str
    question: str
    options: dict[str, str] | None
    mode: str


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a long question is a question, not a CSV error
JSON_ERRORS = (json.JSONDecodeError, RecursionError, ValueError)  # deep nesting, 4300+ digit integers


def _decode(data: bytes, name: str) -> tuple[str, list[LineError]]:
    """Text of the file; undecodable lines are blanked and reported."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        errors = []
        lines = []
        for number, raw in enumerate(data.split(b"\n"), 1):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                errors.append(LineError(number, f"not valid UTF-8 in {name}; re-save the file as UTF-8"))
                lines.append("")
        return "\n".join(lines), errors


def item_from_record(record, line: int) -> Item | LineError:
    if not isinstance(record, dict):
        return LineError(line, "expected a JSON object with id and question (or statement)")
    item_id = record.get("id")
    if item_id is None or (isinstance(item_id, str) and not item_id.strip()):
        return LineError(line, "missing field 'id'")
    question, statement = record.get("question"), record.get("statement")
    text = question if question is not None else statement
    if not isinstance(text, str) or not text.strip():
        return LineError(line, "missing field 'question' (or 'statement') with non-empty text")
    options = record.get("options")
    if options is not None and (not isinstance(options, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in options.items())):
        return LineError(line, "field 'options' must map letters to option text, e.g. {\"A\": \"...\"}")
    mode = "verify" if question is None else ("exam" if options else "auto")
    return Item(line, str(item_id), text, options or None, mode)


def read_items(path: Path | None = None, data: bytes | None = None, name: str = "") -> tuple[list[Item], list[LineError]]:
    """Items and per-line errors of a JSON Lines or CSV question set."""
    name = name or (path.name if path else "input")
    if data is None:
        data = path.read_bytes()
    text, errors = _decode(data, name)
    items: list[Item] = []
    if _is_csv(name, text):
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            if not reader.fieldnames or not {"id", "question"} <= set(reader.fieldnames):
                header = LineError(1, "CSV needs a header row with id,question columns")
                return [], sorted(errors + [header], key=lambda e: e.line)
            for row in reader:
                result = item_from_record({"id": row.get("id"), "question": row.get("question")}, reader.line_num)
                (errors if isinstance(result, LineError) else items).append(result)
        except csv.Error as err:
            errors.append(LineError(reader.line_num, f"CSV cannot be read past this line ({err})"))
    else:
        undecodable = {e.line for e in errors}
        for number, line in enumerate(text.split("\n"), 1):
            if not line.strip() or number in undecodable:
                continue
            try:
                record = json.loads(line)
            except JSON_ERRORS as err:
                reason = err.msg if isinstance(err, json.JSONDecodeError) else type(err).__name__
                errors.append(LineError(number, f"not valid JSON ({reason})"))
                continue
            result = item_from_record(record, number)
            (errors if isinstance(result, LineError) else items).append(result)
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.id in seen:
            errors.append(LineError(item.line, f"duplicate id {item.id!r}; ids must be unique"))
        else:
            seen.add(item.id)
            unique.append(item)
    errors.sort(key=lambda e: e.line)
    return unique, errors


def _is_csv(name: str, text: str) -> bool:
    """CSV by file name; a name that says neither is sniffed from its first line."""
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return True
    if lowered.endswith((".jsonl", ".json", ".ndjson")):
        return False
    first = text.lstrip()[:1]
    return first not in ("{", "[", "") and "," in text.split("\n", 1)[0]


def done_ids(out_path: Path) -> set[str]:
    """Ids already answered in `out_path`; an unfinished last line is dropped from the file."""
    if not out_path.exists():
        return set()
    raw = out_path.read_bytes()
    keep = raw if raw.endswith(b"\n") or not raw else raw[: raw.rfind(b"\n") + 1]
    ids = set()
    for line in keep.decode("utf-8", errors="replace").split("\n"):
        try:
            ids.add(str(json.loads(line)["id"]))
        except (*JSON_ERRORS, KeyError, TypeError):
            continue
    if keep != raw:
        out_path.write_bytes(keep)
    return ids


def answer_items(items: list[Item], answer: Callable[[Item], dict], workers: int = 1,
                 progress: Progress = silent) -> Iterator[dict]:
    """Answer items in input order, `workers` at a time; failures become error records."""
    def run(item: Item) -> dict:
        try:
            return {"id": item.id, **answer(item)}
        except Exception as err:  # one bad item must not stop the batch
            return {"id": item.id, "question": item.question, "error": f"{type(err).__name__}: {err}"}

    progress(0, len(items), "answering")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, record in enumerate(pool.map(run, items), 1):
            progress(done, len(items), "answering")
            yield record


def run_batch(items: list[Item], out_path: Path, answer: Callable[[Item], dict], workers: int = 1,
              progress: Progress = silent) -> tuple[int, int]:
    """Append answers for items not yet in `out_path`; returns (answered now, skipped as done)."""
    finished = done_ids(out_path)
    todo = [item for item in items if item.id not in finished]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("a", encoding="utf-8") as out:
        for record in answer_items(todo, answer, workers, progress):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
    return len(todo), len(items) - len(todo)
