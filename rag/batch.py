"""Batch answering: read a question set, answer each item, write JSON Lines.

Input is JSON Lines (each record has `id` and `question`, optionally with
`options`, or `statement`) or CSV with `id,question` columns. A malformed
line is reported with its line number and skipped; the rest are answered.
Output lines follow input order. A rerun after an interruption keeps the
complete lines already written and answers only the missing ids, and the
ones whose record was an error. Several workers are separate processes
(`answer_in_processes`), each loading its own assistant once.
"""
from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import queue
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from rag.embed import UseEmbedder
from rag.engine import Assistant
from rag.progress import Progress, silent
from rag.settings import Settings


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
        rows = csv_rows(text)
        header = next(rows, None)
        if isinstance(header, LineError) or header is None or not {"id", "question"} <= set(header[1]):
            header_error = LineError(1, "CSV needs a header row with id,question columns")
            return [], sorted(errors + [header_error], key=lambda e: e.line)
        columns = header[1]
        for row in rows:
            if isinstance(row, LineError):
                errors.append(row)
                continue
            line, values = row
            record = dict(zip(columns, values))
            result = item_from_record({"id": record.get("id"), "question": record.get("question")}, line)
            (errors if isinstance(result, LineError) else items).append(result)
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


class _Lines:
    """The physical lines of a text (line ends kept), read from a position that can be moved back."""

    def __init__(self, text: str) -> None:
        self.lines = io.StringIO(text, newline="").readlines()
        self.position = 0

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1]


def csv_rows(text: str) -> Iterator[tuple[int, list[str]] | LineError]:
    """Non-blank CSV records with the line each starts on; a record that cannot be parsed is a LineError.

    The parser is strict, so a quote left open is an error rather than a field that swallows the rows
    below it: at the end of the file ("unexpected end of data"), or where a later quote closes it in the
    middle of a field. Reading then resumes on the line after the one where the bad record started, so
    the rows after it are still read. (An open quote that a later quote closes exactly at a comma or a
    line end reads as one long multi-line field, which CSV allows: that case cannot be told apart.)
    """
    lines = _Lines(text)
    reader = csv.reader(lines, strict=True)
    while True:
        start = lines.position + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield LineError(start, f"CSV quote opened on this line is not closed ({err}); close it, or write a "
                                   "quote inside a field as \"\"; the rows below it are still read")
            lines.position = start
            reader = csv.reader(lines, strict=True)
            continue
        if values:
            yield start, values


def _is_csv(name: str, text: str) -> bool:
    """CSV by file name; a name that says neither is sniffed from its first line."""
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return True
    if lowered.endswith((".jsonl", ".json", ".ndjson")):
        return False
    first = text.lstrip()[:1]
    return first not in ("{", "[", "") and "," in text.split("\n", 1)[0]


class OutputError(Exception):
    """The answers file cannot be written; the message names it and the fix."""


class WorkerError(Exception):
    """A batch worker process died or could not start."""


def check_output_file(path: Path) -> None:
    """Fail at once, before any model loads, when answers cannot be appended to `path`."""
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name, e.g. -o {path / 'answers.jsonl'}")
    if path.exists() and not path.is_file():
        raise OutputError(f"output {path} is not a regular file; give a file name, e.g. -o answers.jsonl")
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        if not existed:
            path.unlink()
    except OSError as err:
        raise OutputError(f"cannot write {path} ({err.strerror}); choose a writable place with -o") from None


def _record(line: bytes):
    try:
        return json.loads(line.decode("utf-8", errors="replace"))
    except JSON_ERRORS:
        return None


def resume(out_path: Path) -> set[str]:
    """Ids already answered in `out_path`.

    Records that ended in an error, and an unfinished last line (a run killed mid-write, or a full disk),
    are removed from the file, so those items are answered again.
    """
    if not out_path.exists():
        return set()
    raw = out_path.read_bytes()
    kept, ids = [], set()
    for line in raw[: raw.rfind(b"\n") + 1].split(b"\n")[:-1]:  # not splitlines(): U+2028 sits inside records
        record = _record(line)
        if isinstance(record, dict) and "error" in record:
            continue
        if isinstance(record, dict) and "id" in record:
            ids.add(str(record["id"]))
        kept.append(line + b"\n")
    data = b"".join(kept)
    if data != raw:
        partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
        try:
            partial.write_bytes(data)
            os.replace(partial, out_path)
        except OSError as err:
            partial.unlink(missing_ok=True)
            raise OutputError(f"cannot rewrite {out_path} to resume ({err.strerror}); free disk space and rerun") from None
    return ids


