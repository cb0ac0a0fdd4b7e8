"""The eval harness: answer gold questions, score every item, aggregate with intervals.

`rag eval --gold FILE…` loads gold JSON Lines (MCQ, open, verify, follow-up
and out-of-scope items, told apart by their fields), answers every item or
reuses a `rag batch` output (`--answers`), runs each baseline retriever on
the same items, and writes `metrics.json`, `items.jsonl` (every item's
scores), `answers.jsonl` (the answers, reusable with `--answers`), `report.md`, `recall_at_k.png` and the risk–coverage plots into
`--out` (`rag/eval_report.py` writes the report and plots). Malformed gold
lines are reported with file and line; the rest are still scored and the
exit code is 1.

Scoring rules that keep figures honest:

- an item whose answer errored fails every metric it would have entered
  (and `errors` counts them);
- false abstention is measured on open questions and follow-ups only;
- verify accuracy is on covered statements; not-covered statements
  (`"covered": false`) score "not-covered handling" instead;
- strict section relevance and evidence recall use the note line that holds
  the gold `evidence_ko`, found in the notes and mapped to its section with
  the index's chunks.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from rag import metrics as M
from rag.conversation import turn_of
from rag.progress import Bar, Progress, silent
from rag.retrieve import Query

HANGUL = re.compile(r"[가-힣ㄱ-ㅎㅏ-ㅣ]")  # syllables and bare jamo ("ㅋㅋㅋ")
KS = (1, 3, 5, 10)
OOS_CATEGORIES = ("absent", "near_miss", "junk")
REQUIRED = {
    "mcq": ("id", "question", "options", "answer", "gold_headings"),
    "open": ("id", "question", "gold_headings"),
    "verify": ("id", "statement", "is_correct"),
    "oos": ("id", "question"),
    "followup": ("id", "turns", "gold_headings"),
}
PROPORTIONS = ("citation_validity", "format_compliance", "evidence_in_answer", "abstention_recall",
               "false_abstention", "mcq_accuracy", "mcq_confident_share", "mcq_accuracy_confident",
               "verify_accuracy", "verify_confident_share", "verify_accuracy_confident", "not_covered_handling",
               "strike_hit_rate", "strike_hit_rate_loose", "undecided_evidence_shown", "writer_fallback_rate")
MEANS = ("citation_precision", "key_term_coverage")


@dataclass(frozen=True)
class GoldItem:
    file: str
    line: int
    kind: str  # mcq | open | verify | oos | followup
    lang: str  # en | ko
    record: dict

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def text(self) -> str:
        """The text the gold is about: the question, the statement, or a follow-up's second turn."""
        if self.kind == "followup":
            return self.record["turns"][1]
        return self.record.get("question") or self.record.get("statement")

    @property
    def retrieval_text(self) -> str:
        options = self.record.get("options") or {}
        return " ".join([self.text, *options.values()])

    @property
    def in_scope(self) -> bool:
        """The notes answer it: it has gold sections."""
        return "gold_headings" in self.record

    @property
    def category(self) -> str | None:
        return self.record.get("category", "absent") if self.kind == "oos" else None

    @property
    def covered(self) -> bool:
        return self.record.get("covered", True) is not False


@dataclass(frozen=True)
class ItemScore:
    """One item's outcome: its metric values (None = does not apply) and the facts groups need."""

    item: GoldItem
    error: str | None
    scores: dict
    gold_class: object = None  # mcq: the right letter; covered verify: the right is_correct
    chance: float | None = None  # mcq: 1 / number of options
    confidence: float | None = None
    correct: bool | None = None
    mode: str | None = None
    total_ms: float | None = None
    format_problems: tuple[str, ...] = ()

    def to_json(self) -> dict:
        item = self.item
        return {"id": item.id, "file": item.file, "line": item.line, "kind": item.kind, "lang": item.lang,
                "category": item.category, "error": self.error, "confidence": self.confidence,
                "correct": self.correct, "format_problems": list(self.format_problems), **self.scores}


