"""Fit verify mode's support thresholds on the DEV split, with leave-one-out figures.

    .venv/bin/python bench/fit_verify.py

For every dev verify statement it runs verify mode's own examination
(`rag.verify.examine`: coverage, errata, contradictions, then the best
supporting note sentence) and grid-searches the two thresholds of
`rag.verify.supported` (key-term coverage, e5 similarity). The objective puts
honesty first: a not-covered or false statement confirmed costs three times
what a true statement left unconfirmed costs. Leave-one-out over statements
reports what the rule does on statements it was not fit on. Test files are
never read.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

from rag.engine import Assistant
from rag.settings import load_settings
from rag.verify import examine, supported

COVERAGE = [x / 20 for x in range(4, 17)]
SIMILARITY = [0.88 + x / 200 for x in range(0, 15)]


def cost(rows, params) -> float:
    confirmed_wrong = sum(1 for r in rows if r["label"] != "true" and r["decided"] is None
                          and supported(r["support"], params))
    missed = sum(1 for r in rows if r["label"] == "true" and not (r["decided"] is None and supported(r["support"], params)))
    return 3 * confirmed_wrong + missed


def best(rows, base):
    return min((replace(base, support_coverage=c, support_similarity=s) for c, s in itertools.product(COVERAGE, SIMILARITY)),
               key=lambda p: (cost(rows, p), -p.support_coverage, -p.support_similarity))


def main() -> None:
    assistant = Assistant(load_settings(), log=lambda m: None)
    assistant.ensure_index()
    state = assistant.state
    rows, answers = [], []
    for line in Path("eval/gold/dev_verify.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        statement = record["statement"]
        query = assistant.query(statement)
        hits = assistant.retriever().search(query, assistant.settings.top_k)
        found = examine(query, hits, assistant._context(query, hits, state))
        label = "not_covered" if record.get("covered") is False else ("true" if record["is_correct"] else "false")
        rows.append({"label": label, "decided": found.verdict, "support": found.support})
        answers.append((label, assistant.ask(statement, mode="verify").is_correct))
    base = assistant.settings.params.verify
    fitted = best(rows, base)
    loo = {"true_confirmed": 0, "false_confirmed": 0, "not_covered_confirmed": 0}
    counts = {k: sum(r["label"] == k for r in rows) for k in ("true", "false", "not_covered")}
    for i, row in enumerate(rows):
        params = best(rows[:i] + rows[i + 1:], base)
        if row["decided"] is None and supported(row["support"], params):
            loo[f"{row['label']}_confirmed"] += 1
    precision = {}
    for verdict in (True, False):  # statement verdicts with the shipped parameters, smoothed (r + 1) / (n + 2)
        decided = [r for r in answers if r[1] is verdict]
        right = sum(r[0] == ("true" if verdict else "false") for r in decided)
        precision["supported" if verdict else "contradicted"] = {"right": right, "n": len(decided),
                                                                 "smoothed": round((right + 1) / (len(decided) + 2), 3)}
    print(json.dumps({"fitted": {"support_coverage": fitted.support_coverage,
                                 "support_similarity": round(fitted.support_similarity, 3)},
                      "statements": counts, "leave_one_out": loo, "shipped_precision_in_sample": precision}, indent=1))


if __name__ == "__main__":
    main()
