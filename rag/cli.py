"""The `rag` command line: index, search, ask, batch, eval, serve.

A thin layer over `Assistant`: it parses flags, prints Markdown or JSON, and
turns domain errors into one line on stderr with a non-zero exit code
(2 for a bad question or bad arguments, 1 for everything else).
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from rag.batch import OutputError, WorkerError
from rag.embed import EmbedderError
from rag.engine import Assistant, QueryError, clean_question
from rag.errata import ErrataError
from rag.index import IndexError_
from rag.notes import NotesError
from rag.pipeline import MODES
from rag.progress import Bar
from rag.settings import RETRIEVER_KINDS, WRITER_KINDS, Settings, SettingsError, WriterSettings, load_settings

DOMAIN_ERRORS = (NotesError, SettingsError, EmbedderError, IndexError_, ErrataError, OutputError, WorkerError)


def positive_int(text: str) -> int:
    """argparse type for counts such as -k and --workers."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _settings(args) -> Settings:
    settings = load_settings(Path(args.config) if args.config else None)
    return settings.with_overrides(
        corpus_dir=args.corpus, index_dir=args.index,
        embedders=args.embedders, retriever=getattr(args, "retriever", None), writer=_writer_settings(args, settings),
    )


def add_writer_flags(parser: argparse.ArgumentParser) -> None:
    """`--writer*`: who writes the answers (the [writer] table of rag.toml gives the defaults)."""
    parser.add_argument("--writer", choices=WRITER_KINDS, help="extractive (default) or openai: an OpenAI-compatible endpoint")
    parser.add_argument("--writer-url", help="the endpoint's base URL, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--writer-model", help="the model name sent to the endpoint")
    parser.add_argument("--writer-key-env", metavar="VAR", help="name of the environment variable holding the API key")


def _writer_settings(args, settings: Settings) -> WriterSettings | None:
    changes = {"kind": getattr(args, "writer", None), "url": getattr(args, "writer_url", None),
               "model": getattr(args, "writer_model", None), "key_env": getattr(args, "writer_key_env", None)}
    changes = {k: v for k, v in changes.items() if v is not None}
    return replace(settings.writer, **changes) if changes else None


def _assistant(args) -> Assistant:
    assistant = Assistant(_settings(args), progress=Bar())
    assistant.ensure_index()
    return assistant


def cmd_index(args) -> int:
    assistant = Assistant(_settings(args), progress=Bar())
    report = assistant.ensure_index(force=args.force, fallback=False)
    if report is None:
        data = assistant.state.data
        print(f"index is up to date: {data.manifest['generation']}, {len(data.chunks)} chunks, "
              f"models {', '.join(data.manifest['models'])}")
    return 0


def cmd_search(args) -> int:
    clean_question(args.query, 10**9)
    assistant = _assistant(args)
    hits = assistant.search(args.query, args.k)
    if args.json:
        print(json.dumps([h.to_json(r) for r, h in enumerate(hits, 1)], ensure_ascii=False, indent=1))
    else:
        for rank, hit in enumerate(hits, 1):
            c = hit.chunk
            print(f"{rank:2d}. {hit.score:.4f}  {c.source} › {' › '.join(c.heading_path[1:])} (L{c.line_start}–L{c.line_end})")
    return 0


def read_question(text: str) -> str:
    """The question argument; `-` reads it from standard input (for questions too big for a command line)."""
    if text != "-":
        return text
    return sys.stdin.buffer.read().decode("utf-8", errors="replace")


def cmd_ask(args) -> int:
    question = read_question(args.question)
    clean_question(question, 10**9)  # an empty question fails before any loading
    assistant = _assistant(args)
    answer = assistant.ask(question, mode=args.mode)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=1))
    else:
        print(answer.answer_markdown)
    return 0


def cmd_batch(args) -> int:
    from rag.batch import answer_in_processes, answer_items, answer_with, check_output_file, read_items, run_batch

    path = Path(args.file)
    if not path.is_file():
        raise NotesError(f"question file {path} not found; give a JSON Lines or CSV file")
    items, errors = read_items(path)
    for error in errors:
        print(f"{path}:{error}", file=sys.stderr)
    if not items:
        print(f"rag: error: {path} holds no valid questions", file=sys.stderr)
        return 1
    output = Path(args.output)
    check_output_file(output)  # before any model loads
    assistant = _assistant(args)

    def answer_all(todo):
        if args.workers == 1:
            assistant.warm_up()
            return answer_items(todo, lambda item: answer_with(assistant, item, args.mode), 1, Bar())
        return answer_in_processes(todo, assistant.settings, args.mode, args.workers, Bar())

    answered, skipped = run_batch(items, output, answer_all)
    print(f"answered {answered}, already done {skipped}, malformed lines {len(errors)} -> {args.output}", file=sys.stderr)
    return 1 if errors else 0


def check_output_folder(folder: Path) -> None:
    """Fail at once, before any model loads, when files cannot be written into `folder`."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--out {folder} is a file; give a folder for the report, e.g. --out eval/runs/latest")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".rag-write-check-{os.getpid()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT, 0o644))
        probe.unlink()
    except OSError as err:
        raise OutputError(f"cannot write the report folder {folder}/ ({err.strerror}); "
                          "choose a writable place with --out") from None


def cmd_eval(args) -> int:
    from rag.evaluate import run_eval

    check_output_folder(Path(args.out))
    try:
        return run_eval(args, _settings(args))
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise
        raise OutputError(f"cannot write the report into {args.out}/ ({err.strerror}); "
                          "free disk space or choose another --out, and run again") from None


def cmd_serve(args) -> int:
    from ui.app import serve

    return serve(_settings(args), host=args.host, port=args.port, auth=args.auth)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Answer AWS SysOps questions from your own notes, offline.")
    parser.add_argument("--config", help="settings file (default ./rag.toml when present)")
    parser.add_argument("--corpus", help="notes folder (default corpus/)")
    parser.add_argument("--index", help="index folder (default index/)")
    parser.add_argument("--embedders", help="comma-separated dense models, e.g. e5 or e5,use")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or refresh the index, with progress")
    p.add_argument("--force", action="store_true", help="rebuild even when up to date")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="show the retrieved note sections for a query")
    p.add_argument("query")
    p.add_argument("-k", type=positive_int, default=10)
    p.add_argument("--retriever", choices=RETRIEVER_KINDS)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question (Markdown, or JSON with --json)")
    p.add_argument("question", help="the question; - reads it from standard input")
    p.add_argument("--mode", choices=MODES, default="auto")
    p.add_argument("--retriever", choices=RETRIEVER_KINDS)
    p.add_argument("--json", action="store_true")
    add_writer_flags(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("batch", help="answer a JSON Lines or CSV question set")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--mode", choices=MODES, default="auto")
    p.add_argument("--workers", type=positive_int, default=1)
    p.add_argument("--retriever", choices=RETRIEVER_KINDS)
    add_writer_flags(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("eval", help="score answers and retrieval against gold questions")
    p.add_argument("--gold", nargs="+", required=True)
    p.add_argument("--retrievers", default="bm25,dense:e5,dense:use,hybrid",
                   help="baselines to compare; dense:<model> for one model alone")
    p.add_argument("--answers", help="reuse a `rag batch` output instead of answering again")
    p.add_argument("--out", default="eval/runs/latest")
    add_writer_flags(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", help="start the study page")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--auth", help="user:pass for basic auth (or set RAG_AUTH)")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return args.func(args)
    except QueryError as err:
        print(f"rag: error: {err}", file=sys.stderr)
        return 2
    except DOMAIN_ERRORS as err:
        print(f"rag: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rag: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
