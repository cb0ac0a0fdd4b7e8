"""Cold start: `rag ask "..."` as a new process with the index already built.

Runs the command `--runs` times (after one unmeasured run that fills the OS
file cache), reports the median wall clock and the spread, then runs it once
more under `python -X importtime` and lists the slowest imports. The
default path must not import sentence-transformers or torch (~7 s here).

Target: median <= 2.0 s.

    .venv/bin/python bench/cold_start.py [--index /tmp/bench-index] [--runs 5]
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

QUESTION = "스프레드 배치 그룹은 AZ당 인스턴스를 몇 개까지 둘 수 있나요?"
HEAVY = ("sentence_transformers", "torch", "transformers", "gradio")


def importtime(cmd: list[str]) -> list[tuple[int, int, str]]:
    """(cumulative µs, self µs, module) of every import of `cmd`, run under -X importtime.

    Nested imports keep their leading spaces in the module name, as Python prints them.
    """
    _, _, _, _, stderr = common.run_child([sys.executable, "-X", "importtime", *cmd])
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2 and "cumulative" not in line:
            head, cum, name = line.split("|")
            rows.append((int(cum), int(head.split(":")[1]), name[1:].rstrip()))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=common.DEFAULT_INDEX)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args(argv)
    common.ensure_index(args.index)
    cmd = [common.RAG, "--index", str(args.index), "ask", args.question]
    code, _, _, _, stderr = common.run_child(cmd)  # unmeasured: fills the file cache
    if code != 0:
        raise SystemExit(f"cold_start: {' '.join(cmd)} failed:\n{stderr[-1500:]}")
    walls, rss = [], []
    for _ in range(args.runs):
        code, wall, peak, _, _ = common.run_child(cmd)
        walls.append(wall)
        rss.append(peak)
    median = statistics.median(walls)

    module_cmd = ["-m", "rag", "--index", str(args.index), "ask", args.question]
    rows = importtime(module_cmd)
    top_level = sorted((r for r in rows if not r[2].startswith(" ")), reverse=True)[:12]
    heavy = sorted({r[2].strip().split(".")[0] for r in rows if r[2].strip().split(".")[0] in HEAVY})
    total_import_s = sum(r[0] for r in rows if not r[2].startswith(" ")) / 1e6

    print(f"cold start, {common.machine()['cores']} cores: `{' '.join(cmd[1:])}`")
    print(f"wall clock over {args.runs} runs: median {median:.2f} s (min {min(walls):.2f}, max {max(walls):.2f}); "
          f"target <= 2.0 s: {'met' if median <= 2.0 else 'missed'}")
    print(f"imports on that path: {total_import_s:.2f} s in all; heavy packages imported: {', '.join(heavy) or 'none'}")
    print("\n| top-level import | cumulative ms | self ms |\n|---|---|---|")
    for cum, self_, name in top_level:
        print(f"| {name.strip()} | {cum / 1000:.0f} | {self_ / 1000:.0f} |")
    result = {"command": "bench/cold_start.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "ask_command": shlex.join(["rag", *cmd[1:]]), "walls_s": walls, "median_s": median,
              "peak_rss_mb": statistics.median(rss), "target_met": median <= 2.0,
              "imports_s": total_import_s, "heavy_imported": heavy,
              "top_imports": [{"module": n.strip(), "cumulative_ms": c / 1000, "self_ms": s / 1000}
                              for c, s, n in top_level]}
    print("\nresults ->", common.save("cold_start", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
