"""Warm answer latency per mode over the test gold questions, against the encode floor.

One process, one warm `Assistant`. Every gold question is asked in its mode
(open questions and out-of-scope ones as qa, multiple choice as exam,
statements as verify), `--repeat` times. Right before each ask, the default
embedder encodes the same retrieval text alone (`query=True`), so the floor
and the total come from the same run, the same texts and the same load.

    total    wall time of `Assistant.ask` (retrieval, fusion, composition, the
             exam mode's second model, everything)
    encode   the default embedder's query encode of the text ask embeds with it
             (exam: the question alone; BM25 and the USE model read the options too)

    model    time spent inside every model encode during that ask (exam mode
             also encodes the stem again and the options with the USE
             model; verify encodes per sentence), so total - model is what
             retrieval, fusion and composition add

Target: total p95 <= 1.25 x encode p95 per mode.

    .venv/bin/python bench/latency.py [--index /tmp/bench-index] [--repeat 3]
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
import numpy as np  # noqa: E402

TARGET = 1.25


class EncodeClock:
    """Wraps the assistant's embedders and adds up the seconds spent encoding."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, embedders: dict) -> None:
        for embedder in embedders.values():
            if getattr(embedder, "_bench_wrapped", False):
                continue
            original = embedder.encode

            def timed(texts, *, query=False, _original=original):
                t0 = time.perf_counter()
                try:
                    return _original(texts, query=query)
                finally:
                    self.seconds += time.perf_counter() - t0
                    self.calls += 1

            embedder.encode = timed
            embedder._bench_original = original
            embedder._bench_wrapped = True


def items_by_mode() -> dict[str, list[dict]]:
    """Gold items as ask arguments: {'qa': [...], 'exam': [...], 'verify': [...]}."""
    modes: dict[str, list[dict]] = {"qa": [], "exam": [], "verify": []}
    for row in common.read_gold():
        if "statement" in row:
            modes["verify"].append({"text": row["statement"], "options": None, "retrieval": row["statement"]})
        elif row.get("options"):
            options = row["options"]
            modes["exam"].append({"text": row["question"], "options": options, "retrieval": row["question"],
                                  "full": row["question"] + " " + " ".join(options.values())})
        elif isinstance(row.get("question"), str):  # two-turn items are left out: their retrieval text has context
            modes["qa"].append({"text": row["question"], "options": None, "retrieval": row["question"]})
    return modes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=common.DEFAULT_INDEX)
    parser.add_argument("--corpus", type=Path, default=common.REPO / "corpus")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="qa,exam,verify")
    args = parser.parse_args(argv)

    from rag.engine import ANSWER_MODES, Assistant
    from rag.lexical import expand_query
    from rag.pipeline import AskOptions
    from rag.settings import Settings

    common.ensure_index(args.index, args.corpus)
    settings = Settings().with_overrides(index_dir=args.index, corpus_dir=args.corpus)
    assistant = Assistant(settings, log=lambda m: None)
    assistant.ensure_index()
    model_id = settings.embedders[0]
    embedder = assistant.embedders[model_id]
    encode_alone = embedder.encode
    clock = EncodeClock()
    available = {"qa": True, "exam": importlib.util.find_spec("rag.exam") is not None,
                 "verify": importlib.util.find_spec("rag.verify") is not None}
    modes = {m: items for m, items in items_by_mode().items() if m in args.modes.split(",")}

    def own_text(mode: str, item: dict) -> str:
        """The text the default embedder encodes for this ask (exam: the question alone; else the question)."""
        request, _ = assistant.prepare(item["text"], AskOptions(mode=mode), item["options"], None)
        plan = ANSWER_MODES[request.mode].plan(request, settings.embedders, assistant.option_model)
        return assistant.query_for(plan).embed_text(model_id)

    # warm-up: every model, tokenizer and lazy import the modes touch, twice
    for mode, items in modes.items():
        if available[mode]:
            for item in items[:2] * 2:
                assistant.ask(item["text"], mode=mode, options=item["options"])

    result = {"command": "bench/latency.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "model": model_id, "repeat": args.repeat, "modes": {}}
    print(f"warm latency, {common.machine()['cores']} cores, model {model_id}, each question x{args.repeat}\n")
    print("| mode | questions | total p50 ms | total p95 ms | encode p50 ms | encode p95 ms | total p95 / encode p95 "
          "| target <= 1.25 | model encodes per ask | model p95 ms | total - model p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for mode, items in modes.items():
        if not available[mode]:
            print(f"| {mode} | {len(items)} | rag/{mode}.py not present yet: skipped | | | | | | | | |")
            continue
        total, encode, retrieve, compose, model, rest, calls, errors = [], [], [], [], [], [], [], 0
        encode_full: list[float] = []
        for _ in range(args.repeat):
            for item in items:
                t0 = time.perf_counter()
                encode_alone([own_text(mode, item)], query=True)
                encode.append((time.perf_counter() - t0) * 1000)
                if "full" in item:  # the floor before exam's e5 read the question alone
                    t0 = time.perf_counter()
                    encode_alone([expand_query(item["full"], general=False)], query=True)
                    encode_full.append((time.perf_counter() - t0) * 1000)
                clock.wrap(assistant.embedders)
                clock.seconds, clock.calls = 0.0, 0
                t0 = time.perf_counter()
                try:
                    answer = assistant.ask(item["text"], mode=mode, options=item["options"])
                except Exception as err:  # a mode under construction must not stop the others
                    errors += 1
                    print(f"  {mode}: {type(err).__name__}: {err}", file=sys.stderr)
                    continue
                total.append((time.perf_counter() - t0) * 1000)
                model.append(clock.seconds * 1000)
                rest.append(total[-1] - model[-1])
                calls.append(clock.calls)
                retrieve.append(answer.timings_ms.get("retrieve_ms", 0.0))
                compose.append(answer.timings_ms.get("compose_ms", 0.0))
        t, e = common.stats(total), common.stats(encode)
        ratio = t["p95"] / e["p95"]
        row = {"questions": len(items), "asks": len(total), "errors": errors, "total_ms": t, "encode_ms": e,
               "retrieve_ms": common.stats(retrieve), "compose_ms": common.stats(compose),
               "model_ms": common.stats(model), "total_minus_model_ms": common.stats(rest),
               "model_calls_per_ask": float(np.mean(calls)) if calls else 0.0,
               "ratio_p95": ratio, "target_met": ratio <= TARGET}
        if encode_full:
            row["encode_question_and_options_ms"] = common.stats(encode_full)
        result["modes"][mode] = row
        print(f"| {mode} | {len(items)} | {t['p50']:.1f} | {t['p95']:.1f} | {e['p50']:.1f} | {e['p95']:.1f} | "
              f"{ratio:.2f} | {'met' if ratio <= TARGET else 'missed'} | {row['model_calls_per_ask']:.1f} | "
              f"{row['model_ms']['p95']:.1f} | {row['total_minus_model_ms']['p95']:.1f} |", flush=True)
    for mode, row in result["modes"].items():
        if "encode_question_and_options_ms" in row:
            full = row["encode_question_and_options_ms"]["p95"]
            print(f"\n{mode}: e5 reads the question alone; encoding question + options instead (the floor before) "
                  f"takes p95 {full:.1f} ms, and the whole ask {row['total_ms']['p95'] / full:.2f}x of that")
    print("\nresults ->", common.save("latency", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
