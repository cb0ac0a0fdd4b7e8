"""Print the Markdown tables of docs/benchmarks.md from bench/results/*.json.

The figures in the doc are pasted from this output, so they are the ones the
scripts saved, with each run's machine line.

    .venv/bin/python bench/report.py > /tmp/tables.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def load(name: str) -> dict | None:
    path = common.RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def machine_line(r: dict) -> str:
    m = r["machine"]
    load_avg = m.get("load_avg_1_5_15_min") or m.get("load_avg_at_start")
    return f"*{m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, load average {load_avg} at save, {m['date']}*"


def latency(r: dict) -> None:
    print(f"### Warm answer latency\n\n`{r['command']}`  \n{machine_line(r)}\n")
    print("| mode | asks | total p50 ms | total p95 ms | e5 encode p50 ms | e5 encode p95 ms | total p95 / encode p95 "
          "| target ≤ 1.25 | model encodes per ask | all encodes p95 ms | total − encodes p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for mode, m in r["modes"].items():
        print(f"| {mode} | {m['asks']} | {m['total_ms']['p50']:.0f} | {m['total_ms']['p95']:.0f} | {m['encode_ms']['p50']:.0f} | "
              f"{m['encode_ms']['p95']:.0f} | {m['ratio_p95']:.2f} | {'met' if m['target_met'] else 'missed'} | "
              f"{m['model_calls_per_ask']:.1f} | {m['model_ms']['p95']:.0f} | {m['total_minus_model_ms']['p95']:.0f} |")
    print()


def cold(r: dict) -> None:
    print(f"### Cold start\n\n`{r['command']}` runs `{r['ask_command']}`  \n{machine_line(r)}\n")
    print(f"| median of {len(r['walls_s'])} | min | max | target ≤ 2.0 s | peak RSS | heavy imports |\n|---|---|---|---|---|---|")
    print(f"| {r['median_s']:.2f} s | {min(r['walls_s']):.2f} s | {max(r['walls_s']):.2f} s | "
          f"{'met' if r['target_met'] else 'missed'} | {r['peak_rss_mb']:.0f} MB | {', '.join(r['heavy_imported']) or 'none'} |\n")
    print(f"Imports on that path: {r['imports_s']:.2f} s in all. Slowest top-level imports (`python -X importtime`):\n")
    print("| module | cumulative ms | self ms |\n|---|---|---|")
    for row in r["top_imports"][:8]:
        print(f"| {row['module']} | {row['cumulative_ms']:.0f} | {row['self_ms']:.0f} |")
    print()


def build(r: dict) -> None:
    print(f"### Index build\n\n`{r['command']}`  \n{machine_line(r)}\n")
    print("| step | wall s (median) | embedded | reused | target | |\n|---|---|---|---|---|---|")
    if "full" in r:
        f = r["full"]
        print(f"| full build, {f['chunks']} chunks + {f['sentences']} sentences | {f['wall_s']:.1f} | {f['embedded']} | 0 | — | |")
    i, u = r["incremental"], r["unchanged"]
    print(f"| incremental, one line of one section edited (×{len(i['runs'])}) | {i['median_s']:.2f} | "
          f"{', '.join(str(x.get('embedded')) for x in i['runs'])} | {i['runs'][-1].get('reused')} | ≤ 3 s | "
          f"{'met' if i['target_met'] else 'missed'} |")
    print(f"| unchanged re-run (×{len(u['runs'])}) | {u['median_s']:.2f} | {u['embedded']} | — | ≤ 0.5 s | "
          f"{'met' if u['target_met'] else 'missed'} |\n")


def batch(r: dict) -> None:
    print(f"### Batch throughput\n\n`{r['command']}` over {r['questions']} test questions  \n{machine_line(r)}\n")
    print("| workers | questions/s (median) | answering s, per round | process wall s, per round | command |\n|---|---|---|---|---|")
    for w in ("1", "2"):
        runs = r["runs"][w]
        answering = ", ".join(f"{x['answering_s']:.0f}" for x in runs)
        walls = ", ".join(f"{x['wall_s']:.0f}" for x in runs)
        print(f"| {w} | {r['qps_' + w]:.2f} | {answering} | {walls} | `{runs[0]['command']}` |")
    print(f"\n2 workers / 1 worker: **{r['ratio']:.2f}×** (per round: {', '.join(f'{x:.2f}' for x in r['ratios_per_round'])}); "
          f"target ≥ 1.7×: {'met' if r['target_met'] else 'missed'}\n")


def memory(r: dict) -> None:
    print(f"### Memory\n\n`{r['command']}`  \n{machine_line(r)}\n")
    print("| process | peak RSS MB | command |\n|---|---|---|")
    print(f"| ask | {r['ask']['peak_rss_mb']:.0f} | `{r['ask']['command']}` |")
    print(f"| batch, {r['batch']['questions']} questions, 2 workers | {r['batch']['peak_rss_mb']:.0f} | `{r['batch']['command']}` |")
    if "serve_idle" in r:
        s = r["serve_idle"]
        print(f"| serve, idle | {s['peak_rss_mb']:.0f} (now {s['rss_mb']:.0f}) | `{s['command']}` |")
    print()


def scale(r: dict) -> None:
    print(f"### Scale, {r['data']} vectors\n\n" + "  \n".join(f"`{c}`" for c in r.get("commands", [r.get("command")]))
          + f"  \n{machine_line(r)}\n")
    if "embedding" in r:
        e = r["embedding"]
        print(f"e5 embedding, **measured** on {e['sample_chunks']} synthetic chunks: {e['chunks_per_s']:.2f} chunks/s and "
              f"{e['sentences_per_s']:.2f} sentences/s ({e['sentences_per_chunk']:.1f} sentences per chunk). "
              "**Extrapolated** embedding time of a full build: "
              + ", ".join(f"{int(n):,} chunks ≈ {h:,.0f} h" for n, h in e["extrapolated_hours"].items()) + ".\n")
    print("| rows | index | setting | build s | search p50 ms | search p95 ms | recall@10 | serve peak RSS MB | build peak RSS MB | index file MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in r["runs"]:
        rows = f"{run['n']:,}" + (f" (built {run['rows_built']:,})" if run.get("rows_built") else "")
        build_s = f"{run['build_s']:.0f}" + (f" (full: ~{run['extrapolated_full_build_s']:.0f}, extrapolated)"
                                             if run.get("rows_built") else "")
        for s in run["settings"]:
            label = {"flat": "exact", "hnsw": f"efSearch {s['setting']}",
                     "ivfpq": f"nprobe {s['setting']}" + (", re-rank 300" if s["rerank"] else "")}[run["kind"]]
            print(f"| {rows} | {run['kind']} | {label} | {build_s} | {s['search_p50_ms']:.2f} | {s['search_p95_ms']:.2f} | "
                  f"{s['recall@10']:.3f} | {run['serve_peak_rss_mb']:.0f} | {run['build_peak_rss_mb']:.0f} | {run['file_mb']:.0f} |")
    print()


def threshold(r: dict) -> None:
    print(f"### Flat vs HNSW threshold\n\n`{r['command']}`  \n{machine_line(r)}\n")
    print("| rows | flat p50 ms (1 thread) | flat p95 ms (1 thread) | flat p95 ms (2 threads) | HNSW p50 ms | HNSW p95 ms | HNSW recall@10 | HNSW build s |")
    print("|---|---|---|---|---|---|---|---|")
    for x in r["rows"]:
        print(f"| {x['n']:,} | {x['flat_p50_ms']:.2f} | {x['flat_p95_ms']:.2f} | {x['flat_2threads_p95_ms']:.2f} | "
              f"{x['hnsw_p50_ms']:.2f} | {x['hnsw_p95_ms']:.2f} | {x['hnsw_recall']:.3f} | {x['hnsw_build_s']:.1f} |")
    print()


def main() -> int:
    for name, show in (("latency", latency), ("cold_start", cold), ("index_build", build), ("batch_throughput", batch),
                       ("memory", memory), ("scale-threshold", threshold), ("scale-structured", scale),
                       ("scale-uniform", scale)):
        r = load(name)
        if r:
            show(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
