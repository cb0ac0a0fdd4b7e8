"""Verify mode against the notes' own lines: a false-alarm check that needs no gold.

    .venv/bin/python bench/verify_selfcheck.py [--index /tmp/bench-index] [--lines 400] [--seed 1]

Every note line of Korean prose (30 characters or more, outside 정리 blocks)
is a statement the notes make, so verify mode should never call it
contradicted, except where the errata say the notes are wrong. The script
verifies a fixed shuffle of such lines, counts the verdicts, and lists each
"contradicted" line with what was struck and whether an erratum covers it. A
contradicted line no erratum covers is a misfire of a contradiction rule.
"""
from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

import common
from rag.engine import Assistant
from rag.errata import matching
from rag.metrics import struck_spans
from rag.settings import Settings


def note_lines(assistant: Assistant) -> list[str]:
    data = assistant.state.data
    lines = [u.text for u in data.units if len(u.text) >= 30 and re.search("[가-힣]", u.text)
             and not data.chunk_by_id[u.chunk_id].is_summary]
    return list(dict.fromkeys(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=common.DEFAULT_INDEX)
    parser.add_argument("--corpus", type=Path, default=common.REPO / "corpus")
    parser.add_argument("--lines", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    common.ensure_index(args.index, args.corpus)
    assistant = Assistant(Settings().with_overrides(index_dir=args.index, corpus_dir=args.corpus), log=lambda m: None)
    assistant.ensure_index()
    lines = note_lines(assistant)
    random.Random(args.seed).shuffle(lines)
    verdicts = {"supported": 0, "not_covered": 0, "contradicted": 0}
    contradicted = []
    for line in lines[:args.lines]:
        answer = assistant.ask(line, mode="verify")
        verdict = {True: "supported", False: "contradicted", None: "not_covered"}[answer.is_correct]
        verdicts[verdict] += 1
        if answer.is_correct is False:
            contradicted.append({"line": line, "struck": struck_spans(answer.answer_markdown)[:2],
                                 "erratum": matching(line, assistant.state.errata) is not None})
    misfires = [c for c in contradicted if not c["erratum"]]
    print(f"{min(args.lines, len(lines))} note lines (seed {args.seed}): {verdicts}")
    print(f"contradicted: {len(contradicted)}, of which lines an erratum corrects: "
          f"{len(contradicted) - len(misfires)}; misfires: {len(misfires)}")
    for c in misfires:
        print(f"- misfire: struck {c['struck']} in: {c['line'][:100]}")
    result = {"lines": min(args.lines, len(lines)), "seed": args.seed, "verdicts": verdicts,
              "contradicted": contradicted, "misfires": len(misfires)}
    print("results ->", common.save("verify_selfcheck", result))


if __name__ == "__main__":
    main()
