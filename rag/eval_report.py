"""The eval report: targets, tables with intervals and baselines, Recall@k and risk–coverage plots.

`write_report` turns the harness's metrics (see `rag/evaluate.py`) into
`report.md`, `recall_at_k.png`, `risk_coverage_exam.png` and
`risk_coverage_verify.png`, and returns the summary `rag eval` prints.
Every proportion shows its Wilson 95% interval and its item count, every
accuracy its trivial baseline, and a target met on fewer than five items
says so.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rag import metrics as M

KS = (1, 3, 5, 10)
FEW = 5  # a "met" resting on fewer items says it cannot tell


@dataclass(frozen=True)
class Target:
    """A target of issue 11 or 12, read from one figure of one item group."""

    figure: str
    issue: int
    section: str  # "answers", or "retrieval" (the default retriever's run)
    group: str
    metric: str
    threshold: float
    higher: bool = True
    baseline: str | float | None = None  # a figure of the same group, or a constant
    over_baseline: float | None = None  # the target is the baseline plus this margin


TARGETS = (
    Target("evidence in answer, open EN", 11, "answers", "kind:open·lang:en", "evidence_in_answer", 0.90),
    Target("evidence in answer, open KO", 11, "answers", "kind:open·lang:ko", "evidence_in_answer", 0.90),
    Target("evidence recall@1, EN", 11, "retrieval", "lang:en", "evidence_recall@1", 0.85),
    Target("evidence recall@1, KO", 11, "retrieval", "lang:ko", "evidence_recall@1", 0.85),
    Target("evidence recall@3, EN", 11, "retrieval", "lang:en", "evidence_recall@3", 0.97),
    Target("evidence recall@3, KO", 11, "retrieval", "lang:ko", "evidence_recall@3", 0.97),
    Target("strict section MRR@10", 11, "retrieval", "all", "strict_mrr@10", 0.93),
    Target("abstention, all out-of-scope", 11, "answers", "kind:oos", "abstention_recall", 0.90),
    Target("abstention, near-miss", 11, "answers", "category:near_miss", "abstention_recall", 0.85),
    Target("false abstention, open + follow-up", 11, "answers", "all", "false_abstention", 0.03, higher=False),
    Target("follow-up second turn: evidence in answer", 11, "answers", "kind:followup", "evidence_in_answer", 0.85),
    Target("answer body median chars, open", 11, "answers", "kind:open", "body_chars_median", 700, higher=False),
    Target("MCQ accuracy", 12, "answers", "kind:mcq", "mcq_accuracy", 0.75, baseline="mcq_chance"),
    Target("MCQ accuracy, answers not 불확실", 12, "answers", "kind:mcq", "mcq_accuracy_confident", 0.90,
           baseline="mcq_chance"),
    Target("MCQ share not 불확실", 12, "answers", "kind:mcq", "mcq_confident_share", 0.50),
    Target("verify balanced accuracy, covered", 12, "answers", "kind:verify", "verify_balanced_accuracy", 0.85,
           baseline=0.5),
    Target("verify accuracy, covered, over majority", 12, "answers", "kind:verify", "verify_accuracy", 0.0,
           baseline="verify_majority", over_baseline=0.15),
    Target("strict strike-span hit", 12, "answers", "kind:verify", "strike_hit_rate", 0.80),
    Target("not-covered statements not confirmed", 12, "answers", "kind:verify", "not_covered_handling", 0.95),
)


def _number(value) -> str:
    if isinstance(value, float) and value > 10:  # counts and medians: whole, or one decimal for a half
        return f"{value:.0f}" if value == round(value) else f"{value:.1f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def cell(values: dict, name: str) -> str:
    """A figure with its interval and item count: `0.568 [0.42–0.71] n=44`."""
    value = values.get(name)
    if value is None:
        return "–"
    text = _number(value)
    if values.get(f"{name}_ci"):
        low, high = values[f"{name}_ci"]
        text += f" [{low:.2f}–{high:.2f}]"
    if values.get(f"{name}_n") is not None:
        text += f" n={values[f'{name}_n']}"
    return text


def table(rows: dict[str, dict], columns: list[tuple[str, str]]) -> str:
    """Markdown table; `columns` are (header, figure name); empty rows are left out."""
    lines = ["| | " + " | ".join(h for h, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, values in rows.items():
        cells = [cell(values, metric) for _, metric in columns]
        if any(c != "–" for c in cells):
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pick(groups: dict[str, dict], names) -> dict[str, dict]:
    return {name: groups[name] for name in names if name in groups}


def target_row(target: Target, metrics: dict) -> str:
    source = metrics["retrieval"].get(metrics["default_retriever"], {}) if target.section == "retrieval" \
        else metrics["answers"]
    values = source.get(target.group, {})
    value, n = values.get(target.metric), values.get(f"{target.metric}_n")
    baseline = values.get(target.baseline) if isinstance(target.baseline, str) else target.baseline
    threshold = target.threshold
    sign = "≥" if target.higher else "≤"
    wanted = f"{sign} {threshold:g}"
    if target.over_baseline is not None:
        threshold = None if baseline is None else max(threshold, baseline + target.over_baseline)
        wanted = f"≥ baseline + {target.over_baseline}" + ("" if threshold is None else f" = {threshold:.3f}")
    if value is None or threshold is None:
        met = "– (no items)"
    else:
        met = "yes" if (value >= threshold if target.higher else value <= threshold) else "no"
        if n is not None and n < FEW:
            met += f" (n={n}: too few to tell)"
    return (f"| {target.figure} | {target.group} | {wanted} | {cell(values, target.metric)} | "
            f"{'–' if baseline is None else _number(baseline)} | {met} | #{target.issue} |")


def targets_table(metrics: dict) -> str:
    rows = ["| figure | items | target | value [95% CI] n | baseline | met | issue |", "|---|---|---|---|---|---|---|"]
    return "\n".join(rows + [target_row(t, metrics) for t in TARGETS])


RETRIEVAL_COLUMNS = {
    "lenient": [(f"recall@{k}", f"recall@{k}") for k in KS] + [("mrr@10", "mrr@10"), ("ndcg@10", "ndcg@10")],
    "strict": [(f"strict recall@{k}", f"strict_recall@{k}") for k in KS] + [("strict mrr@10", "strict_mrr@10")],
    "evidence": [(f"evidence recall@{k}", f"evidence_recall@{k}") for k in KS] + [("evidence mrr@10", "evidence_mrr@10")],
}
ANSWER_COLUMNS = [("errors", "errors"), ("evidence in answer", "evidence_in_answer"),
                  ("key terms", "key_term_coverage"), ("citation validity", "citation_validity"),
                  ("citation precision", "citation_precision"), ("format", "format_compliance"),
                  ("body chars (median)", "body_chars_median")]
EXAM_COLUMNS = [("accuracy", "mcq_accuracy"), ("chance", "mcq_chance"), ("balanced accuracy", "mcq_balanced_accuracy"),
                ("accuracy, not 불확실", "mcq_accuracy_confident"), ("share not 불확실", "mcq_confident_share")]
VERIFY_COLUMNS = [("accuracy (covered)", "verify_accuracy"), ("majority baseline", "verify_majority"),
                  ("balanced accuracy", "verify_balanced_accuracy"), ("accuracy, not 불확실", "verify_accuracy_confident"),
                  ("share not 불확실", "verify_confident_share"), ("strike hit (strict)", "strike_hit_rate"),
                  ("strike hit (old loose rule)", "strike_hit_rate_loose"), ("not-covered handling", "not_covered_handling"),
                  ("undecided, gold line quoted", "undecided_evidence_shown")]
ABSTAIN_COLUMNS = [("abstention on out-of-scope", "abstention_recall"), ("false abstention", "false_abstention")]
WRITER_COLUMNS = [("lines dropped by the grounding check", "writer_drop_rate"),
                  ("answers that fell back to extractive", "writer_fallback_rate")]
LATENCY_COLUMNS = [(f"{m} {q}", f"latency_{m}_{q}_ms") for m in ("qa", "exam", "verify") for q in ("p50", "p95")]


def writer_tables(answers: dict, rows: dict) -> list[str]:
    """The LLM writer's figures, only when the writer answered (an extractive run's report is unchanged)."""
    if "writer_fallback_rate" not in answers.get("all", {}):
        return []
    return ["### LLM writer (rag/writer.py)\n\n" + table(rows, WRITER_COLUMNS)]


def _kind_rows(groups: dict[str, dict], kind: str) -> dict[str, dict]:
    return _pick(groups, [f"kind:{kind}", f"kind:{kind}·lang:en", f"kind:{kind}·lang:ko"])


def retrieval_tables(metrics: dict) -> list[str]:
    retrieval = metrics["retrieval"]
    by_retriever = {spec: groups.get("all", {}) for spec, groups in retrieval.items()}
    by_language = {f"{spec} · {g[5:]}": values for spec, groups in retrieval.items()
                   for g, values in groups.items() if g.startswith("lang:")}
    return [
        "### Retrieval, section level, lenient (any gold heading on the hit's path)\n\n"
        + table(by_retriever, RETRIEVAL_COLUMNS["lenient"]),
        "### Retrieval, section level, strict (only the section whose lines hold the evidence sentence)\n\n"
        + table(by_retriever, RETRIEVAL_COLUMNS["strict"]),
        "### Evidence recall@k (a hit chunk's lines hold the evidence sentence)\n\n"
        + table(by_retriever, RETRIEVAL_COLUMNS["evidence"]),
        "### Retrieval by language\n\n" + table(by_language, [RETRIEVAL_COLUMNS["lenient"][2], ("mrr@10", "mrr@10"),
                                                               *RETRIEVAL_COLUMNS["strict"][:1], ("strict mrr@10", "strict_mrr@10"),
                                                               *RETRIEVAL_COLUMNS["evidence"][:3]]),
    ]


def confidence_note(scored: list, kind: str) -> str:
    chosen = [s for s in scored if s.item.kind == kind and s.correct is not None]
    reported = sum(s.confidence is not None for s in chosen)
    if not chosen:
        return f"{kind}: no items"
    if not reported:
        return f"{kind}: no confidence reported (n={len(chosen)}); the curve is one point, all answers"
    if reported == len(chosen):
        return f"{kind}: confidence reported on all {reported} answers"
    return f"{kind}: confidence reported on {reported} of {len(chosen)} answers; answers without one come last, together"


def plot_recall(retrieval: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (sections, chunks) = plt.subplots(1, 2, figsize=(10, 4), dpi=110, sharey=True)
    for spec, groups in retrieval.items():
        values = groups.get("all", {})
        line, = sections.plot(KS, [values.get(f"recall@{k}") or 0 for k in KS], marker="o", label=f"{spec} lenient")
        sections.plot(KS, [values.get(f"strict_recall@{k}") or 0 for k in KS], marker="s", linestyle="--",
                      color=line.get_color(), label=f"{spec} strict")
        chunks.plot(KS, [values.get(f"evidence_recall@{k}") or 0 for k in KS], marker="o", label=spec)
    for ax, title in ((sections, "Section Recall@k (solid lenient, dashed strict)"),
                      (chunks, "Evidence recall@k (chunk holds the gold line)")):
        ax.set_xlabel("k")
        ax.set_xticks(KS)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    sections.set_ylabel("Recall@k")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_risk_coverage(scored: list, kind: str, baseline: float | None, title: str, path: Path) -> None:
    """Accuracy against the share answered, most confident first, with the not-불확실 point and the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [s for s in scored if s.item.kind == kind and s.correct is not None]
    points = M.risk_coverage([(s.confidence, s.correct) for s in chosen])
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label="answers by confidence")
        confident = [s.correct for s in chosen if s.scores.get(f"{'mcq' if kind == 'mcq' else 'verify'}_accuracy_confident") is not None]
        if confident:
            ax.plot([len(confident) / len(chosen)], [sum(confident) / len(confident)], marker="*", markersize=14,
                    linestyle="none", label="answers not marked uncertain")
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle=":", label="trivial baseline")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("share answered (coverage)")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.set_title(f"{title}\n{confidence_note(scored, kind)}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(metrics: dict, scored: list, out_dir: Path) -> tuple[str, list[Path]]:
    """Write report.md and the plots into `out_dir`; return the printed summary and the plot paths."""
    answers = metrics["answers"]
    plots = []
    if metrics["retrieval"]:
        plot_recall(metrics["retrieval"], out_dir / "recall_at_k.png")
        plots.append(out_dir / "recall_at_k.png")
    for kind, name, baseline in (("mcq", "exam", answers.get("kind:mcq", {}).get("mcq_chance")),
                                 ("verify", "verify", answers.get("kind:verify", {}).get("verify_majority"))):
        path = out_dir / f"risk_coverage_{name}.png"
        plot_risk_coverage(scored, kind, baseline, f"Risk–coverage, {name}" + (" (covered statements)" if kind == "verify" else ""), path)
        plots.append(path)
    overview = _pick(answers, ["all", *sorted(g for g in answers if g.startswith("kind:") and "·" not in g)])
    header = (f"Split: **{metrics['split']}**  \nGold: {', '.join(Path(p).name for p in metrics['gold_files'])}  \n"
              f"Embedders: {', '.join(metrics['settings']['embedders'])}; default retriever: {metrics['default_retriever']}; "
              f"{answers['all']['n'] if 'all' in answers else 0} items, {answers.get('all', {}).get('errors', 0)} errored "
              f"(each counted as a failure); {len(metrics['gold_errors'])} malformed gold lines; {metrics['seconds']} s")
    summary = "\n\n".join([
        header,
        "### Targets (issues 11 and 12, strict figures)\n\n" + targets_table(metrics),
        *retrieval_tables(metrics)[:3],
        "### Answers by kind\n\n" + table(overview, [("n", "n"), *ANSWER_COLUMNS]),
        *writer_tables(answers, overview),
        "### Exam\n\n" + table(_kind_rows(answers, "mcq"), EXAM_COLUMNS),
        "### Verify\n\n" + table(_kind_rows(answers, "verify"), VERIFY_COLUMNS),
    ])
    by_kind_lang = _pick(answers, sorted(g for g in answers if g.startswith("kind:")))
    abstention = _pick(answers, ["kind:oos", *sorted(g for g in answers if g.startswith("category:")),
                                 "kind:oos·lang:en", "kind:oos·lang:ko", "kind:open", "kind:followup"])
    problems = Counter(p for s in scored for p in s.format_problems)
    errored = [f"- {s.item.id} ({s.item.file}:{s.item.line}): {s.error}" for s in scored if s.error]
    report = "\n\n".join([
        "# Eval report\n\n" + header,
        "### Targets (issues 11 and 12, strict figures)\n\n" + targets_table(metrics),
        *retrieval_tables(metrics),
        "![Recall@k](recall_at_k.png)",
        "### Answers by kind and language\n\n" + table(by_kind_lang, [("n", "n"), *ANSWER_COLUMNS]),
        *writer_tables(answers, overview),
        "### Answers by file\n\n" + table(_pick(answers, sorted(g for g in answers if g.startswith("file:"))),
                                           [("n", "n"), *ANSWER_COLUMNS]),
        "### Exam\n\n" + table(_kind_rows(answers, "mcq"), EXAM_COLUMNS),
        "### Verify\n\nAccuracy, balanced accuracy and strike figures are on covered statements; "
        "not-covered handling is the share of not-covered statements not confirmed as correct. "
        "The loose strike figure is the old rule, shown for this run only. \"Undecided, gold line quoted\": of the "
        "covered statements left undecided, the share whose answer quotes the statement's gold note line (verify "
        "quotes the nearest note sentences under a sentence it cannot decide).\n\n"
        + table(_kind_rows(answers, "verify"), VERIFY_COLUMNS),
        "### Risk–coverage\n\n" + "\n".join(f"- {confidence_note(scored, k)}" for k in ("mcq", "verify"))
        + "\n\n![Risk–coverage, exam](risk_coverage_exam.png) ![Risk–coverage, verify](risk_coverage_verify.png)",
        "### Abstention\n\n" + table(abstention, [("n", "n"), *ABSTAIN_COLUMNS]),
        "### Format failures by reason\n\n" + ("\n".join(f"- {count} × {p}" for p, count in problems.most_common()) or "none"),
        "### Errored items\n\n" + ("\n".join(errored) or "none"),
        "### Latency (ms)\n\n" + table(_pick(answers, ["all"]), LATENCY_COLUMNS),
        "### Malformed gold lines\n\n" + ("\n".join(f"- {e}" for e in metrics["gold_errors"]) or "none"),
    ])
    (out_dir / "report.md").write_text(report + "\n", encoding="utf-8")
    return summary, plots
