"""Batch throughput: `rag batch` over the test gold questions with 1 and 2 workers.

The gold files eval/gold/test_*.jsonl are joined into one question set (open,
out-of-scope, multiple-choice and verify items, each in its own mode; the
two-turn conversations are left out, a batch line is one question). Each
run is the real command in a new process with a fresh output file; runs
alternate 1, 2, 1, 2, ... so both see the same background load. Throughput
is questions / answering seconds, the time the progress bar reports for the
`answering` phase (so process start, model loading and index loading are
excluded); the process wall clock is reported beside it.

Target: 2 workers >= 1.7 x the 1-worker throughput, or a stated bound. The CPU
seconds of each run (the batch process and its worker processes) are reported
beside it: on a shared machine the wall-clock ratio depends on whether two
cores were free, while CPU seconds show what the workers cost in work.

    .venv/bin/python bench/batch_throughput.py [--index /tmp/bench-index] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

GOLD_FILE = Path("/tmp/bench-gold-test.jsonl")
# the last plain progress line of the `answering` task (rag.progress.Bar, tqdm's meter): done/total and the rate
ANSWERING = re.compile(r"answering: +\d+%\|[^|]*\| *(\d+)/(\d+) \[[^,\]]*, *([\d.]+)(it/s|s/it)\]")


def gold_file(path: Path = GOLD_FILE) -> tuple[Path, int]:
    """All single-question test gold items in one JSON Lines file (first occurrence of each id).

    Conversations (`turns`) are left out: `rag batch` answers one question per line.
    """
    seen, lines = set(), []
    for row in common.read_gold():
        if ("question" in row or "statement" in row) and row["id"] not in seen:
            seen.add(row["id"])
            lines.append(json.dumps({k: v for k, v in row.items() if not k.startswith("_")}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, len(lines)


def run(index: Path, questions: Path, workers: int) -> dict:
    out = Path(f"/tmp/bench-batch-out-{workers}.jsonl")
    out.unlink(missing_ok=True)
    cmd = [common.RAG, "--index", str(index), "batch", str(questions), "-o", str(out), "--workers", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code, wall, rss, _, stderr = common.run_child(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the batch process and its reaped worker processes
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if code != 0:
        raise SystemExit(f"batch_throughput: {' '.join(cmd)} failed ({code}):\n{stderr[-1500:]}")
    finals = [m for m in ANSWERING.finditer(stderr) if m[1] == m[2]]
    answered = sum(1 for _ in out.open(encoding="utf-8"))
    errors = sum(1 for line in out.open(encoding="utf-8") if '"error"' in line[:200] or json.loads(line).get("error"))
    if not finals:
        raise SystemExit(f"batch_throughput: no final 'answering' progress line in the output of {' '.join(cmd)}")
    done, rate, unit = int(finals[-1][2]), float(finals[-1][3]), finals[-1][4]
    seconds = done / rate if unit == "it/s" else done * rate
    return {"workers": workers, "answered": answered, "errors": errors, "answering_s": seconds, "wall_s": wall,
            "cpu_s": cpu, "qps": answered / seconds, "peak_rss_mb": rss, "command": " ".join(["rag", *cmd[1:]])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=common.DEFAULT_INDEX)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    common.ensure_index(args.index)
    questions, n = gold_file()
    runs = {1: [], 2: []}
    for _ in range(args.rounds):
        for workers in (1, 2):
            r = run(args.index, questions, workers)
            runs[workers].append(r)
            print(f"workers {workers}: {r['answered']} answered ({r['errors']} errors) in {r['answering_s']:.1f} s "
                  f"-> {r['qps']:.2f} q/s (process wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB)",
                  flush=True)
    q1 = statistics.median(r["qps"] for r in runs[1])
    q2 = statistics.median(r["qps"] for r in runs[2])
    ratios = [b["qps"] / a["qps"] for a, b in zip(runs[1], runs[2])]
    print(f"\n{n} questions, {common.machine()['cores']} cores, medians of {args.rounds} alternating rounds")
    print("| workers | questions/s | answering s | process wall s | CPU s, all processes |\n|---|---|---|---|---|")
    for w, q in ((1, q1), (2, q2)):
        print(f"| {w} | {q:.2f} | {statistics.median(r['answering_s'] for r in runs[w]):.1f} | "
              f"{statistics.median(r['wall_s'] for r in runs[w]):.1f} | "
              f"{statistics.median(r['cpu_s'] for r in runs[w]):.1f} |")
    print(f"2-worker / 1-worker: {q2 / q1:.2f}x (per round: {', '.join(f'{x:.2f}' for x in ratios)}); "
          f"target >= 1.7x: {'met' if q2 / q1 >= 1.7 else 'missed'}")
    result = {"command": "bench/batch_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "questions": n, "runs": runs, "qps_1": q1, "qps_2": q2, "ratio": q2 / q1,
              "ratios_per_round": ratios, "target_met": q2 / q1 >= 1.7}
    print("\nresults ->", common.save("batch_throughput", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
