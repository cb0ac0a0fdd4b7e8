"""First start: how soon a fresh page answers, and how its BM25-only answers compare with the hybrid ones.

Starts the page's `Service` on an empty index folder over the real notes
with the packaged default model, exactly as `./start.sh` does on a fresh
clone, and records:

- when questions are first answered (the provisional BM25 index is in memory),
- how long each question takes while the build runs beside it (the sentence
  vectors a question needs are encoded on demand then),
- when the built index takes over (the notice goes away),
- the same questions once more on the built index, and whether the two
  answers cite the same note sections.

    .venv/bin/python bench/first_start.py
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402

QUESTIONS = (
    "How many instances per AZ can a spread placement group have?",
    "ELB의 Sticky Session은 어떻게 동작해?",
    "What is the difference between a spread and a partition placement group?",
    "CloudWatch 기본 모니터링과 세부 모니터링의 차이는?",
    "What does the CloudWatch agent collect that default metrics do not?",
    "EBS 스냅샷은 어디에 저장돼?",
)


def cited_sections(answer) -> set[tuple]:
    return {c.chunk.section_key for c in answer.citations}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    from rag.engine import Assistant
    from rag.settings import Settings
    from ui.service import Service

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings().with_overrides(corpus_dir=common.REPO / "corpus", index_dir=Path(folder) / "index")
        started = time.perf_counter()
        service = Service(Assistant(settings, log=lambda m: print(m, file=sys.stderr)))
        service.start()
        while not service.answering:
            time.sleep(0.01)
        answering_s = time.perf_counter() - started
        during = []
        for question in QUESTIONS:
            t0 = time.perf_counter()
            answer = service.assistant.ask(question)
            during.append((answer, time.perf_counter() - t0, service.ready))
        while not service.ready:
            if service.error:
                raise SystemExit(f"first_start: the build failed: {service.error}")
            time.sleep(0.05)
        ready_s = time.perf_counter() - started
        after = []
        for question in QUESTIONS:
            t0 = time.perf_counter()
            after.append((service.assistant.ask(question), time.perf_counter() - t0))

    rows = []
    for question, (quick, quick_s, built_then), (full, full_s) in zip(QUESTIONS, during, after):
        same = cited_sections(quick) == cited_sections(full)
        rows.append({"question": question, "provisional": quick.provisional, "built_meanwhile": built_then,
                     "provisional_s": quick_s, "hybrid_s": full_s, "abstained": [quick.abstained, full.abstained],
                     "same_cited_sections": same})
    print(f"first start over corpus/ with {settings.embedders[0]}, {common.machine()['cores']} cores")
    print(f"answering after {answering_s:.2f} s (BM25 in memory); index built after {ready_s:.1f} s\n")
    print("| question | answered provisionally | seconds while building | seconds on the built index | same cited sections |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['question']} | {'yes' if row['provisional'] else 'no'} | {row['provisional_s']:.2f} | "
              f"{row['hybrid_s']:.2f} | {'yes' if row['same_cited_sections'] else 'no'} |")
    result = {"command": "bench/first_start.py", "answering_s": answering_s, "ready_s": ready_s,
              "provisional_median_s": statistics.median(r["provisional_s"] for r in rows),
              "hybrid_median_s": statistics.median(r["hybrid_s"] for r in rows), "questions": rows}
    print(f"\nmedian answer while building {result['provisional_median_s']:.2f} s, on the built index "
          f"{result['hybrid_median_s']:.2f} s")
    print("results ->", common.save("first_start", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
