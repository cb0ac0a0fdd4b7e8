"""Scale study: flat vs HNSW vs IVF-PQ from 10k to 1M chunks, index only.

What is measured, per corpus size N and index type, each in its own process:

- build: `build_vector_index` for flat and HNSW (rag/vectorstore.py), FAISS
  IVF-PQ (trained on a sample) for comparison; seconds and peak RSS. Rows
  stream from a float32 file on disk in batches of 50k, with progress.
- serve: a fresh process loads the saved index and the chunk text store,
  answers the queries one at a time, and fetches the hits' texts. Search p50
  and p95 EXCLUDE query embedding (query vectors are precomputed), recall@10
  is against exact search, and peak RSS is that process's high-water mark.

The vectors are NOT e5 embeddings of the synthetic texts (embedding 1M texts
takes about a day here). Two labelled stand-ins, both 384-d unit vectors:

- `structured`: drawn from a Gaussian fitted to the real e5 vectors of the
  notes (their mean and covariance), so they are as anisotropic as e5 output
  (mean pairwise cosine ~0.85, effective dimension ~50). Default.
- `uniform`: random unit vectors. Latency and memory match `structured`, but
  nearest neighbours in uniform 384-d data are barely nearer than anything
  else, the worst case for any approximate index: recall is a lower bound.

Embedding time for the large sizes is measured on a sample of synthetic
chunks (and their sentences) with the default model and extrapolated.

    .venv/bin/python bench/scale.py --threshold              # flat vs HNSW, 5k..100k
    .venv/bin/python bench/scale.py                          # 10k, 100k, 1M structured
    .venv/bin/python bench/scale.py --data uniform --sizes 10000,100000
    .venv/bin/python bench/scale.py --plot                   # redraw docs/scale-*.png
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402

DIM = 384
K = 10
WORK = Path("/tmp/bench-scale")
HNSW_EFS = (64, 128, 256, 512)
IVF_NPROBES = (32, 64, 128)
RERANK = 300
# Serving answers one query at a time: FAISS's OpenMP threads only add contention
# on 2 shared cores (flat 100k: ~9 ms with 1 thread, ~45 ms with 2), so search
# runs single-threaded and builds use every core.
SEARCH_THREADS = 1
BUILD_THREADS = __import__("os").cpu_count() or 1


# ---- vectors --------------------------------------------------------------------------
def fitted_gaussian(index_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Mean and a square root of the covariance of the real e5 vectors in the bench index."""
    import faiss

    common.ensure_index(index_dir)
    folder = index_dir / (index_dir / "CURRENT").read_text().strip()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    info = manifest["models"]["e5"]
    rows = []
    for name in (info["chunks_file"], info["units_file"]):
        index = faiss.read_index(str(folder / name))
        rows.append(index.reconstruct_n(0, index.ntotal))
    real = np.vstack(rows).astype(np.float64)
    mean = real.mean(0)
    w, v = np.linalg.eigh(np.cov(real - mean, rowvar=False))
    return mean, v * np.sqrt(np.clip(w, 0, None))


def vector_blocks(n: int, data: str, seed: int, index_dir: Path, block: int = 100_000):
    """Yield float32 unit-vector blocks totalling `n` rows."""
    rng = np.random.default_rng(seed)
    gauss = fitted_gaussian(index_dir) if data == "structured" else None
    for start in range(0, n, block):
        m = min(block, n - start)
        z = rng.standard_normal((m, DIM), dtype=np.float32)
        if gauss is not None:
            z = (gauss[0] + z @ gauss[1].T).astype(np.float32)
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        yield z


def vectors_file(n: int, data: str, index_dir: Path) -> Path:
    """The rows on disk (float32, row-major), written once per size and kind of data."""
    path = WORK / f"vectors-{data}-{n}.f32"
    if path.exists() and path.stat().st_size == n * DIM * 4:
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for z in vector_blocks(n, data, seed=n, index_dir=index_dir):
            z.tofile(out)
    tmp.replace(path)
    return path


def open_rows(path: Path) -> np.ndarray:
    return np.memmap(path, dtype=np.float32, mode="r").reshape(-1, DIM)