@dataclass
class EvalRun:
    metrics: dict
    summary_markdown: str
    plot_path: Path
    errors: list[str] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)


# ---- gold ----------------------------------------------------------------------------------
def kind_of(record: dict) -> str:
    if "turns" in record:
        return "followup"
    if "options" in record:
        return "mcq"
    if "statement" in record:
        return "verify"
    if "gold_headings" not in record:
        return "oos"
    return "open"


def _is_text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_text_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def shape_problem(record: dict, kind: str) -> str | None:
    """What is wrong with the fields' types, or None."""
    if not isinstance(record["id"], (str, int)) or isinstance(record["id"], bool):
        return "id must be a string or a number"
    field_name = {"verify": "statement", "followup": "turns"}.get(kind, "question")
    if kind == "followup":
        turns = record["turns"]
        if not (isinstance(turns, list) and len(turns) == 2 and all(_is_text(t) for t in turns)):
            return "turns must be two non-empty strings: the first question and its follow-up"
    elif not _is_text(record[field_name]):
        return f"{field_name} must be a non-empty string"
    if kind == "mcq" and not (isinstance(record["options"], dict) and len(record["options"]) >= 2
                              and all(_is_text(v) for v in record["options"].values())):
        return "options must map at least two letters to non-empty strings"
    if "gold_headings" in record and not (_is_text_list(record["gold_headings"]) and record["gold_headings"]):
        return "gold_headings must be a non-empty list of strings"
    if record.get("key_terms") is not None and not _is_text_list(record["key_terms"]):
        return "key_terms must be a list of strings"
    for name in ("evidence_ko", "wrong_span"):
        if record.get(name) is not None and not _is_text(record[name]):
            return f"{name} must be a non-empty string"
    if kind == "verify" and not isinstance(record["is_correct"], bool):
        return "is_correct must be true or false"
    if kind == "verify" and record.get("covered", True) is not False and "gold_headings" not in record:
        return "verify item lacks field 'gold_headings' (or mark it \"covered\": false)"
    if kind == "oos" and record.get("category", "absent") not in OOS_CATEGORIES:
        return f"category {record['category']!r} is unknown; use one of {', '.join(OOS_CATEGORIES)}"
    return None


def record_problem(record, known_headings: set[str], seen: set[str]) -> str | None:
    """Why a parsed gold line cannot be scored, or None."""
    if not isinstance(record, dict):
        return "expected a JSON object"
    kind = kind_of(record)
    missing = [f for f in REQUIRED[kind] if f not in record]
    if missing:
        return f"{kind} item lacks field {missing[0]!r}"
    problem = shape_problem(record, kind)
    if problem:
        return problem
    if kind == "mcq" and record["answer"] not in record["options"]:
        return f"answer {record['answer']!r} is not one of the options {sorted(record['options'])}"
    unknown = [h for h in record.get("gold_headings", []) if M.normalise_heading(h) not in known_headings]
    if unknown:
        return f"unknown heading {unknown[0]!r} (not a heading of the indexed notes)"
    if str(record["id"]) in seen:
        return f"duplicate id {record['id']!r}"
    return None


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
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                errors.append(f"{path}:{number}: not valid JSON ({err.msg})")
                continue
            problem = record_problem(record, known_headings, seen)
            if problem:
                errors.append(f"{path}:{number}: {problem}")
                continue
            seen.add(str(record["id"]))
            kind = kind_of(record)
            text = record["turns"][0] if kind == "followup" else record.get("question") or record["statement"]
            items.append(GoldItem(path.name, number, kind, "ko" if HANGUL.search(text) else "en", record))
    return items, errors


# ---- where the evidence lies -----------------------------------------------------------------
def _squash(text: str) -> str:
    return " ".join(text.replace("**", "").replace("`", "").split())


