"""The eval harness: answer gold questions, score them, write a report and plots.

`rag eval --gold FILE…` loads gold JSON Lines (MCQ, open, verify and
out-of-scope items, told apart by their fields), answers every item or
reuses a `rag batch` output (`--answers`), runs each baseline retriever on
the same items, and writes `metrics.json`, `report.md` and
`recall_at_k.png` into `--out`. Malformed gold lines are reported with file
and line; the rest are still scored and the exit code is 1.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rag import metrics as M
from rag.progress import Bar, Progress, silent

HANGUL = re.compile(r"[가-힣]")
KS = (1, 3, 5, 10)
TARGETS = {  # metric: (target, higher_is_better)
    "recall@5": (0.98, True), "mrr@10": (0.90, True), "abstention_recall": (0.90, True),
    "false_abstention": (0.03, False), "citation_validity": (1.0, True), "citation_precision": (0.90, True),
    "format_compliance": (1.0, True), "mcq_accuracy": (0.85, True), "verify_accuracy": (0.90, True),
    "strike_hit_rate": (0.80, True),
}


@dataclass(frozen=True)
class GoldItem:
    file: str
    line: int
    kind: str  # mcq | open | verify | oos
    lang: str  # en | ko
    record: dict

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def text(self) -> str:
        return self.record.get("question") or self.record.get("statement")

    @property
    def retrieval_text(self) -> str:
        options = self.record.get("options") or {}
        return " ".join([self.text, *options.values()])


@dataclass
class EvalRun:
    metrics: dict
    summary_markdown: str
    plot_path: Path
    errors: list[str] = field(default_factory=list)


REQUIRED = {
    "mcq": ("id", "question", "options", "answer", "gold_headings"),
    "open": ("id", "question", "gold_headings"),
    "verify": ("id", "statement", "is_correct", "gold_headings"),
    "oos": ("id", "question"),
}


def kind_of(record: dict) -> str:
    if "options" in record:
        return "mcq"
    if "statement" in record:
        return "verify"
    if "gold_headings" not in record:
        return "oos"
    return "open"


def load_gold(paths: list[Path], known_headings: set[str]) -> tuple[list[GoldItem], list[str]]:
    """Gold items of all files, and one message per malformed line."""
    items, errors, seen = [], [], set()
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            errors.append(f"{path}: cannot read ({type(err).__name__}); give a UTF-8 JSON Lines file")
            continue
        if not any(line.strip() for line in lines):
            errors.append(f"{path}: the gold file is empty; add one JSON object per line")
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            problem, record = None, None
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                problem = f"not valid JSON ({err.msg})"
            if record is not None and not isinstance(record, dict):
                problem = "expected a JSON object"
            if problem is None:
                kind = kind_of(record)
                missing = [f for f in REQUIRED[kind] if f not in record]
                unknown = [h for h in record.get("gold_headings", []) if M.normalise_heading(h) not in known_headings]
                if missing:
                    problem = f"{kind} item lacks field {missing[0]!r}"
                elif kind == "mcq" and record["answer"] not in record["options"]:
                    problem = f"answer {record['answer']!r} is not one of the options {sorted(record['options'])}"
                elif unknown:
                    problem = f"unknown heading {unknown[0]!r} (not a heading of the indexed notes)"
                elif str(record["id"]) in seen:
                    problem = f"duplicate id {record['id']!r}"
            if problem:
                errors.append(f"{path}:{number}: {problem}")
                continue
            seen.add(str(record["id"]))
            text = record.get("question") or record.get("statement") or ""
            items.append(GoldItem(path.name, number, kind, "ko" if HANGUL.search(text) else "en", record))
    return items, errors


def answer_gold(items: list[GoldItem], assistant, progress: Progress) -> dict[str, dict]:
    answers = {}
    for done, item in enumerate(items, 1):
        mode = {"mcq": "exam", "verify": "verify"}.get(item.kind, "auto")
        try:
            answers[item.id] = assistant.ask(item.text, mode=mode, options=item.record.get("options")).to_json()
        except Exception as err:  # a failing item is scored as a failure, not a crash
            answers[item.id] = {"error": f"{type(err).__name__}: {err}"}
        progress(done, len(items), "answering gold")
    return answers


def retrieval_runs(items: list[GoldItem], assistant, specs: list[str], progress: Progress) -> dict[str, dict]:
    """Hits (as JSON) per retriever spec per in-scope item."""
    runs = {}
    scoped = [i for i in items if i.kind != "oos"]
    for spec in specs:
        kind, _, model = spec.partition(":")
        retriever = assistant.retriever(kind, (model,) if model else None)
        hits = {}
        for done, item in enumerate(scoped, 1):
            found = retriever.search(assistant.query(item.retrieval_text), 10)
            hits[item.id] = [h.to_json(rank) for rank, h in enumerate(found, 1)]
            progress(done, len(scoped), f"retrieval {spec}")
        runs[spec] = hits
    return runs


def retrieval_metrics(items: list[GoldItem], hits: dict[str, list]) -> dict:
    rels = [M.relevance_vector(hits.get(i.id, []), i.record["gold_headings"]) for i in items if i.kind != "oos"]
    if not rels:
        return {}
    out = {f"recall@{k}": M.mean([M.recall_at(r, k) for r in rels]) for k in KS}
    out["mrr@10"] = M.mean([M.mrr_at(r) for r in rels])
    out["ndcg@10"] = M.mean([M.ndcg_at(r) for r in rels])
    out["n"] = len(rels)
    return out


def answer_metrics(items: list[GoldItem], answers: dict[str, dict]) -> dict:
    scoped = [i for i in items if i.kind != "oos"]
    oos = [i for i in items if i.kind == "oos"]
    ok = lambda i: "error" not in answers.get(i.id, {"error": 1})  # noqa: E731
    answered = [i for i in scoped if ok(i) and not answers[i.id]["abstained"]]
    mcq = [i for i in scoped if i.kind == "mcq"]
    verify = [i for i in scoped if i.kind == "verify"]
    wrong = [i for i in verify if i.record["is_correct"] is False and i.record.get("wrong_span")]
    out = {
        "n": len(items),
        "errors": sum(not ok(i) for i in items),
        "mcq_accuracy": M.mean([float(ok(i) and answers[i.id]["choice"] == i.record["answer"]) for i in mcq]),
        "key_term_coverage": M.mean([M.key_term_coverage(answers[i.id]["answer_markdown"], i.record.get("key_terms", []))
                                     for i in answered]),
        "citation_validity": M.mean([M.citation_validity(answers[i.id]) for i in items if ok(i)]),
        "citation_precision": M.mean([M.citation_precision(answers[i.id], i.record["gold_headings"]) for i in answered]),
        "format_compliance": M.mean([M.format_compliance(answers[i.id]["answer_markdown"]) for i in answered]),
        "abstention_recall": M.mean([float(ok(i) and answers[i.id]["abstained"]) for i in oos]),
        "false_abstention": M.mean([float(not ok(i) or answers[i.id]["abstained"]) for i in scoped]),
        "verify_accuracy": M.mean([float(ok(i) and answers[i.id]["is_correct"] == i.record["is_correct"]) for i in verify]),
        "strike_hit_rate": M.mean([float(ok(i) and M.strike_hits(answers[i.id]["answer_markdown"], i.record["wrong_span"]))
                                   for i in wrong]),
    }
    written = [answers[i.id]["writer"] for i in items if ok(i) and answers[i.id].get("writer")
               and not answers[i.id]["abstained"]]
    if written:  # the LLM writer answered: how much of what it wrote the grounding check removed
        lines = sum(w["lines_kept"] + w["lines_dropped"] + w["lines_marked"] for w in written)
        out["writer_drop_rate"] = sum(w["lines_dropped"] for w in written) / lines if lines else None
        out["writer_fallback_rate"] = M.mean([float(w["fallback"] is not None) for w in written])
    for mode in ("qa", "exam", "verify"):
        times = [answers[i.id]["timings_ms"]["total_ms"] for i in items if ok(i) and answers[i.id]["mode"] == mode]
        if times:
            out[f"latency_{mode}_p50_ms"] = M.percentile(times, 50)
            out[f"latency_{mode}_p95_ms"] = M.percentile(times, 95)
    return out


def _groups(items: list[GoldItem]) -> dict[str, list[GoldItem]]:
    groups = {"all": items}
    for item in items:
        groups.setdefault(f"file:{item.file}", []).append(item)
        groups.setdefault(f"lang:{item.lang}", []).append(item)
    return groups


def _fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _table(rows: dict[str, dict], columns: list[str]) -> str:
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, values in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(values.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def plot_recall(retrieval: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for spec, groups in retrieval.items():
        values = [groups["all"].get(f"recall@{k}") or 0 for k in KS]
        ax.plot(KS, values, marker="o", label=spec)
    ax.set_xlabel("k (sections)")
    ax.set_ylabel("Recall@k")
    ax.set_xticks(KS)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Section-level Recall@k by retriever")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def targets_table(metrics: dict) -> str:
    """Each target against the worst language group where the metric applies."""
    rows = ["| metric | target | en | ko | all | met |", "|---|---|---|---|---|---|"]
    default = metrics["default_retriever"]
    for name, (target, higher) in TARGETS.items():
        source = metrics["retrieval"][default] if name in ("recall@5", "mrr@10") else metrics["answers"]
        values = {g: source.get(f"lang:{g}", {}).get(name) for g in ("en", "ko")}
        values["all"] = source["all"].get(name)
        present = [v for k, v in values.items() if v is not None and k != "all"] or [values["all"]]
        present = [v for v in present if v is not None]
        met = "–" if not present else ("yes" if all((v >= target) if higher else (v <= target) for v in present) else "no")
        rows.append(f"| {name} | {'≥' if higher else '≤'} {target} | {_fmt(values['en'])} | {_fmt(values['ko'])} | "
                    f"{_fmt(values['all'])} | {met} |")
    return "\n".join(rows)


def evaluate(gold_paths: list[Path], assistant, retrievers: list[str], out_dir: Path, progress: Progress = silent,
             answers_path: Path | None = None) -> EvalRun:
    """Score gold files; writes metrics.json, report.md and recall_at_k.png into `out_dir`."""
    known = {M.normalise_heading(h) for c in assistant.state.data.chunks for h in c.heading_path}
    items, errors = load_gold([Path(p) for p in gold_paths], known)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if answers_path:
        answers = {}
        for line in Path(answers_path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                answers[str(record["id"])] = record
    else:
        answers = answer_gold(items, assistant, progress)
    runs = retrieval_runs(items, assistant, retrievers, progress)
    groups = _groups(items)
    default = "hybrid" if "hybrid" in runs else (retrievers[0] if retrievers else "")
    metrics = {
        "gold_files": [str(p) for p in gold_paths],
        "default_retriever": default,
        "settings": {"embedders": list(assistant.settings.embedders), "retriever": assistant.settings.retriever,
                     "top_k": assistant.settings.top_k},
        "retrieval": {spec: {g: retrieval_metrics(members, hits) for g, members in groups.items()}
                      for spec, hits in runs.items()},
        "answers": {g: answer_metrics(members, answers) for g, members in groups.items()},
        "gold_errors": errors,
        "seconds": round(time.monotonic() - started, 1),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=1), encoding="utf-8")
    plot_path = out_dir / "recall_at_k.png"
    if runs:
        plot_recall(metrics["retrieval"], plot_path)
    retrieval_cols = [f"recall@{k}" for k in KS] + ["mrr@10", "ndcg@10", "n"]
    answer_cols = ["n", "mcq_accuracy", "key_term_coverage", "citation_validity", "citation_precision",
                   "format_compliance", "abstention_recall", "false_abstention", "verify_accuracy", "strike_hit_rate"]
    answer_cols += [c for c in ("writer_drop_rate", "writer_fallback_rate") if c in metrics["answers"]["all"]]
    latency_cols = [f"latency_{m}_{q}_ms" for m in ("qa", "exam", "verify") for q in ("p50", "p95")]
    summary = "\n\n".join([
        "### Targets (default pipeline)\n\n" + targets_table(metrics),
        "### Retrieval, all items, by retriever\n\n" + _table(
            {spec: m["all"] for spec, m in metrics["retrieval"].items()}, retrieval_cols),
        "### Retrieval by language\n\n" + _table(
            {f"{spec} · {g[5:]}": m[g] for spec, m in metrics["retrieval"].items() for g in m if g.startswith("lang:")},
            retrieval_cols),
    ])
    report = "\n\n".join([
        f"# Eval report\n\nGold: {', '.join(Path(p).name for p in gold_paths)}  \n"
        f"Embedders: {', '.join(assistant.settings.embedders)}; default retriever: {default}; "
        f"{len(items)} items; {len(errors)} malformed lines; {metrics['seconds']} s",
        summary,
        "### Answers by file and language\n\n" + _table(metrics["answers"], answer_cols),
        "### Latency (ms)\n\n" + _table({"all": metrics["answers"]["all"]}, latency_cols),
        f"![Recall@k]({plot_path.name})",
        "### Malformed gold lines\n\n" + ("\n".join(f"- {e}" for e in errors) or "none"),
    ])
    (out_dir / "report.md").write_text(report + "\n", encoding="utf-8")
    return EvalRun(metrics, summary, plot_path, errors)


def run_eval(args, settings) -> int:
    """`rag eval`: ensure every baseline's model is indexed, evaluate, print the summary."""
    from rag.engine import Assistant

    specs = [s.strip() for s in args.retrievers.split(",") if s.strip()]
    extra = [s.split(":", 1)[1] for s in specs if s.startswith("dense:")]
    models = tuple(dict.fromkeys([*settings.embedders, *extra]))
    assistant = Assistant(settings.with_overrides(embedders=models), progress=Bar())
    assistant.ensure_index()
    assistant.settings = settings  # answers and "hybrid" use the configured models; baselines name theirs
    run = evaluate([Path(p) for p in args.gold], assistant, specs, Path(args.out), Bar(),
                   Path(args.answers) if args.answers else None)
    print(run.summary_markdown)
    print(f"\nreport: {Path(args.out) / 'report.md'}", file=sys.stderr)
    for error in run.errors:
        print(error, file=sys.stderr)
    return 1 if run.errors else 0
