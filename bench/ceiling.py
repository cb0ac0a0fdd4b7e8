"""What the packaged models can tell apart, given the answer: ceilings for verify, exam and abstention.

    .venv/bin/python bench/ceiling.py [--split dev] [--plot docs/ceiling.png]

Each study hands the models the gold evidence line (an oracle for retrieval) and asks whether the signals
they give could reach the targets of issues #11 and #12 at all:

- verify: e5 cosine, USE cosine and idf-weighted key-term coverage (`rag.verify.support_of`) between a
  statement and its own gold note line, for true against false statements: the AUC of each signal, and of a
  logistic regression over the three under 5-fold cross-validation, with its balanced accuracy;
- exam: the option whose "stem + option" is closest to the gold line (e5, USE) or whose own terms the gold
  line carries most, against the chance baseline;
- abstention: question mode's own coverage signals (best e5 sentence cosine, the block ranker's top
  probability) for covered open questions against near-miss ones (the notes name the service, not the
  asked aspect): the AUC, and the near-misses a threshold could catch while it wrongly abstains on at most
  3% of the covered questions (the threshold is read off the same items: an in-sample ceiling).

Nothing here is fit into the product; it measures. The dev split is the default.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, save  # noqa: E402
from rag.engine import Assistant  # noqa: E402
from rag.evaluate import NotesMap  # noqa: E402
from rag.evidence import ScoredUnit, gather_evidence  # noqa: E402
from rag.lexical import expanded_terms, tokenize  # noqa: E402
from rag.metrics import balanced_accuracy  # noqa: E402
from rag.ranker import fit_logistic  # noqa: E402
from rag.settings import load_settings  # noqa: E402
from rag.verify import support_of, term_weight  # noqa: E402

FALSE_ABSTENTION = 0.03
FOLDS = 5


def auc(positive, negative) -> float:
    """Probability that a positive scores above a negative (ties count half)."""
    p, n = np.asarray(positive, float)[:, None], np.asarray(negative, float)[None, :]
    return float(((p > n) + 0.5 * (p == n)).mean()) if p.size and n.size else float("nan")


def gold_units(assistant: Assistant, notes: NotesMap, evidence: str) -> list[int]:
    """Index rows of the sentences on the note lines that hold `evidence`."""
    data = assistant.state.data
    lines = notes.locate(evidence)
    return [i for i, u in enumerate(data.units) if (data.chunk_by_id[u.chunk_id].source, u.line) in lines]


def read(split: str, kind: str) -> list[dict]:
    """The gold records of one file, e.g. `dev_verify.jsonl`."""
    path = REPO / "eval" / "gold" / f"{split}_{kind}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def verify_study(assistant: Assistant, notes: NotesMap, split: str) -> dict:
    """True vs false covered statements, each against the sentence of its gold line that e5 finds closest."""
    state = assistant.state
    data, use = state.data, assistant.embedders["use"]
    weight = term_weight(state.lexical.bm25.idf, len(data.chunks))
    rows, labels = [], []
    for record in read(split, "verify"):
        if record.get("covered") is False or not (ids := gold_units(assistant, notes, record["evidence_ko"])):
            continue
        statement = record["statement"]
        e5 = data.unit_rows("e5", ids) @ assistant.query(statement).vector("e5")
        best = ids[int(np.argmax(e5))]
        unit = data.units[best]
        scored = ScoredUnit(best, 0.0, data.chunk_by_id[unit.chunk_id], unit.line, unit.text)
        coverage = support_of(statement, scored, float(e5.max()), 0.0, weight).coverage
        use_cosine = float(data.unit_rows("use", [best])[0] @ use.encode([statement])[0])
        rows.append((float(e5.max()), use_cosine, coverage))
        labels.append(1.0 if record["is_correct"] else 0.0)
    x, y = np.array(rows), np.array(labels)
    names = ("e5", "use", "coverage")
    held_out = np.zeros(len(y))
    for fold in range(FOLDS):
        test = np.arange(len(y)) % FOLDS == fold
        scorer = fit_logistic(names, x[~test], y[~test])
        held_out[test] = scorer.probabilities(x[test])
    balanced = balanced_accuracy([(bool(gold), (p >= 0.5) == bool(gold)) for gold, p in zip(y, held_out)])
    return {"true": int(y.sum()), "false": int((1 - y).sum()),
            "auc": {n: round(auc(x[y == 1, j], x[y == 0, j]), 3) for j, n in enumerate(names)},
            "cv_logistic_auc": round(auc(held_out[y == 1], held_out[y == 0]), 3),
            "cv_logistic_balanced_accuracy": round(float(balanced), 3),
            "points": {"true": x[y == 1].tolist(), "false": x[y == 0].tolist()}}


def exam_study(assistant: Assistant, split: str) -> dict:
    """How often the option closest to the gold line (or carried most by it) is the right one."""
    e5, use, idf = assistant.embedders["e5"], assistant.embedders["use"], assistant.state.lexical.bm25.idf
    right = {"e5": 0, "use": 0, "terms": 0}
    items = [r for r in read(split, "mcq") if r.get("evidence_ko")]
    for record in items:
        keys, evidence = list(record["options"]), record["evidence_ko"]
        both = [f"{record['question']} {text}" for text in record["options"].values()]
        found = expanded_terms(evidence)

        def carried(text: str) -> float:
            terms = set(tokenize(text))
            total = sum(idf.get(t, 8.0) for t in terms)
            return sum(idf.get(t, 8.0) for t in terms if t in found) / total if total else 0.0

        scores = {"e5": e5.encode(both, query=True) @ e5.encode([evidence])[0],
                  "use": use.encode(both) @ use.encode([evidence])[0],
                  "terms": [carried(text) for text in record["options"].values()]}
        for name, values in scores.items():
            right[name] += keys[int(np.argmax(values))] == record["answer"]
    chance = float(np.mean([1 / len(r["options"]) for r in items]))
    return {"n": len(items), "chance": round(chance, 3),
            "accuracy_given_gold_line": {k: round(v / len(items), 3) for k, v in right.items()}}


def abstention_study(assistant: Assistant, split: str) -> dict:
    """Question mode's coverage signals for covered open questions against near-misses, asked alone."""
    state, settings = assistant.state, assistant.settings
    signals: dict[str, list[tuple[float, float]]] = {"covered": [], "near_miss": []}
    questions = [("covered", r["question"]) for kind in ("open_en", "open_ko") for r in read(split, kind)]
    questions += [("near_miss", r["question"]) for r in read(split, "oos") if r.get("category") == "near_miss"]
    for group, question in questions:
        query = assistant.query(question)
        hits = assistant.retriever().search(query, settings.top_k)
        evidence = gather_evidence(query, hits, state.data, settings.embedders[0], state.lexical.bm25.idf,
                                   settings.params.compose)
        signals[group].append((evidence.best_similarity, evidence.top_probability))
    out = {"covered": len(signals["covered"]), "near_miss": len(signals["near_miss"])}
    for j, name in enumerate(("best_similarity", "top_probability")):
        covered = np.array([s[j] for s in signals["covered"]])
        near = np.array([s[j] for s in signals["near_miss"]])
        line = float(np.quantile(covered, FALSE_ABSTENTION))
        out[name] = {"auc": round(auc(covered, near), 3), "line_at_3pct_false_abstention": round(line, 3),
                     "near_miss_caught_in_sample": round(float((near < line).mean()), 3)}
    out["points"] = signals
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    verify, abstention, exam = result["verify"], result["abstention"], result["exam"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    for label, colour in (("true", "tab:green"), ("false", "tab:red")):
        points = np.array(verify["points"][label])
        ax.scatter(points[:, 0], points[:, 1], s=18, c=colour, alpha=0.7, label=f"{label} statements")
    ax.set(xlabel="e5 cosine, statement vs its gold note line", ylabel="USE cosine",
           title=f"verify, gold line given: AUC e5 {verify['auc']['e5']}, USE {verify['auc']['use']}")
    ax.legend()
    ax = axes[1]
    bins = np.linspace(0.8, 0.96, 33)
    for group, colour in (("covered", "tab:blue"), ("near_miss", "tab:orange")):
        ax.hist([s[0] for s in abstention["points"][group]], bins=bins, alpha=0.6, color=colour, density=True,
                label=group.replace("_", "-"))
    ax.axvline(abstention["best_similarity"]["line_at_3pct_false_abstention"], color="k", ls="--",
               label="3% false abstention")
    ax.set(xlabel="best e5 sentence cosine", ylabel="density",
           title=f"abstention: AUC {abstention['best_similarity']['auc']}, near-miss caught "
                 f"{abstention['best_similarity']['near_miss_caught_in_sample']:.2f}")
    ax.legend()
    ax = axes[2]
    names = list(exam["accuracy_given_gold_line"])
    ax.bar(names, [exam["accuracy_given_gold_line"][n] for n in names], color="tab:gray")
    ax.axhline(exam["chance"], color="k", ls=":", label="chance")
    ax.axhline(0.75, color="tab:red", ls="--", label="target")
    ax.set(ylim=(0, 1), ylabel="MCQ accuracy", title=f"exam, gold line given (n={exam['n']})")
    ax.legend()
    fig.suptitle(f"What the packaged models tell apart when handed the answer ({result['split']} split)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    parser.add_argument("--plot", type=Path, help="write the three studies as one PNG here")
    args = parser.parse_args()
    settings = load_settings()
    assistant = Assistant(settings, log=lambda m: None)
    assistant.ensure_index()
    notes = NotesMap.of(settings.corpus_dir, assistant.state.data.chunks)
    result = {"split": args.split, "verify": verify_study(assistant, notes, args.split),
              "exam": exam_study(assistant, args.split), "abstention": abstention_study(assistant, args.split)}
    if args.plot:
        plot(result, args.plot)
    summary = {k: ({n: v for n, v in study.items() if n != "points"} if isinstance(study, dict) else study)
               for k, study in result.items()}
    save(f"ceiling_{args.split}", summary)
    print(json.dumps(summary, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
