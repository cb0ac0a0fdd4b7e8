"""Calibrate the abstention thresholds on the DEV split only.

For every dev open and out-of-scope item (only question mode abstains) it records the two abstention signals the composer uses:
the best sentence similarity among the retrieved sections, and the share of
the question's terms that never occur in the notes. It then grid-searches
the pair of thresholds that maximises (abstention recall on out-of-scope
items) - 3 x (false-abstention rate on in-scope items), and prints them.

    .venv/bin/python bench/calibrate_abstention.py [eval/gold/dev_*.jsonl]
"""
from __future__ import annotations

import sys
from pathlib import Path

from rag.evidence import gather_evidence
from rag.engine import Assistant
from rag.evaluate import load_gold
from rag.metrics import normalise_heading
from rag.settings import load_settings


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted(Path("eval/gold").glob("dev_*.jsonl"))
    assistant = Assistant(load_settings(), log=lambda m: None)
    state = assistant.state
    known = {normalise_heading(h) for c in state.data.chunks for h in c.heading_path}
    items, errors = load_gold(paths, known)
    items = [i for i in items if i.kind in ("open", "oos")]  # only question mode abstains
    model = assistant.settings.embedders[0]
    signals = []
    for item in items:
        query = assistant.query(item.retrieval_text)
        hits = assistant.retriever().search(query, assistant.settings.top_k)
        ev = gather_evidence(query, hits, state.data, model, state.lexical.bm25.idf)
        # a question naming one of the notes' identifiers is never out of scope by similarity
        similarity = 1.0 if ev.names_identifier else ev.best_similarity
        signals.append((item.kind == "oos", similarity, ev.unknown_share, item.id))
    best = None
    for sim in [x / 100 for x in range(70, 95)]:
        for unk in [x / 20 for x in range(1, 21)]:
            oos = [s for s in signals if s[0]]
            ins = [s for s in signals if not s[0]]
            recall = sum(s[1] < sim or s[2] >= unk for s in oos) / max(len(oos), 1)
            false = sum(s[1] < sim or s[2] >= unk for s in ins) / max(len(ins), 1)
            score = recall - 3 * false
            if best is None or score > best[0]:
                best = (score, sim, unk, recall, false)
    _, sim, unk, recall, false = best
    print(f"items: {len(items)} ({sum(s[0] for s in signals)} out of scope)")
    print(f"abstain_similarity = {sim:.2f}\nabstain_unknown_terms = {unk:.2f}")
    print(f"dev abstention recall {recall:.3f}, dev false abstention {false:.3f}")
    for is_oos, s, u, item_id in sorted(signals, key=lambda x: x[1]):
        flag = "ABSTAIN" if (s < sim or u >= unk) else ""
        print(f"{'OOS' if is_oos else 'in '} sim={s:.3f} unknown={u:.2f} {flag:8s} {item_id}")


if __name__ == "__main__":
    main()