@dataclass(frozen=True)
class NotesMap:
    """The indexed notes' lines and chunks: finds the line holding an evidence sentence, and its section."""

    lines: dict[str, list[str]]  # source -> lines with `**`, backticks and extra spaces removed
    chunks: tuple

    @classmethod
    def of(cls, corpus_dir: Path, chunks) -> "NotesMap":
        sources = sorted({c.source for c in chunks})
        lines = {s: [_squash(line) for line in (corpus_dir / s).read_text(encoding="utf-8").splitlines()]
                 for s in sources}
        return cls(lines, tuple(chunks))

    def locate(self, evidence: str) -> frozenset[tuple[str, int]]:
        """(source, line number) of every indexed line holding the evidence sentence."""
        wanted = _squash(evidence)
        return frozenset((c.source, n) for c in self.chunks for n in range(c.line_start, c.line_end + 1)
                         if wanted in self.lines[c.source][n - 1])

    def sections(self, lines: frozenset[tuple[str, int]]) -> set[tuple]:
        return {c.section_key for c in self.chunks for s, n in lines if c.source == s and c.line_start <= n <= c.line_end}


def locate_evidence(items: list[GoldItem], notes: NotesMap) -> tuple[dict[str, frozenset], list[str]]:
    """Evidence lines per item id, and one message per evidence sentence not found in the notes."""
    found, errors = {}, []
    for item in items:
        if not item.record.get("evidence_ko"):
            continue
        lines = notes.locate(item.record["evidence_ko"])
        if lines:
            found[item.id] = lines
        else:
            errors.append(f"{item.file}:{item.line}: evidence_ko not found on any indexed line of the notes; "
                          "copy it verbatim from one line")
    return found, errors


# ---- answering -------------------------------------------------------------------------------
def ask_followup(assistant, first: str, second: str) -> dict:
    """The second turn of a two-turn conversation: the first is answered, then lent as history."""
    turn = turn_of(assistant.ask(first))
    return {**assistant.ask(second, history=[turn]).to_json(), "first_turn": {"question": first, "topic": turn.topic}}


def ask_item(assistant, item: GoldItem) -> dict:
    if item.kind == "followup":
        return ask_followup(assistant, *item.record["turns"])
    mode = {"mcq": "exam", "verify": "verify"}.get(item.kind, "auto")
    return assistant.ask(item.text, mode=mode, options=item.record.get("options")).to_json()


def answer_gold(items: list[GoldItem], assistant, progress: Progress) -> dict[str, dict]:
    answers = {}
    for done, item in enumerate(items, 1):
        try:
            answers[item.id] = ask_item(assistant, item)
        except Exception as err:  # a failing item is scored as a failure, not a crash
            answers[item.id] = {"error": f"{type(err).__name__}: {err}"}
        progress(done, len(items), "answering gold")
    return answers


def read_answers(path: Path) -> tuple[dict[str, dict], list[str]]:
    """A `rag batch` output by id, and one message per unreadable line."""
    answers, errors = {}, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            answers[str(record["id"])] = record
        except (json.JSONDecodeError, TypeError, KeyError):
            errors.append(f"{path}:{number}: not an answer record (a JSON object with an id)")
    return answers, errors


def retrieval_runs(items: list[GoldItem], assistant, specs: list[str], answers: dict[str, dict],
                   embedders: dict, progress: Progress) -> dict[str, dict]:
    """Hits (as JSON) per retriever spec per in-scope item; a follow-up is searched as the engine searched it."""
    runs = {}
    scoped = [i for i in items if i.in_scope]
    for spec in specs:
        kind, _, model = spec.partition(":")
        retriever = assistant.retriever(kind, (model,) if model else None)
        hits = {}
        for done, item in enumerate(scoped, 1):
            text = item.retrieval_text
            if item.kind == "followup":
                text = answers.get(item.id, {}).get("retrieval_text") or text
            hits[item.id] = [h.to_json(rank) for rank, h in enumerate(retriever.search(Query(text, embedders), 10), 1)]
            progress(done, len(scoped), f"retrieval {spec}")
        runs[spec] = hits
    return runs


