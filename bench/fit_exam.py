"""Fit exam mode's confidence on the DEV split: a logistic curve over the pick's support, with CV figures.

    .venv/bin/python bench/fit_exam.py [--folds 5]

For every dev MCQ it runs exam mode's own selection (`rag.exam.select_exam`),
records the pick's support (the share of the five sentences that answer the
question best that name it, `ExamSelection.support`) and whether the pick is
right, fits `confidence = logistic(slope × support + bias)` (Platt scaling),
and picks the lowest confidence threshold at which the picks above it are
right at least 90% of the time under k-fold cross-validation. It prints the
fitted values, the cross-validated risk–coverage table, and the accuracy
beside its chance baseline. Test files are never read.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rag.engine import Assistant
from rag.exam import ExamMode, select_exam
from rag.pipeline import AskOptions
from rag.ranker import fit_logistic
from rag.settings import load_settings

TARGET_PRECISION = 0.90


def dev_supports(assistant: Assistant, path: Path) -> list[tuple[float, bool, int]]:
    """(support, right, number of options) per dev MCQ, through exam mode's own code."""
    state = assistant.state
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        request, _ = assistant.prepare(record["question"], AskOptions(mode="exam"), record["options"], None)
        plan = ExamMode().plan(request, assistant.settings.embedders, assistant.option_model)
        query = assistant.query_for(plan)
        hits = assistant.retriever(None, plan.models, state).search(query, assistant.settings.top_k)
        selection = select_exam(request, assistant._context(query, hits, state))
        out.append((selection.support, selection.letter == record["answer"], len(record["options"])))
    return out


def threshold_for(confidences: np.ndarray, right: np.ndarray) -> float:
    """The lowest threshold whose confident picks reach the target precision (1.0 when none does)."""
    for t in np.unique(np.round(confidences, 3)):
        kept = confidences >= t
        if kept.any() and right[kept].mean() >= TARGET_PRECISION:
            return float(t)
    return 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    assistant = Assistant(load_settings(), log=lambda m: None)
    assistant.ensure_index()
    rows = dev_supports(assistant, Path("eval/gold/dev_mcq.jsonl"))
    support = np.array([[r[0]] for r in rows])
    right = np.array([float(r[1]) for r in rows])
    model = fit_logistic(("support",), support, right, l2=0.1)
    slope = float(model.weights[0] / model.scale[0])
    bias = float(model.bias - model.weights[0] * model.mean[0] / model.scale[0])
    order = np.random.default_rng(11).permutation(len(rows))
    cv_conf = np.zeros(len(rows))
    cv_sure = np.zeros(len(rows), dtype=bool)
    for k in range(args.folds):
        held = order[k::args.folds]
        train = np.setdiff1d(np.arange(len(rows)), held)
        fold = fit_logistic(("support",), support[train], right[train], l2=0.1)
        threshold = threshold_for(fold.probabilities(support[train]), right[train])
        cv_conf[held] = fold.probabilities(support[held])
        cv_sure[held] = cv_conf[held] >= threshold
    threshold = threshold_for(model.probabilities(support), right)
    order_by = np.argsort(-cv_conf)
    curve = [{"coverage": round((i + 1) / len(rows), 3), "accuracy": round(float(right[order_by[: i + 1]].mean()), 3)}
             for i in range(len(rows))]
    print(json.dumps({
        "dev_mcq": len(rows), "accuracy": round(float(right.mean()), 3),
        "chance": round(float(np.mean([1 / r[2] for r in rows])), 3),
        "fitted": {"confidence_slope": round(slope, 3), "confidence_bias": round(bias, 3), "confident": threshold},
        "cv_not_uncertain": {"share": round(float(cv_sure.mean()), 3),
                             "accuracy": round(float(right[cv_sure].mean()), 3) if cv_sure.any() else None},
        "cv_risk_coverage": curve[4::5],
    }, indent=1))


if __name__ == "__main__":
    main()
