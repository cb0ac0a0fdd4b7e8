"""The optional LLM writer: any OpenAI-compatible endpoint writes the answer, every line checked.

With `[writer] kind = "openai"` (or `--writer openai`), `Assistant.ask` hands
the extractive answer and its evidence to `write_answer`:

1. the prompt (`rag/data/writer_prompt.md`) carries the user's own custom
   instructions from the notes file, the rules (answer only from the blocks,
   `[n]` on every line, Korean, overview → topics → TL;DR), the numbered
   evidence blocks and the question (exam: the options; verify: the statement);
2. `complete` posts it to `<url>/chat/completions` and reads the streamed
   answer (server-sent events), calling `on_text` as text arrives;
3. `rag.grounding.ground` keeps only the lines their citations support.

When the endpoint fails (refused, timed out, an HTTP error, malformed
output), or fewer than `min_lines` supported lines survive, the extractive
answer stands with a one-line notice. Exam: the model's letter is shown only
when the line it cites supports that option; otherwise the extractive
choice stands, and when the two differ the answer says so.

The API key is read from the environment variable *named* in the settings
at request time. It is sent in the Authorization header only, and is never
logged, stored, or put in an answer or an error message. No connection is
opened unless a writer endpoint is configured and chosen.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Callable, Sequence
from urllib.parse import urlsplit

from rag.errata import Erratum
from rag.grounding import EvidenceBlock, OutputLine, ground, judge, parse_output
from rag.notes import HEADING, read_note
from rag.settings import WriterSettings
from rag.types import Answer, Citation

MAX_BLOCKS = 6  # evidence chunks shown to the model: the mode's chosen evidence, then what the answer cites
ERROR_BODY_CHARS = 200  # how much of an endpoint's error message a fallback notice quotes
REQUEST_TITLES = {"qa": "질문", "exam": "시험 문제", "verify": "검증할 진술"}
CHOICE = re.compile(r"(?:정답|answer)\s*(?:은|는)?\s*[:：]?\s*\**\s*\(?([A-F])\b", re.IGNORECASE)


class WriterError(Exception):
    """The endpoint gave no usable answer. The message is one line and never holds the key."""


class WriterStopped(Exception):
    """Raised by an `on_text` callback to stop the stream (the page's stop button)."""


@dataclass(frozen=True)
class WrittenAnswer:
    """What the writer made of one request; `fallback` says why the extractive answer stands, if it does."""

    markdown: str  # the answer body and its sources, without notices
    citations: tuple[Citation, ...]
    choice: str | None
    lines_kept: int
    lines_dropped: int
    lines_marked: int
    fallback: str | None
    disagrees: bool = False  # exam: the model's letter differs from the extractive one


# ---- evidence and prompt ---------------------------------------------------------------

def evidence_blocks(evidence: Sequence, cited: tuple[Citation, ...] = ()) -> tuple[EvidenceBlock, ...]:
    """Numbered blocks: the chunks of the mode's evidence (`ModeResult.evidence`), then the chunks the answer cites."""
    chunks = [item.chunk for item in evidence] + [c.chunk for c in cited]
    unique = list(dict.fromkeys(chunks))[:MAX_BLOCKS]
    return tuple(EvidenceBlock(n, chunk) for n, chunk in enumerate(unique, 1))


def load_instructions(corpus_dir: Path, sections: tuple[str, ...]) -> str:
    """The text of the notes' top-level sections named in `sections` (the user's custom instructions)."""
    paths = sorted(Path(corpus_dir).glob("*.md"))
    return _instructions(tuple((p, p.stat().st_mtime_ns) for p in paths), tuple(sections))


@lru_cache(maxsize=4)
def _instructions(files: tuple[tuple[Path, int], ...], sections: tuple[str, ...]) -> str:
    out: list[str] = []
    for path, _ in files:
        inside = False
        for line in read_note(path):
            heading = HEADING.match(line)
            if heading and len(heading.group(1)) == 1:
                inside = heading.group(2).strip() in sections
                continue
            if inside:
                out.append(line)
    return "\n".join(out).strip()


@lru_cache(maxsize=1)
def _template() -> tuple[Template, dict[str, str]]:
    """The prompt template and each mode's extra rules, from `rag/data/writer_prompt.md`."""
    text = resources.files("rag").joinpath("data/writer_prompt.md").read_text(encoding="utf-8")
    parts = re.split(r"^<!-- rules for (\w+) -->\n", text, flags=re.MULTILINE)
    rules = {mode: body.strip() for mode, body in zip(parts[1::2], parts[2::2])}
    return Template(parts[0]), rules


def build_prompt(mode: str, question: str, options: dict[str, str] | None, blocks: tuple[EvidenceBlock, ...],
                 instructions: str) -> str:
    template, rules = _template()
    request = question if not options else question + "\n" + "\n".join(f"{k}. {v}" for k, v in options.items())
    return template.substitute(
        instructions=instructions or "(노트에 지시가 없습니다)",
        mode_rules=rules.get(mode, ""),
        blocks="\n\n".join(f"[{b.n}] {b.label}\n{b.text}" for b in blocks),
        request_title=REQUEST_TITLES.get(mode, REQUEST_TITLES["qa"]),
        request=request,
    ).strip() + "\n"


# ---- the endpoint ----------------------------------------------------------------------

def complete(prompt: str, settings: WriterSettings, on_text: Callable[[str], None] | None = None) -> str:
    """The model's answer to `prompt` from `<url>/chat/completions`, streamed; `on_text` gets the text so far."""
    parts = urlsplit(settings.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WriterError("the writer URL must start with http:// or https://, e.g. http://127.0.0.1:8080/v1")
    key = os.environ.get(settings.key_env, "") if settings.key_env else ""
    if settings.key_env and not key:
        raise WriterError(f"the environment variable {settings.key_env} is not set; export the API key there")
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = json.dumps({"model": settings.model or "default", "messages": [{"role": "user", "content": prompt}],
                       "stream": True, "temperature": settings.temperature, "max_tokens": settings.max_tokens})
    deadline = time.monotonic() + settings.timeout_s
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_type(parts.hostname, parts.port, timeout=settings.timeout_s)
    try:
        connection.request("POST", parts.path.rstrip("/") + "/chat/completions", body.encode("utf-8"), headers)
        response = connection.getresponse()
        if response.status != 200:
            raise WriterError(f"the endpoint answered HTTP {response.status} {response.reason}"
                              f"{_error_detail(response.read(4096), key)}")
        if "text/event-stream" not in (response.getheader("Content-Type") or ""):
            return _whole(response.read(), on_text)
        return _stream(response, connection, deadline, on_text)
    except WriterStopped:
        raise WriterError("stopped by the user") from None
    except TimeoutError:
        raise WriterError(f"no answer within {settings.timeout_s:g} s") from None
    except ConnectionRefusedError:
        raise WriterError(f"the endpoint refused the connection ({parts.hostname}:{parts.port}); is the server running?") from None
    except (OSError, http.client.HTTPException) as err:
        raise WriterError(f"cannot reach the endpoint ({type(err).__name__})") from None
    finally:
        connection.close()


def _error_detail(raw: bytes, key: str) -> str:
    """The error message an endpoint sent, shortened, with the key blanked out should it be echoed."""
    text = raw.decode("utf-8", "replace")
    try:  # OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or a plain {"error": "..."}
        body = json.loads(text)
        error = body.get("error", body.get("detail", text))
        text = str(error.get("message", error) if isinstance(error, dict) else error)
    except (ValueError, AttributeError):
        pass
    if key:
        text = text.replace(key, "***")
    text = " ".join(text.split())[:ERROR_BODY_CHARS]
    return f": {text}" if text else ""


def _stream(response, connection, deadline: float, on_text) -> str:
    """Text of a server-sent-event stream of chat completion chunks, until `data: [DONE]`."""
    text = ""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if connection.sock is not None:
            connection.sock.settimeout(remaining)
        raw = response.readline()
        if not raw:
            raise WriterError("the stream ended before [DONE]; malformed output")
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            continue  # blank separators, comments (`: ping`), event names
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        delta = _chunk_text(payload)
        if delta:
            text += delta
            if on_text is not None:
                on_text(text)
    if not text.strip():
        raise WriterError("the model wrote nothing")
    return text


def _chunk_text(payload: str) -> str:
    """The content delta of one `chat.completion.chunk`."""
    try:
        chunk = json.loads(payload)
        if "error" in chunk:
            raise WriterError(f"the endpoint reported an error mid-answer: {str(chunk['error'])[:ERROR_BODY_CHARS]}")
        return chunk["choices"][0].get("delta", {}).get("content") or "" if chunk["choices"] else ""
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        raise WriterError(f"malformed output: a stream chunk is not a chat completion chunk ({payload[:60]!r})") from None


def _whole(raw: bytes, on_text) -> str:
    """The text of a non-streamed `chat.completion` (an endpoint that ignores `stream`)."""
    try:
        text = json.loads(raw.decode("utf-8", "replace"))["choices"][0]["message"]["content"]
    except (ValueError, KeyError, TypeError, IndexError):
        raise WriterError("malformed output: the reply is not a chat completion") from None
    if not isinstance(text, str) or not text.strip():
        raise WriterError("the model wrote nothing")
    if on_text is not None:
        on_text(text)
    return text


# ---- the answer ------------------------------------------------------------------------

def write_answer(mode: str, question: str, options: dict[str, str] | None, blocks: tuple[EvidenceBlock, ...],
                 extractive: Answer, settings: WriterSettings, instructions: str = "",
                 errata: list[Erratum] = (), on_text: Callable[[str], None] | None = None) -> WrittenAnswer:
    """The model's answer over `blocks`, every line checked; the extractive answer when that fails."""
    if extractive.abstained:
        return _fallback(extractive, "the notes do not cover the question; the model was not asked")
    try:
        text = complete(build_prompt(mode, question, options, blocks, instructions), settings, on_text)
    except WriterError as err:
        return _fallback(extractive, str(err))
    choice_line, choice_evidence = _choice_lines(text) if mode == "exam" else (None, None)
    if choice_line is not None:
        text = "\n".join(line for line in text.splitlines() if not CHOICE.search(line))
    grounded = ground(text, blocks, settings.unsupported, list(errata))
    kept, dropped, marked = grounded.kept, grounded.dropped, grounded.marked
    shown, model_letter, choice_ok = extractive.choice, None, False
    if choice_line is not None:
        model_letter = CHOICE.search(choice_line.text).group(1).upper()
        choice_ok = model_letter in (options or {}) and _supports_option(
            choice_evidence, options[model_letter], blocks, errata)
        kept, dropped = kept + choice_ok, dropped + (not choice_ok)
        shown = model_letter if choice_ok else extractive.choice
    if grounded.content_kept < settings.min_lines:
        reason = ("the model found nothing in the notes" if grounded.abstained else
                  f"{grounded.content_kept} line(s) passed the grounding check; {settings.min_lines} needed")
        return _fallback(extractive, reason, (kept, dropped, marked))
    disagrees = model_letter is not None and model_letter != extractive.choice
    head = [f"**정답: {shown}**", ""] if mode == "exam" else []
    if disagrees:
        verdict = ("모델이 인용한 노트가 모델의 답을 뒷받침합니다." if choice_ok
                   else "모델이 인용한 노트가 그 답을 뒷받침하지 않아 노트 문장 기반 답을 표시합니다.")
        head += [f"**작성 모델의 답({model_letter})과 노트 문장 기반 답({extractive.choice})이 다릅니다. {verdict}**", ""]
    body = list(grounded.lines)
    if not head and not body[0].startswith("**"):
        overview = extractive.answer_markdown.lstrip().split("\n", 1)[0]
        body = [overview, ""] + body if overview.startswith("**") else body
    markdown = "\n".join(head + body + ["", grounded.sources])
    return WrittenAnswer(markdown, grounded.citations, shown, kept, dropped, marked, None, disagrees)


def _choice_lines(text: str) -> tuple[OutputLine | None, OutputLine | None]:
    """The model's `정답: X` line, and the line whose citation backs it: its own, else the next content line."""
    parsed = parse_output(text)
    index = next((i for i, line in enumerate(parsed) if CHOICE.search(line.text)), None)
    if index is None:
        return None, None
    line = parsed[index]
    if line.cited:
        return line, line
    return line, next((later for later in parsed[index + 1:] if not later.is_title), line)


def _supports_option(evidence: OutputLine, option: str, blocks: tuple[EvidenceBlock, ...], errata) -> bool:
    """Whether the blocks `evidence` cites support the option it argues for (the option's terms plus its own)."""
    by_n = {b.n: b for b in blocks}
    if not evidence.cited or any(n not in by_n for n in evidence.cited):
        return False
    reason = CHOICE.sub("", evidence.text).strip(" *:—-")
    return judge(f"{option} {reason}", [by_n[n] for n in dict.fromkeys(evidence.cited)], list(errata)).supported


def _fallback(extractive: Answer, reason: str, counts: tuple[int, int, int] = (0, 0, 0)) -> WrittenAnswer:
    return WrittenAnswer(extractive.answer_markdown, extractive.citations, extractive.choice, *counts, reason)


def fallback_notice(reason: str) -> str:
    return f"작성 모델의 답을 쓰지 못해 노트 문장으로 답했습니다 (writer fallback: {reason})."


def with_writer(answer: Answer, written: WrittenAnswer, settings: WriterSettings, writer_ms: float) -> Answer:
    """`answer` replaced by what the writer made of it, with the writer's counts for the JSON."""
    info = {"kind": "openai", "model": settings.model, "lines_kept": written.lines_kept,
            "lines_dropped": written.lines_dropped, "lines_marked": written.lines_marked,
            "fallback": written.fallback}
    timings = {**answer.timings_ms, "writer_ms": writer_ms, "total_ms": answer.timings_ms.get("total_ms", 0.0) + writer_ms}
    if written.fallback is not None:
        notices = answer.notices
        markdown = answer.answer_markdown
        if not answer.abstained:  # an abstention is the honest answer, not a failure to note
            notice = fallback_notice(written.fallback)
            notices += (notice,)
            markdown = f"> {notice}\n" + ("" if markdown.startswith("> ") else "\n") + markdown
        return replace(answer, answer_markdown=markdown, notices=notices, timings_ms=timings, writer=info)
    prefix = "".join(f"> {n}\n" for n in answer.notices)
    same_choice = written.choice == answer.choice
    return replace(answer, answer_markdown=prefix + ("\n" if prefix else "") + written.markdown,
                   citations=written.citations, choice=written.choice, timings_ms=timings, writer=info,
                   uncertain=answer.uncertain or written.disagrees,
                   confidence=answer.confidence if same_choice else None)