def answer_with(assistant: Assistant, item: Item, default_mode: str = "auto") -> dict:
    """The answer record of one item (its own mode, or `default_mode` for plain questions)."""
    mode = default_mode if item.mode == "auto" else item.mode
    return assistant.ask(item.question, mode=mode, options=item.options).to_json()


def _safely(answer: Callable[[Item], dict], item: Item) -> dict:
    try:
        return {"id": item.id, **answer(item)}
    except Exception as err:  # one bad item must not stop the batch
        return {"id": item.id, "question": item.question, "error": f"{type(err).__name__}: {err}"}


def answer_items(items: list[Item], answer: Callable[[Item], dict], workers: int = 1,
                 progress: Progress = silent) -> Iterator[dict]:
    """Answer items in input order, `workers` threads at a time; failures become error records."""
    progress(0, len(items), "answering")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, record in enumerate(pool.map(lambda item: _safely(answer, item), items), 1):
            progress(done, len(items), "answering")
            yield record


_worker: tuple[Assistant, str] | None = None  # this worker process's assistant and default mode


def _start_worker(settings: Settings, default_mode: str, threads: int, ready) -> None:
    """Process-pool initializer: load this worker's assistant once, then say so on `ready`.

    USE's matrix products run `threads` BLAS threads, the worker's share of the cores: with two threads
    each, two workers on two cores spent a quarter more CPU on the same answers. Ctrl-C is the parent's to
    handle: it stops handing out items and keeps what was written.
    """
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    UseEmbedder.threads = threads  # this process is the worker's own
    try:
        assistant = Assistant(settings)
        assistant.ensure_index()
        assistant.warm_up()
    except Exception as err:  # one line, not the pool's traceback; the parent then reports the dead worker
        print(f"rag: error: a batch worker could not start: {err}", file=sys.stderr, flush=True)
        os._exit(1)
    _worker = (assistant, default_mode)
    ready.put(os.getpid())


def _answer_in_worker(item: Item) -> dict:
    assistant, default_mode = _worker
    return _safely(lambda one: answer_with(assistant, one, default_mode), item)


def answer_in_processes(items: list[Item], settings: Settings, default_mode: str, workers: int,
                        progress: Progress = silent) -> Iterator[dict]:
    """Answer items in input order in `workers` processes, each with its own assistant loaded once.

    Processes, not threads: tokenising and composing are Python that holds the GIL. They are spawned,
    not forked, so no FAISS or model threads of this process are copied into them half-way. The
    `answering` progress starts once the first worker has loaded its index and models (as one worker's
    starts after `rag batch` has loaded them).
    """
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(settings, default_mode, threads, ready))
    try:
        progress(0, workers, "starting workers")
        futures = [pool.submit(_answer_in_worker, item) for item in items]
        while not futures[-1].done():  # done at once when the pool broke: a worker could not start
            try:
                ready.get(timeout=0.5)
                break
            except queue.Empty:
                continue
        progress(workers, workers, "starting workers")
        progress(0, len(items), "answering")
        for done, future in enumerate(futures, 1):
            record = future.result()
            progress(done, len(items), "answering")
            yield record
    except BrokenProcessPool:
        raise WorkerError("a batch worker process died or could not start; fix what it said above, then rerun "
                          "the same command to resume") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_batch(items: list[Item], out_path: Path, answer_all: Callable[[list[Item]], Iterator[dict]]) -> tuple[int, int]:
    """Append answers for items not yet in `out_path`; returns (answered now, skipped as done).

    Each record is written whole with unbuffered appends, so a full disk mid-run loses at most the line
    being written, which the next run drops and answers again.
    """
    finished = resume(out_path)
    todo = [item for item in items if item.id not in finished]
    written = 0
    out = os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with closing(answer_all(todo)) as records:
            for record in records:
                line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
                try:
                    while line:
                        line = line[os.write(out, line):]
                except OSError as err:
                    raise OutputError(f"cannot write {out_path} after {written} answers this run ({err.strerror}); "
                                      "free disk space and rerun the same command to resume") from None
                written += 1
    finally:
        os.close(out)
    return len(todo), len(items) - len(todo)
