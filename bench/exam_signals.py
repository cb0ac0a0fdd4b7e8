"""Exam-mode signal study on the DEV split: accuracy of each option-scoring signal alone and combined.

    .venv/bin/python bench/exam_signals.py [eval/gold/dev_mcq.jsonl]

Every signal scores an option against the note sentences of the sections
retrieved for "question + options". Prints each signal's accuracy, then
the best weighted combination of the z-scored signals found by grid search.
"""
from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

from rag.evidence import evidence_pool, section_units
from rag.engine import Assistant
from rag.evidence import score_units
from rag.exam import (ExamMode, _distinct_tokens, _zscore, question_focus, score_options, stem_ranking,
                      telling_tokens)
from rag.embed import make_embedder
from rag.pipeline import AskOptions
from rag.settings import load_settings


def signals_for(assistant, use, item) -> dict[str, dict[str, float]]:
    state = assistant.state
    data, model = state.data, assistant.settings.embedders[0]
    stem, options = item["question"], item["options"]
    request, _ = assistant.prepare(stem, AskOptions(mode="exam"), options, None)
    plan = ExamMode().plan(request, assistant.settings.embedders, assistant.option_model)
    query = assistant.query_for(plan)  # retrieved as exam mode retrieves
    hits = assistant.retriever(None, plan.models).search(query, 10)
    ids = evidence_pool(data, hits, sections=5, lectures=3)  # the pool exam mode scores
    e5 = assistant.embedders[model]
    focus = question_focus(stem, ids, data, model, e5.encode([stem], query=True)[0])  # the best-answering sentences
    qtok, top, weights = focus.question_tokens, focus.top, focus.weights
    m_e5 = data.unit_matrix(model)[ids]
    m_use = data.unit_matrix("use")[ids]
    stem_e5 = e5.encode([stem], query=True)[0]
    rel = m_e5 @ stem_e5
    distinct = telling_tokens(_distinct_tokens(options), state.lexical.bm25.idf, assistant.settings.params.exam.option_min_idf)
    opt_e5 = e5.encode(list(options.values()), query=True)
    both_e5 = e5.encode([f"{stem} {o}" for o in options.values()], query=True)
    opt_use = use.encode(list(options.values()))
    # pool widened with each option's own top sections
    pool = list(ids)
    section_of = {}
    for text in options.values():
        option_hits = assistant.retriever().search(assistant.query(f"{stem} {text}"), 4)
        for key in dict.fromkeys(h.chunk.section_key for h in option_hits[:2]):
            pool += [i for i in section_units(data, key) if i not in pool]
    for i in pool:
        section_of[i] = data.chunk_by_id[data.units[i].chunk_id].section_key
    pm_e5, pm_use = data.unit_matrix(model)[pool], data.unit_matrix("use")[pool]
    ptok = [set(data.unit_tokens[i]) for i in pool]
    plex = np.array([len(qtok & t) / (len(qtok) or 1) for t in ptok])
    a = pm_e5 @ stem_e5 + 0.35 * plex
    z = lambda x: (x - x.mean()) / (x.std() or 1)  # noqa: E731
    a_z = z(a)
    out = {}
    for j, key in enumerate(options):
        own_p = distinct[key]
        pcover = np.array([len(own_p & t) / (len(own_p) or 1) for t in ptok])
        b = pm_use @ opt_use[j] + pm_e5 @ opt_e5[j] + pcover
        b_z = z(b)
        sections = {}
        for n, i in enumerate(pool):
            best_a, best_b = sections.get(section_of[i], (-9, -9))
            sections[section_of[i]] = (max(best_a, a_z[n]), max(best_b, b_z[n]))
        out.setdefault(key, {})["pair_unit"] = float(np.max(a_z + b_z))
        out[key]["pair_sec"] = float(max(x + y for x, y in sections.values()))
    for j, key in enumerate(options):
        out[key] |= {
            "e5_both_max": float(np.max(m_e5 @ both_e5[j])),
            "e5_gain_max": float(np.max(m_e5 @ both_e5[j] - rel)),
            "e5_opt_max": float(np.max(m_e5 @ opt_e5[j])),
            "e5_opt_top5": float(np.sum(weights * (m_e5[top] @ opt_e5[j])) / weights.sum()),
            "use_opt_max": float(np.max(m_use @ opt_use[j])),
            "use_opt_top5": float(np.sum(weights * (m_use[top] @ opt_use[j])) / weights.sum()),
        }
    # the shipped signals come from the product's own scorer, so the study cannot drift from it
    units = score_units(query, data, model, ids, state.lexical.bm25.idf, assistant.settings.params.compose.lexical_weight)
    ranked = stem_ranking(stem, assistant._context(query, hits, state))
    shipped = score_options(stem, options, distinct, units, data, model, "use", query, ranked,
                            assistant.settings.params.exam)
    for key, signals in shipped.items():
        out[key] |= {"use_both_max": signals["use_both"], "lex_cooccur": signals["cooccur"], "lex_top5": signals["top5"],
                     "ranked": signals["ranked"]}
    return out


def accuracy(rows, weights) -> float:
    right = 0
    for answer, negated, sig in rows:
        total = {k: 0.0 for k in sig}
        for name, w in weights.items():
            if w:
                for k, z in _zscore({k: s[name] for k, s in sig.items()}).items():
                    total[k] += w * z
        pick = (min if negated else max)(total, key=total.get)
        right += pick == answer
    return right / len(rows)


def main() -> None:
    from rag.exam import NEGATED_QUESTION

    path = Path(sys.argv[1] if len(sys.argv) > 1 else "eval/gold/dev_mcq.jsonl")
    settings = load_settings()
    assistant = Assistant(settings.with_overrides(embedders=(settings.embedders[0], "use")), log=lambda m: None)
    assistant.ensure_index()
    use = make_embedder("use")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        rows.append((item["answer"], bool(NEGATED_QUESTION.search(item["question"])), signals_for(assistant, use, item)))
    names = list(rows[0][2]["A"])
    print(f"{len(rows)} questions from {path}")
    for name in names:
        print(f"{name:14s} alone: {accuracy(rows, {name: 1}):.3f}")
    best = (0, None)
    for combo in itertools.product([0, 1], repeat=len(names)):
        if any(combo):
            acc = accuracy(rows, dict(zip(names, combo)))
            if acc > best[0]:
                best = (acc, dict(zip(names, combo)))
    print(f"best combination: {best[0]:.3f} with {best[1]}")


if __name__ == "__main__":
    main()