def queries_and_truth(n: int, data: str, nq: int, index_dir: Path) -> tuple[Path, Path]:
    """Query vectors (same distribution, other seed) and their exact top-10 over the rows."""
    qpath, tpath = WORK / f"queries-{data}-{n}.npy", WORK / f"truth-{data}-{n}.npy"
    if qpath.exists() and tpath.exists() and len(np.load(qpath)) == nq:
        return qpath, tpath
    import faiss

    queries = next(vector_blocks(nq, data, seed=10**9 + n, index_dir=index_dir))
    rows = open_rows(vectors_file(n, data, index_dir))
    best_s = np.full((nq, K), -np.inf, np.float32)
    best_i = np.full((nq, K), -1, np.int64)
    for start in range(0, n, 200_000):  # exact search block by block, merged
        block = faiss.IndexFlatIP(DIM)
        block.add(np.ascontiguousarray(rows[start:start + 200_000]))
        s, i = block.search(queries, K)
        s_all, i_all = np.hstack([best_s, s]), np.hstack([best_i, i + start])
        order = np.argsort(-s_all, axis=1, kind="stable")[:, :K]
        best_s, best_i = np.take_along_axis(s_all, order, 1), np.take_along_axis(i_all, order, 1)
    np.save(qpath, queries)
    np.save(tpath, best_i)
    return qpath, tpath


def text_store(n: int) -> Path:
    """Synthetic chunk texts for `n` chunks as a ChunkTextStore (reused when present)."""
    from rag.vectorstore import ChunkTextStore
    from synth_corpus import generate

    folder = WORK / f"texts-{n}"
    try:
        if len(ChunkTextStore.open(folder)) == n:
            return folder
    except ValueError:
        pass
    ChunkTextStore.write(generate(n, common.REPO / "corpus"), folder).close()
    return folder


# ---- workers (run as separate processes so each peak RSS is their own) ---------------------
def ivfpq_nlist(n: int) -> int:
    return 2 ** round(math.log2(max(64, math.sqrt(n))))


def worker_build(args) -> dict:
    import faiss

    from rag.vectorstore import build_vector_index

    rows = open_rows(Path(args.vectors))
    n = len(rows)
    progress = lambda done, total, label: print(  # noqa: E731
        f"  {args.kind} {label} {done:,}/{total:,} {time.perf_counter() - started:6.1f}s", file=sys.stderr, flush=True)
    started = time.perf_counter()
    extra = {}
    if args.kind == "hnsw" and args.cap_s:
        # Past the cap the build stops adding rows: the figures are then for the
        # rows built, and the full build time is extrapolated (labelled as such).
        cap = float(args.cap_s)
        index, kind = build_vector_index(rows[:0], flat_max_rows=-1)
        built = 0
        while built < n and time.perf_counter() - started < cap:
            index.add(np.ascontiguousarray(rows[built:built + 25_000]))
            built = index.ntotal
            progress(built, n, "indexing vectors (capped)")
        if built < n:
            seconds = time.perf_counter() - started
            extra = {"rows_built": built, "capped_at_s": cap,
                     "extrapolated_full_build_s": seconds * (n * math.log(n)) / (built * math.log(built))}
    elif args.kind in ("flat", "hnsw"):
        index, kind = build_vector_index(rows, flat_max_rows=n if args.kind == "flat" else 0, progress=progress)
        assert kind == args.kind
    else:
        nlist = ivfpq_nlist(n)
        quantizer = faiss.IndexFlatIP(DIM)
        index = faiss.IndexIVFPQ(quantizer, DIM, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)
        sample_n = min(n, max(50_000, 50 * nlist))
        sample = np.ascontiguousarray(rows[np.sort(np.random.default_rng(0).choice(n, sample_n, replace=False))])
        t0 = time.perf_counter()
        index.train(sample)
        extra = {"nlist": nlist, "pq_bytes": 48, "train_rows": sample_n, "train_s": time.perf_counter() - t0}
        del sample
        for start in range(0, n, 50_000):
            index.add(np.ascontiguousarray(rows[start:start + 50_000]))
            progress(min(start + 50_000, n), n, "adding")
    seconds = time.perf_counter() - started
    faiss.write_index(index, args.out)
    return {"build_s": seconds, "file_mb": Path(args.out).stat().st_size / 2**20, **extra}