# ---- scoring ---------------------------------------------------------------------------------
def score_item(item: GoldItem, answer: dict | None) -> ItemScore:
    """Every metric this item enters; an errored answer fails each of them."""
    error = "no answer for this id" if answer is None else answer.get("error")
    ok = error is None
    record, s = item.record, {}
    md = answer["answer_markdown"] if ok else ""
    abstained = ok and bool(answer["abstained"])
    answered = ok and not abstained
    fail = 0.0
    s["citation_validity"] = M.citation_validity(answer) if ok else fail
    problems: list[str] = []
    if item.in_scope:
        problems = M.format_problems(md, item.text) if answered else []
        s["format_compliance"] = (float(not problems) if answered else None) if ok else fail
        s["citation_precision"] = (M.citation_precision(answer, record["gold_headings"]) if answered else None) if ok else fail
        if record.get("key_terms"):
            s["key_term_coverage"] = (M.key_term_coverage(md, record["key_terms"]) if answered else None) if ok else fail
        if record.get("evidence_ko"):
            s["evidence_in_answer"] = float(M.evidence_in_answer(md, record["evidence_ko"], item.text)) if ok else fail
        s["body_chars"] = len(M.body_of(md)) if answered else None
    if item.kind in ("open", "followup"):
        s["false_abstention"] = float(abstained) if ok else 1.0
    if item.kind == "oos":
        s["abstention_recall"] = float(abstained) if ok else fail
    facts = {}
    if item.kind == "mcq" or (item.kind == "verify" and item.covered):
        prefix = "mcq" if item.kind == "mcq" else "verify"
        gold = record["answer"] if item.kind == "mcq" else record["is_correct"]
        correct = ok and answer.get("choice" if item.kind == "mcq" else "is_correct") == gold
        confident = ok and not answer.get("uncertain", False)
        s[f"{prefix}_accuracy"] = float(correct)
        s[f"{prefix}_confident_share"] = float(confident)
        s[f"{prefix}_accuracy_confident"] = float(correct) if confident else None
        facts = {"gold_class": gold, "correct": correct, "confidence": answer.get("confidence") if ok else None,
                 "chance": 1 / len(record["options"]) if item.kind == "mcq" else None}
    written = answer.get("writer") if answered else None
    if written:  # the LLM writer answered: what its grounding check removed, and whether it fell back
        s["writer_fallback_rate"] = float(written["fallback"] is not None)
        s["writer_lines_checked"] = written["lines_kept"] + written["lines_dropped"] + written["lines_marked"]
        s["writer_lines_dropped"] = written["lines_dropped"]
    if item.kind == "verify" and not item.covered:
        s["not_covered_handling"] = float(answer.get("is_correct") is not True) if ok else fail
    if item.kind == "verify" and item.covered and ok and answer.get("is_correct") is None and record.get("evidence_ko"):
        s["undecided_evidence_shown"] = float(M.evidence_in_answer(md, record["evidence_ko"], item.text))
    if item.kind == "verify" and item.covered and record["is_correct"] is False and record.get("wrong_span"):
        s["strike_hit_rate"] = float(M.strike_hits(md, record["wrong_span"])) if ok else fail
        s["strike_hit_rate_loose"] = float(M.strike_hits_loose(md, record["wrong_span"])) if ok else fail
    return ItemScore(item, error, s, mode=answer.get("mode") if ok else None,
                     total_ms=answer.get("timings_ms", {}).get("total_ms") if ok else None,
                     format_problems=tuple(problems), **facts)


def _figure(out: dict, name: str, values: list, proportion: bool) -> None:
    """Store a figure with its item count, and a Wilson interval when it is a proportion."""
    if not values:
        return
    out[name] = sum(values) / len(values)
    out[f"{name}_n"] = len(values)
    if proportion:
        out[f"{name}_ci"] = list(M.wilson(sum(values), len(values)))


