"""Fit the block ranker on the DEV split and write rag/data/ranker.json with its cross-validated figures.

    .venv/bin/python bench/fit_ranker.py [--folds 5]

For every dev question whose gold evidence sentence is known (open questions,
the second turn of two-turn conversations, MCQ stems), it retrieves as
question mode does, builds the candidate blocks (`rag.evidence.candidate_blocks`)
and their features (`rag.ranker.feature_rows`, the product's own code), and
labels each block by whether it holds the evidence sentence (the eval's
evidence-in-answer rule). A logistic model is fit on all dev items and saved;
k-fold cross-validation over items (folds never split one question) reports
how often the top block and the quoted answer hold the evidence, beside the
dense-only and lexical-only rankings. Test files are never read.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.conversation import Turn, context_for
from rag.engine import Assistant
from rag.evidence import candidate_blocks, compared_sections, select_blocks
from rag.metrics import evidence_in_answer
from rag.ranker import FEATURES, QuestionShape, feature_rows, fit_logistic
from rag.settings import load_settings

OUT = Path(__file__).resolve().parent.parent / "rag" / "data" / "ranker.json"


def dev_questions(gold: Path) -> list[tuple[str, str, str, str | None]]:
    """(id, question, evidence, previous question) for every dev item with a known evidence sentence."""
    out = []
    for path in sorted(gold.glob("dev_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            if not record.get("evidence_ko") or "statement" in record:
                continue
            if "turns" in record:
                out.append((record["id"], record["turns"][1], record["evidence_ko"], record["turns"][0]))
            elif isinstance(record.get("question"), str):
                out.append((record["id"], record["question"], record["evidence_ko"], None))
    return out


def build(assistant: Assistant, items) -> list[dict]:
    state = assistant.state
    settings = assistant.settings
    model = settings.embedders[0]
    rows = []
    for item_id, question, evidence, previous in items:
        context = None
        if previous:
            first = assistant.retriever().search(assistant.query(previous), settings.top_k)
            context = context_for(question, [Turn(previous, first[0].chunk.heading_path[-1] if first else "")],
                                  state.vocabulary)
        query = assistant.query(question if not context else f"{context} {question}")
        hits = assistant.retriever().search(query, settings.top_k)
        focus = assistant.query(question) if context else query  # as question mode ranks a follow-up
        compared = compared_sections(focus, state.data)
        candidates = [c for c in candidate_blocks(focus, hits, state.data, model, state.lexical.bm25.idf,
                                                  settings.params.compose, compared) if not c.block.chunk.is_summary]
        labels = np.array([float(evidence_in_answer(c.block.text, evidence)) for c in candidates])
        shape = QuestionShape.of(focus.text, focus.tokens)
        rows.append({"id": item_id, "query": focus, "compared": compared, "candidates": candidates, "labels": labels,
                     "x": feature_rows(shape, candidates), "hits": hits})
    return rows


def evaluate(rows, scores_of, params) -> dict:
    top1 = [float(r["labels"][int(np.argmax(scores_of(r)))] > 0) for r in rows if len(r["labels"])]
    quoted, lengths = [], []
    for r in rows:
        if not len(r["labels"]):
            quoted.append(0.0)
            continue
        probabilities = scores_of(r)
        ranked = sorted(zip(probabilities.tolist(), r["candidates"]), key=lambda p: (-p[0], p[1].block.first_line))
        chosen = select_blocks(r["query"], ranked, params, r["compared"], r["hits"])
        quoted.append(float(any(r["labels"][r["candidates"].index(c)] > 0 for c in
                                [next(c for _, c in ranked if c.block is b) for b in chosen])))
        lengths.append(sum(len(b.text) for b in chosen))
    return {"top1": round(float(np.mean(top1)), 3), "quoted": round(float(np.mean(quoted)), 3),
            "median_quoted_chars": float(np.median(lengths)) if lengths else 0.0, "n": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--gold", default="eval/gold")
    args = parser.parse_args()
    assistant = Assistant(load_settings(), log=lambda m: None)
    assistant.ensure_index()
    rows = build(assistant, dev_questions(Path(args.gold)))
    reachable = [r for r in rows if r["labels"].sum() > 0]
    print(f"{len(rows)} dev questions, {len(reachable)} with the evidence among the candidate blocks", file=sys.stderr)
    params = assistant.settings.params.compose
    dense = FEATURES.index("dense")
    lexical = FEATURES.index("block_lexical")
    report = {"dev_questions": len(rows), "evidence_reachable": len(reachable),
              "baseline_dense": evaluate(rows, lambda r: r["x"][:, dense] if len(r["x"]) else np.zeros(0), params),
              "baseline_lexical": evaluate(rows, lambda r: r["x"][:, lexical] if len(r["x"]) else np.zeros(0), params)}
    order = np.random.default_rng(7).permutation(len(rows))
    folds = [order[k::args.folds] for k in range(args.folds)]
    held_out: dict[int, np.ndarray] = {}
    for fold in folds:
        train = [rows[i] for i in range(len(rows)) if i not in set(fold) and len(rows[i]["labels"])]
        model = fit_logistic(FEATURES, np.vstack([r["x"] for r in train]), np.concatenate([r["labels"] for r in train]))
        for i in fold:
            held_out[i] = model.probabilities(rows[i]["x"])
    sweep = {}
    for blocks in (3, 4, 5, 6):
        for ratio in (0.1, 0.2, 0.3, 0.5):
            swept = replace(params, keep_ratio=ratio, max_blocks=blocks)
            sweep[f"max_blocks={blocks} keep_ratio={ratio}"] = evaluate(rows, lambda r: held_out[rows.index(r)], swept)
    report["cv_sweep"] = sweep
    report["cv"] = evaluate(rows, lambda r: held_out[rows.index(r)], params)
    train = [r for r in rows if len(r["labels"])]
    model = fit_logistic(FEATURES, np.vstack([r["x"] for r in train]), np.concatenate([r["labels"] for r in train]))
    report["in_sample"] = evaluate(rows, lambda r: model.probabilities(r["x"]), params)
    report["folds"] = args.folds
    OUT.write_text(json.dumps({"model": model.to_json(), "report": report}, ensure_ascii=False, indent=1) + "\n",
                   encoding="utf-8")
    print(json.dumps(report, indent=1))
    print(f"-> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
