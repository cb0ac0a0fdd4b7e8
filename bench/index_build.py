"""Index build: full, incremental after editing one section, and unchanged re-run.

Works on a private copy of corpus/ (`--corpus-copy`) and its own index folder
(`--build-index`), never on the project's corpus/ or index/. Each step is
`rag --corpus C --index I index` as a new process; its build log line
(`index: gen-… ready, N chunks, M sentences, E embedded, R reused, S s`)
gives the embedded and reused counts.

- full: a fresh folder, every chunk and sentence embedded with the default model.
- incremental: one line of one section is changed (a different section each
  time, `--edits` times); only that section's changed chunk and sentence
  should be embedded. Target: <= 3 s wall clock.
- unchanged: the same command again, `--runs` times. Target: <= 0.5 s, 0 embedded.

    .venv/bin/python bench/index_build.py [--skip-full]
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

LOG = re.compile(r"index: (gen-\d+) ready, (\d+) chunks, (\d+) sentences, (\d+) embedded, (\d+) reused, ([\d.]+)s")
CORPUS = Path("/tmp/bench-corpus")
INDEX = Path("/tmp/bench-build-index")


def build(corpus: Path, index: Path) -> dict:
    code, wall, rss, stdout, stderr = common.run_child([common.RAG, "--corpus", str(corpus), "--index", str(index), "index"])
    if code != 0:
        raise SystemExit(f"index_build: rag index failed ({code}):\n{stderr[-1500:]}")
    match = LOG.search(stderr)
    row = {"wall_s": wall, "peak_rss_mb": rss}
    if match:
        row.update(generation=match[1], chunks=int(match[2]), sentences=int(match[3]), embedded=int(match[4]),
                   reused=int(match[5]), build_s=float(match[6]))
    else:
        row.update(embedded=0, reused=None, up_to_date="up to date" in stdout)
    return row


def edit_one_section(note: Path, n: int) -> str:
    """Append a marker to the n-th long prose line (a different section each time); returns the line."""
    lines = note.read_text(encoding="utf-8").split("\n")
    prose = [i for i, line in enumerate(lines) if len(line) > 80 and not line.startswith(("#", "`", "|", "-", "*"))]
    i = prose[(len(prose) // 3 + n * 17) % len(prose)]
    lines[i] = lines[i] + f" (수정 {n + 1})"
    note.write_text("\n".join(lines), encoding="utf-8")
    return lines[i][:60]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-copy", type=Path, default=CORPUS)
    parser.add_argument("--build-index", type=Path, default=INDEX)
    parser.add_argument("--skip-full", action="store_true", help="reuse the existing build index (no full build)")
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.build_index.resolve() == (common.REPO / "index").resolve():
        raise SystemExit("index_build: refusing to write the project's index/ folder")
    result = {"command": "bench/index_build.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if not args.skip_full or not (args.build_index / "CURRENT").exists():
        common.copy_corpus(args.corpus_copy)
        shutil.rmtree(args.build_index, ignore_errors=True)
        print("full build (minutes) ...", file=sys.stderr, flush=True)
        result["full"] = build(args.corpus_copy, args.build_index)
        f = result["full"]
        print(f"full build: {f['wall_s']:.1f} s wall, {f['chunks']} chunks + {f['sentences']} sentences, "
              f"{f['embedded']} embedded, peak RSS {f['peak_rss_mb']:.0f} MB", flush=True)
    note = args.corpus_copy / "soa-notes.md"
    incremental = []
    for n in range(args.edits):
        line = edit_one_section(note, n)
        row = build(args.corpus_copy, args.build_index)
        row["edited"] = line
        incremental.append(row)
        print(f"incremental {n + 1}: {row['wall_s']:.2f} s wall, {row.get('embedded')} embedded, "
              f"{row.get('reused')} reused  ({line}...)", flush=True)
    unchanged = [build(args.corpus_copy, args.build_index) for _ in range(args.runs)]
    inc = statistics.median(r["wall_s"] for r in incremental)
    unch = statistics.median(r["wall_s"] for r in unchanged)
    result["incremental"] = {"runs": incremental, "median_s": inc, "target_met": inc <= 3.0,
                             "max_embedded": max(r.get("embedded", 0) for r in incremental)}
    result["unchanged"] = {"runs": unchanged, "median_s": unch, "target_met": unch <= 0.5,
                           "embedded": sum(r.get("embedded", 0) for r in unchanged)}
    print("\n| step | median wall s | embedded | target | |\n|---|---|---|---|---|")
    if "full" in result:
        print(f"| full build | {result['full']['wall_s']:.1f} | {result['full']['embedded']} | (none) | |")
    print(f"| incremental, one section edited (x{len(incremental)}) | {inc:.2f} | "
          f"{result['incremental']['max_embedded']} max | <= 3 s | {'met' if inc <= 3 else 'missed'} |")
    print(f"| unchanged re-run (x{len(unchanged)}) | {unch:.2f} | {result['unchanged']['embedded']} | <= 0.5 s | "
          f"{'met' if unch <= 0.5 else 'missed'} |")
    print("\nresults ->", common.save("index_build", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