def worker_serve(args) -> dict:
    import faiss

    from rag.vectorstore import ChunkTextStore

    faiss.omp_set_num_threads(SEARCH_THREADS)
    started = time.perf_counter()
    index = faiss.read_index(args.index_file)
    store = ChunkTextStore.open(args.texts)
    load_s = time.perf_counter() - started
    queries = np.load(args.queries_file)
    truth = np.load(args.truth)
    # Re-rank rows are read with pread, not through mmap: mapped pages (and the
    # kernel's fault-around neighbours) would count as this process's RSS.
    fd = os.open(args.vectors, os.O_RDONLY) if args.kind == "ivfpq" else None
    row_bytes = DIM * 4

    def read_rows(ids: np.ndarray) -> np.ndarray:
        return np.frombuffer(b"".join(os.pread(fd, row_bytes, int(i) * row_bytes) for i in ids),
                             dtype=np.float32).reshape(len(ids), DIM)

    settings = {"flat": [None], "hnsw": list(HNSW_EFS), "ivfpq": list(IVF_NPROBES)}[args.kind]
    out = []
    for setting in settings:
        if args.kind == "hnsw":
            index.hnsw.efSearch = setting
        elif args.kind == "ivfpq":
            index.nprobe = setting
        for rerank in ([False, True] if args.kind == "ivfpq" else [False]):
            times, fetch, found = [], [], []
            for qi in list(range(min(20, len(queries)))) + list(range(len(queries))):  # 20 warm-ups first
                q = queries[qi:qi + 1]
                t0 = time.perf_counter()
                if rerank:  # PQ candidates, re-scored with the exact rows read from the mmap'd file
                    _, cand = index.search(q, RERANK)
                    cand = cand[0][cand[0] >= 0]
                    exact = read_rows(np.sort(cand)) @ q[0]
                    ids = np.sort(cand)[np.argsort(-exact)[:K]]
                else:
                    _, ids = index.search(q, K)
                    ids = ids[0]
                t1 = time.perf_counter()
                texts = [store.get(int(i)) for i in ids if i >= 0]
                t2 = time.perf_counter()
                times.append((t1 - t0) * 1000)
                fetch.append((t2 - t1) * 1000)
                found.append(len(set(ids.tolist()) & set(truth[qi].tolist())) / K)
                assert texts
            m = len(queries)
            s = common.stats(times[-m:])
            out.append({"setting": setting, "rerank": rerank, "search_p50_ms": s["p50"], "search_p95_ms": s["p95"],
                        "fetch_p95_ms": common.stats(fetch[-m:])["p95"], "recall@10": float(np.mean(found[-m:]))})
    return {"load_s": load_s, "settings": out, "texts": len(store)}