def answer_metrics(scored: list[ItemScore]) -> dict:
    out = {"n": len(scored), "errors": sum(s.error is not None for s in scored)}
    for name in (*PROPORTIONS, *MEANS):
        _figure(out, name, [s.scores[name] for s in scored if s.scores.get(name) is not None], name in PROPORTIONS)
    mcq = [s for s in scored if s.item.kind == "mcq"]
    verify = [s for s in scored if s.item.kind == "verify" and s.item.covered]
    if mcq:
        out["mcq_chance"] = M.mean([s.chance for s in mcq])
        out["mcq_balanced_accuracy"] = M.balanced_accuracy([(s.gold_class, s.correct) for s in mcq])
        out["mcq_balanced_accuracy_n"] = len(mcq)
    if verify:
        out["verify_majority"] = M.majority_share([s.gold_class for s in verify])
        out["verify_balanced_accuracy"] = M.balanced_accuracy([(s.gold_class, s.correct) for s in verify])
        out["verify_balanced_accuracy_n"] = len(verify)
    checked = sum(s.scores.get("writer_lines_checked", 0) for s in scored)
    if checked:  # lines dropped by the writer's grounding check, out of all the lines it checked
        out["writer_drop_rate"] = sum(s.scores.get("writer_lines_dropped", 0) for s in scored) / checked
        out["writer_drop_rate_n"] = checked
    lengths = [s.scores["body_chars"] for s in scored if s.scores.get("body_chars") is not None]
    if lengths:
        out["body_chars_median"] = M.percentile(lengths, 50)
        out["body_chars_median_n"] = len(lengths)
    for mode in ("qa", "exam", "verify"):
        times = [s.total_ms for s in scored if s.mode == mode and s.total_ms is not None]
        if times:
            out[f"latency_{mode}_p50_ms"] = M.percentile(times, 50)
            out[f"latency_{mode}_p95_ms"] = M.percentile(times, 95)
    return out


def retrieval_metrics(items: list[GoldItem], hits: dict[str, list], evidence: dict[str, frozenset],
                      notes: NotesMap) -> dict:
    """Lenient and strict section figures and chunk-level evidence recall for the in-scope items."""
    scoped = [i for i in items if i.in_scope]
    if not scoped:
        return {}
    out = {"n": len(scoped)}
    lenient = [M.relevance_vector(hits.get(i.id, []), i.record["gold_headings"]) for i in scoped]
    located = [i for i in scoped if i.id in evidence]
    strict = [M.strict_relevance_vector(hits.get(i.id, []), notes.sections(evidence[i.id])) for i in located]
    chunk = [M.evidence_vector(hits.get(i.id, []), evidence[i.id]) for i in located]
    for prefix, vectors in (("", lenient), ("strict_", strict), ("evidence_", chunk)):
        for k in KS:
            _figure(out, f"{prefix}recall@{k}", [M.recall_at(r, k) for r in vectors], True)
        _figure(out, f"{prefix}mrr@10", [M.mrr_at(r) for r in vectors], False)
    _figure(out, "ndcg@10", [M.ndcg_at(r) for r in lenient], False)
    return out


def groups_of(items: list[GoldItem]) -> dict[str, list[GoldItem]]:
    """Named item groups: all, by language, kind, kind and language, out-of-scope category, file."""
    groups = {"all": items}
    for item in items:
        names = [f"lang:{item.lang}", f"kind:{item.kind}", f"kind:{item.kind}·lang:{item.lang}", f"file:{item.file}"]
        if item.category:
            names.append(f"category:{item.category}")
        for name in names:
            groups.setdefault(name, []).append(item)
    return dict(sorted(groups.items(), key=lambda g: (g[0] != "all", g[0])))


