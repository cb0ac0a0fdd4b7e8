"""Fit the grounding check's support threshold on the DEV split only.

The writer shows a model numbered evidence blocks and keeps a line only when
the blocks it cites support it (`rag.grounding.judge`). Its one free
parameter is the share of the line's key terms that must be in the cited
blocks. This script builds, for every dev item that names a Korean evidence
sentence of the notes (`evidence_ko`) or a Korean correction
(`correction_ko`, a paraphrase), the blocks `rag ask --writer openai` would
show for the question (question-mode retrieval), and judges:

- positives: the line against the block that holds the evidence sentence
  (verbatim: the note sentence itself; paraphrase: the gold correction);
- wrong citations: the same line against every block of another section;
- invented lines: another item's line (from another section) against this
  item's block.

For each threshold it prints the share of positives kept (paraphrases apart:
a verbatim note sentence passes at any threshold, and a writer rephrases) and
of each kind of negative dropped, and picks the threshold with the best mean
of the three: paraphrases kept, wrong citations dropped, invented lines
dropped (ties: the higher threshold). Each kind weighs the same: how many
pairs of each kind there are is an artifact of how they are made (every
other block, three other items), so pooling the negatives would let the
easy invented lines outvote the wrong citations. Figures go to bench/results/writer_grounding.json.

    .venv/bin/python bench/writer_grounding.py [--index DIR] [eval/gold/dev_*.jsonl]
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from bench.common import RESULTS, machine
from rag.engine import Assistant
from rag.evaluate import load_gold
from rag.grounding import SUPPORT_THRESHOLD, judge
from rag.metrics import normalise_heading
from rag.evidence import gather_evidence
from rag.settings import load_settings
from rag.writer import evidence_blocks

THRESHOLDS = [x / 20 for x in range(4, 21)]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pairs(assistant: Assistant, items) -> tuple[list, list]:
    """(line, [block], label) pairs: positives, and wrong-citation and invented-line negatives."""
    state = assistant.state
    model = assistant.settings.embedders[0]
    found = []
    for item in items:
        lines = [(item.record[k], kind) for k, kind in (("evidence_ko", "verbatim"), ("correction_ko", "paraphrase"))
                 if item.record.get(k)]
        query = assistant.query(item.text)
        hits = assistant.retriever().search(query, assistant.settings.top_k)
        evidence = gather_evidence(query, hits, state.data, model, state.lexical.bm25.idf, assistant.settings.params.compose)
        blocks = evidence_blocks(evidence.blocks + tuple(evidence.summary))  # question mode's ModeResult.evidence
        home = next((b for b in blocks if squash(item.record["evidence_ko"]) in squash(b.text)), None)
        if lines and home is not None:
            found.append((item, lines, home, blocks))
    positives, negatives = [], []
    for item, lines, home, blocks in found:
        positives += [(line, home, kind) for line, kind in lines]
        negatives += [(line, b, "wrong citation") for line, _ in lines for b in blocks
                      if b.chunk.section_key != home.chunk.section_key]
        negatives += [(line, home, "invented line") for other, other_lines, other_home, _ in found
                      if other_home.chunk.section_key != home.chunk.section_key for line, _ in other_lines[:1]][:3]
    return positives, negatives


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", help="index folder (default from rag.toml)")
    parser.add_argument("gold", nargs="*")
    args = parser.parse_args()
    paths = [Path(p) for p in args.gold] or sorted(Path("eval/gold").glob("dev_*.jsonl"))
    assert all(p.name.startswith("dev_") for p in paths), "fit on dev files only"
    assistant = Assistant(load_settings().with_overrides(index_dir=args.index), log=lambda m: None)
    known = {normalise_heading(h) for c in assistant.state.data.chunks for h in c.heading_path}
    items, _ = load_gold(paths, known)
    items = [i for i in items if i.record.get("evidence_ko")]
    positives, negatives = pairs(assistant, items)
    judged = [(judge(line, [block], threshold=0.0), label) for line, block, label in positives + negatives]
    rows = []
    for threshold in THRESHOLDS:
        passed = {kind: [j.supported and j.coverage >= threshold for j, label in judged if label == kind]
                  for kind in ("verbatim", "paraphrase", "wrong citation", "invented line")}
        share = {kind: sum(v) / len(v) if v else None for kind, v in passed.items()}
        negatives_dropped = 1 - sum(passed["wrong citation"] + passed["invented line"]) / len(negatives)
        rows.append({"threshold": threshold, "verbatim_kept": share["verbatim"], "paraphrase_kept": share["paraphrase"],
                     "negatives_dropped": negatives_dropped, "wrong_citation_dropped": 1 - share["wrong citation"],
                     "invented_line_dropped": 1 - share["invented line"],
                     "balanced_accuracy": (share["paraphrase"] + negatives_dropped) / 2,
                     "mean_of_kinds": (share["paraphrase"] + 2 - share["wrong citation"] - share["invented line"]) / 3})
    best = max(rows, key=lambda r: (round(r["mean_of_kinds"], 6), r["threshold"]))
    counts = {kind: sum(label == kind for _, label in judged) for kind in ("verbatim", "paraphrase", "wrong citation",
                                                                          "invented line")}
    print(f"dev pairs: {counts}")
    print("| threshold | verbatim kept | paraphrase kept | negatives dropped | wrong citation dropped "
          "| invented line dropped | pooled balanced | mean of kinds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threshold']:.2f} | {r['verbatim_kept']:.3f} | {r['paraphrase_kept']:.3f} | "
              f"{r['negatives_dropped']:.3f} | {r['wrong_citation_dropped']:.3f} | {r['invented_line_dropped']:.3f} | "
              f"{r['balanced_accuracy']:.3f} | {r['mean_of_kinds']:.3f} |")
    print(f"best threshold: {best['threshold']:.2f} (in use: {SUPPORT_THRESHOLD})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "writer_grounding.json").write_text(json.dumps(
        {"gold": [str(p) for p in paths], "pairs": counts, "rows": rows,
         "best": best, "in_use": SUPPORT_THRESHOLD, "machine": machine()}, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