# ---- orchestration ----------------------------------------------------------------------
def run_worker(argv: list[str], script: str = __file__) -> tuple[dict, float]:
    """Run one worker process of `script`; its JSON result and its own peak RSS (VmHWM, read by the worker)."""
    code, wall, rss, stdout, stderr = common.run_child([sys.executable, script, *argv], live_stderr=True)
    if code != 0:
        raise SystemExit(f"scale: worker {' '.join(argv[:4])} failed ({code}):\n{stderr[-2000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    return result, result.pop("vm_hwm_mb")


def worker_reply(result: dict) -> int:
    """A worker's answer to `run_worker`: its JSON result and its own peak RSS, as the last stdout line."""
    print(json.dumps({**result, "vm_hwm_mb": common.vm_hwm_mb()}))
    return 0


def prefix_truth(vectors: Path, n: int, data: str, qpath: Path, built: int) -> Path:
    """Exact top-10 over the first `built` rows only, for an index whose build was capped."""
    import faiss

    queries = np.load(qpath)
    rows = open_rows(vectors)
    best_s = np.full((len(queries), K), -np.inf, np.float32)
    best_i = np.full((len(queries), K), -1, np.int64)
    for start in range(0, built, 200_000):
        block = faiss.IndexFlatIP(DIM)
        block.add(np.ascontiguousarray(rows[start:min(built, start + 200_000)]))
        s, i = block.search(queries, K)
        s_all, i_all = np.hstack([best_s, s]), np.hstack([best_i, i + start])
        order = np.argsort(-s_all, axis=1, kind="stable")[:, :K]
        best_s, best_i = np.take_along_axis(s_all, order, 1), np.take_along_axis(i_all, order, 1)
    path = WORK / f"truth-{data}-{n}-first-{built}.npy"
    np.save(path, best_i)
    return path


def measure(n: int, kind: str, data: str, nq: int, index_dir: Path, cap_s: float = 0) -> dict:
    vectors = vectors_file(n, data, index_dir)
    qpath, tpath = queries_and_truth(n, data, nq, index_dir)
    texts = text_store(n)
    index_file = WORK / f"{kind}-{data}-{n}.faiss"
    cap = ["--cap-s", str(cap_s)] if kind == "hnsw" and cap_s else []
    build, build_rss = run_worker(["--worker", "build", "--kind", kind, "--vectors", str(vectors),
                                   "--out", str(index_file), *cap])
    if build.get("rows_built"):
        tpath = prefix_truth(vectors, n, data, qpath, build["rows_built"])
    serve, serve_rss = run_worker(["--worker", "serve", "--kind", kind, "--vectors", str(vectors),
                                   "--index-file", str(index_file), "--texts", str(texts),
                                   "--queries-file", str(qpath), "--truth", str(tpath)])
    index_file.unlink(missing_ok=True)
    return {"n": n, "kind": kind, "data": data, **build, "build_peak_rss_mb": build_rss,
            "serve_peak_rss_mb": serve_rss, **serve}


def embed_sample(sample: int, n_sizes: list[int]) -> dict:
    """e5 passage-encoding rate on synthetic chunks and their sentences; extrapolated to n_sizes."""
    from rag.embed import make_embedder
    from synth_corpus import generate

    embedder = make_embedder("e5")
    chunks = list(generate(sample, common.REPO / "corpus", seed=7))
    sentences = [s for c in chunks for s in c.split("\n")[1:]]
    embedder.encode(["warm up"])
    t0 = time.perf_counter()
    for i in range(0, len(chunks), 32):
        embedder.encode(chunks[i:i + 32])
    chunk_rate = len(chunks) / (time.perf_counter() - t0)
    some = sentences[: sample * 2]
    t0 = time.perf_counter()
    for i in range(0, len(some), 32):
        embedder.encode(some[i:i + 32])
    sentence_rate = len(some) / (time.perf_counter() - t0)
    per_chunk = len(sentences) / len(chunks)
    return {"sample_chunks": len(chunks), "chunks_per_s": chunk_rate, "sentences_per_s": sentence_rate,
            "sentences_per_chunk": per_chunk,
            "extrapolated_hours": {str(n): (n / chunk_rate + n * per_chunk / sentence_rate) / 3600 for n in n_sizes}}


def threshold_study(index_dir: Path, sizes: list[int], nq: int) -> list[dict]:
    """Flat vs HNSW search p95 in one process, small sizes: where does flat pass 5-10 ms?"""
    import faiss

    from rag.vectorstore import build_vector_index

    queries = next(vector_blocks(nq, "structured", seed=99, index_dir=index_dir))
    rows_all = np.vstack(list(vector_blocks(max(sizes), "structured", seed=5, index_dir=index_dir)))
    out = []
    for n in sizes:
        rows = rows_all[:n]
        flat = faiss.IndexFlatIP(DIM)
        flat.add(rows)
        _, truth = flat.search(queries, K)
        t0 = time.perf_counter()
        hnsw, _ = build_vector_index(rows, flat_max_rows=0)
        build_s = time.perf_counter() - t0
        row = {"n": n, "hnsw_build_s": build_s}
        for name, index, threads in (("flat", flat, 1), ("flat_2threads", flat, 2), ("hnsw", hnsw, 1)):
            faiss.omp_set_num_threads(threads)
            times, found = [], []
            for qi in range(nq):
                t = time.perf_counter()
                _, ids = index.search(queries[qi:qi + 1], K)
                times.append((time.perf_counter() - t) * 1000)
                found.append(len(set(ids[0].tolist()) & set(truth[qi].tolist())) / K)
            faiss.omp_set_num_threads(BUILD_THREADS)
            s = common.stats(times)
            row.update({f"{name}_p50_ms": s["p50"], f"{name}_p95_ms": s["p95"], f"{name}_recall": float(np.mean(found))})
        print(f"{n:>8,}  flat p50 {row['flat_p50_ms']:6.2f} p95 {row['flat_p95_ms']:6.2f} ms "
              f"(2 threads: p95 {row['flat_2threads_p95_ms']:6.2f}) | hnsw p50 "
              f"{row['hnsw_p50_ms']:5.2f} p95 {row['hnsw_p95_ms']:5.2f} ms recall {row['hnsw_recall']:.3f} "
              f"build {build_s:5.1f}s", flush=True)
        out.append(row)
    return out


# ---- plots ------------------------------------------------------------------------------
def plot() -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {}
    for path in sorted(common.RESULTS.glob("scale-*.json")):
        if path.stem.startswith(("scale-threshold", "scale-hybrid")):
            continue
        runs[path.stem.removeprefix("scale-")] = json.loads(path.read_text(encoding="utf-8"))
    if not runs:
        raise SystemExit("scale: no bench/results/scale-*.json yet; run bench/scale.py first")
    from rag.vectorstore import HNSW_EF_SEARCH

    chosen = {"flat": None, "hnsw": HNSW_EF_SEARCH, "ivfpq": 64}
    hybrid_path = common.RESULTS / "scale-hybrid.json"
    hybrid = json.loads(hybrid_path.read_text(encoding="utf-8"))["runs"] if hybrid_path.exists() else []
    written = []
    for what, key, label, target in (("latency", "search_p95_ms", "p95 per query, ms (log)", 20),
                                     ("memory", "serve_peak_rss_mb", "peak RSS while serving, MB (log)", 4096)):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        if hybrid:  # the whole hybrid query (bench/scale_hybrid.py): Kiwi tokens, BM25, dense, RRF, texts
            ys = [r["serve"]["ms"]["total"]["p95"] if what == "latency" else r["serve"]["peak_rss_mb"] for r in hybrid]
            ax.plot([r["n"] for r in hybrid], ys, "-", color="black", lw=2, marker="s",
                    label="hybrid query: Kiwi tokens + BM25 (bm25s) + flat/HNSW + RRF + texts"
                          + (" (wall; shared machine)" if what == "latency" else ""))
            if what == "latency":
                ax.plot([r["n"] for r in hybrid], [r["serve"]["ms"]["total_cpu"]["p95"] for r in hybrid], "--",
                        color="black", marker="s", mfc="white", label="hybrid query, CPU time of the serving thread")
                ax.axhline(30, color="black", lw=0.8, ls="--")
                ax.text(1.05e4, 30 * 1.08, "hybrid target 30 ms", fontsize=8)
        for data, run in runs.items():
            style = "-" if data == "structured" else ":"
            for kind in ("flat", "hnsw", "ivfpq"):
                pts = [r for r in run["runs"] if r["kind"] == kind]
                if not pts:
                    continue
                ys, recall = [], None
                for r in pts:
                    best = [s for s in r["settings"] if s["rerank"] == (kind == "ivfpq")]
                    if chosen[kind] is not None:
                        best.sort(key=lambda s: abs(s["setting"] - chosen[kind]))
                    recall = best[0]["recall@10"]
                    if key == "search_p95_ms":
                        pick = [s for s in r["settings"] if s["rerank"] == (kind == "ivfpq")]
                        if chosen[kind] is not None:  # the chosen setting, or the nearest one measured
                            pick.sort(key=lambda s: abs(s["setting"] - chosen[kind]))
                        ys.append(pick[0][key])
                    else:
                        ys.append(r[key])
                name = {"flat": "flat (exact)", "hnsw": f"HNSW M=32 efSearch={HNSW_EF_SEARCH}",
                        "ivfpq": "IVF-PQ nprobe=64 + re-rank 300"}[kind]
                xs = [r.get("rows_built") or r["n"] for r in pts]
                ax.plot(xs, ys, style, marker="o", label=f"{name}, {data} vectors; recall@10 {recall:.2f} at {xs[-1]:,}")
                for x, y, r in zip(xs, ys, pts):
                    if r.get("rows_built"):
                        ax.annotate("build capped", (x, y), fontsize=7, xytext=(4, -10), textcoords="offset points")
        ax.axhline(target, color="grey", lw=0.8, ls="--")
        ax.text(1.05e4, target * 1.08, f"{'vector search target' if what == 'latency' else 'target'} {target:,} "
                f"{'ms' if what == 'latency' else 'MB'}", color="grey", fontsize=8)
        if what == "latency":
            ax.axhspan(5, 10, color="orange", alpha=0.12, lw=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("corpus size, chunks (384-d synthetic vectors, see docs/benchmarks.md)")
        ax.set_ylabel(label)
        ax.set_title(f"Scale: {'query latency (excl. query embedding)' if what == 'latency' else 'serving memory'}, "
                     f"{common.machine()['cores']} cores")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        path = common.REPO / "docs" / f"scale-{what}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--kinds", default="flat,hnsw,ivfpq")
    parser.add_argument("--data", choices=("structured", "uniform"), default="structured")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--index", type=Path, default=common.DEFAULT_INDEX, help="bench index holding real e5 vectors")
    parser.add_argument("--embed-sample", type=int, default=128, help="chunks to embed for the rate (0: skip)")
    parser.add_argument("--threshold", action="store_true", help="flat vs HNSW at 5k..100k rows")
    parser.add_argument("--plot", action="store_true", help="only redraw docs/scale-*.png from results")
    parser.add_argument("--worker", choices=("build", "serve"), help=argparse.SUPPRESS)
    parser.add_argument("--hnsw-cap-s", type=float, default=900,
                        help="stop an HNSW build after this many seconds and extrapolate (0: no cap)")
    for name in ("--kind", "--vectors", "--out", "--index-file", "--texts", "--truth", "--queries-file", "--cap-s"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_reply(worker_build(args) if args.worker == "build" else worker_serve(args))
    if args.plot:
        for path in plot():
            print("wrote", path)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.threshold:
        sizes = [5_000, 10_000, 20_000, 30_000, 50_000, 100_000]
        rows = threshold_study(args.index, sizes, args.queries)
        print("results ->", common.save("scale-threshold", {"command": " ".join(sys.argv), "rows": rows}))
        return 0
    command = " ".join(["bench/scale.py", *(argv if argv is not None else sys.argv[1:])])
    result = {"commands": [command], "data": args.data, "queries": args.queries, "runs": []}
    previous = common.RESULTS / f"scale-{args.data}.json"
    if previous.exists():  # a rerun of some sizes or kinds keeps the other figures
        old = json.loads(previous.read_text(encoding="utf-8"))
        redo = {(n, k) for n in sizes for k in args.kinds.split(",")}
        result["runs"] = [r for r in old.get("runs", []) if (r["n"], r["kind"]) not in redo]
        result["commands"] = [c for c in old.get("commands", [old.get("command", "")]) if c] + [command]
        if "embedding" in old:
            result["embedding"] = old["embedding"]
    if args.embed_sample:
        result["embedding"] = embed_sample(args.embed_sample, sizes)
        e = result["embedding"]
        print(f"e5 embedding (measured on {e['sample_chunks']} synthetic chunks): {e['chunks_per_s']:.1f} chunks/s, "
              f"{e['sentences_per_s']:.1f} sentences/s; EXTRAPOLATED build embedding hours: "
              + ", ".join(f"{int(n):,}: {h:.1f}" for n, h in e["extrapolated_hours"].items()), flush=True)
    for n in sizes:
        for kind in args.kinds.split(","):
            print(f"== {n:,} rows, {kind}, {args.data} vectors", file=sys.stderr, flush=True)
            r = measure(n, kind, args.data, args.queries, args.index, args.hnsw_cap_s)
            result["runs"].append(r)
            result["runs"].sort(key=lambda r: (r["n"], ["flat", "hnsw", "ivfpq"].index(r["kind"])))
            if r.get("rows_built"):
                print(f"  HNSW build capped at {r['capped_at_s']:.0f} s: {r['rows_built']:,} of {n:,} rows built; "
                      f"figures below are for those rows; full build EXTRAPOLATED "
                      f"{r['extrapolated_full_build_s'] / 60:.0f} min", flush=True)
            for s in r["settings"]:
                print(f"{n:>9,} {kind:6} {str(s['setting']):>5}{' +rerank' if s['rerank'] else '        '} "
                      f"build {r['build_s']:7.1f}s  search p50 {s['search_p50_ms']:7.2f} p95 {s['search_p95_ms']:7.2f} ms"
                      f"  recall@10 {s['recall@10']:.3f}  serve RSS {r['serve_peak_rss_mb']:7.0f} MB"
                      f"  build RSS {r['build_peak_rss_mb']:7.0f} MB", flush=True)
            common.save(f"scale-{args.data}", result)  # after every run, so a long study keeps its figures
    print("results ->", common.RESULTS / f"scale-{args.data}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