def split_label(gold_paths: list[Path]) -> str:
    """Which split the figures come from, and whether they are in-sample."""
    names = [Path(p).name for p in gold_paths]
    if names and all(n.startswith("test_") for n in names):
        return "test split: out-of-sample, the honest figures"
    if names and all(n.startswith("dev_") for n in names):
        return "dev split: IN-SAMPLE (settings and thresholds were chosen on these items)"
    return "mixed or unnamed split: read as in-sample unless every file is a test_* file"


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def evaluate(gold_paths: list[Path], assistant, retrievers: list[str], out_dir: Path, progress: Progress = silent,
             answers_path: Path | None = None, embedders: dict | None = None) -> EvalRun:
    """Score gold files; writes metrics.json, items.jsonl, answers.jsonl, report.md and the plots into `out_dir`.

    `embedders` encode the baseline retrievers' queries (default: the assistant's own models).
    """
    from rag.eval_report import write_report

    data = assistant.state.data
    known = {M.normalise_heading(h) for c in data.chunks for h in c.heading_path}
    items, errors = load_gold([Path(p) for p in gold_paths], known)
    notes = NotesMap.of(assistant.settings.corpus_dir, data.chunks)
    evidence, evidence_errors = locate_evidence(items, notes)
    errors += evidence_errors
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if answers_path:
        answers, answer_errors = read_answers(Path(answers_path))
        errors += answer_errors
    else:
        answers = answer_gold(items, assistant, progress)
        write_jsonl(out_dir / "answers.jsonl", [{"id": key, **answer} for key, answer in answers.items()])
    runs = retrieval_runs(items, assistant, retrievers, answers, embedders or assistant.embedders, progress)
    scored = {i.id: score_item(i, answers.get(i.id)) for i in items}
    groups = groups_of(items)
    default = "hybrid" if "hybrid" in runs else (retrievers[0] if retrievers else "")
    metrics = {
        "gold_files": [str(p) for p in gold_paths],
        "split": split_label(gold_paths),
        "default_retriever": default,
        "settings": {"embedders": list(assistant.settings.embedders), "retriever": assistant.settings.retriever,
                     "top_k": assistant.settings.top_k},
        "retrieval": {spec: {g: retrieval_metrics(members, hits, evidence, notes) for g, members in groups.items()}
                      for spec, hits in runs.items()},
        "answers": {g: answer_metrics([scored[i.id] for i in members]) for g, members in groups.items()},
        "gold_errors": errors,
        "seconds": round(time.monotonic() - started, 1),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=1), encoding="utf-8")
    write_jsonl(out_dir / "items.jsonl", [s.to_json() for s in scored.values()])
    summary, plots = write_report(metrics, list(scored.values()), out_dir)
    return EvalRun(metrics, summary, out_dir / "recall_at_k.png", errors, plots)


def run_eval(args, settings) -> int:
    """`rag eval`: index every baseline's model, evaluate with the configured settings, print the summary.

    The settings are never changed: a baseline model the settings do not index is indexed by a second
    assistant first, and only its query encoder is lent to the baseline runs.
    """
    from rag.engine import Assistant

    specs = [s.strip() for s in args.retrievers.split(",") if s.strip()]
    extra = [m for m in dict.fromkeys(s.split(":", 1)[1] for s in specs if s.startswith("dense:"))
             if m not in settings.indexed_models]
    embedders = {}
    if extra:
        indexer = Assistant(settings.with_overrides(embedders=(*settings.embedders, *extra)), progress=Bar())
        indexer.ensure_index()
        embedders = indexer.embedders
    assistant = Assistant(settings, progress=Bar())
    assistant.ensure_index()
    run = evaluate([Path(p) for p in args.gold], assistant, specs, Path(args.out), Bar(),
                   Path(args.answers) if args.answers else None, {**assistant.embedders, **embedders})
    print(run.summary_markdown)
    print(f"\nreport: {Path(args.out) / 'report.md'}", file=sys.stderr)
    for error in run.errors:
        print(error, file=sys.stderr)
    return 1 if run.errors else 0
