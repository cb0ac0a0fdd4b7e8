"""Scale study of the whole hybrid query: BM25 + dense + fusion + chunk texts, at 10k, 100k and 1M chunks.

The default retriever fuses e5 vectors and BM25 by reciprocal rank. This
script measures one query at a time through the same pieces at scale, each
step in its own process, so each peak RSS is that process's own (VmHWM):

- texts and metadata: synthetic chunks (bench/synth_corpus.py) in a
  `ChunkTextStore`, and a second store beside it with one JSON object of
  metadata per chunk (id, file, heading path, line span); both are read
  through mmap, a few pages per hit.
- lexical: `rag.lexical.BM25` (bm25s) fitted on the chunks' tokens and saved
  as an index generation saves it; build seconds and peak RSS, with progress.
- dense: the index `build_vector_index` picks (flat up to 50k rows, HNSW
  above), over bench/scale.py's structured stand-in vectors (not e5
  embeddings of these texts: embedding 1M chunks takes weeks here).
- serve: a fresh process loads all of it and answers every gold question
  (question or statement plus options, as `rag eval` retrieves them): Kiwi
  tokens of the glossary-expanded text, BM25 top 30, dense top 30 on one
  FAISS thread, `rrf` fusion, then text and metadata of the top 10. Query
  vectors are precomputed, so the times EXCLUDE the query embedding.

Tokens: Kiwi analyses a couple of hundred synthetic chunks a second on one
core here, so tokenising 1M chunks whole would take hours on a shared
machine. The synthetic texts only recombine the notes' own words, so the
chunks' tokens are those of `rag.lexical.tokenize` applied word by word
through a cache. The study measures, on a sample, how far that is from
tokenising whole chunks and how fast the real tokeniser runs, and
extrapolates that rate (a real build tokenises only new or changed chunks;
the others reuse their stored tokens).

    .venv/bin/python bench/scale_hybrid.py --sizes 10000,100000
    .venv/bin/python bench/scale_hybrid.py --sizes 1000000
    .venv/bin/python bench/scale_hybrid.py --report          # the Markdown table from the saved results
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common  # noqa: E402
import scale  # noqa: E402

DEPTH = 30  # per retriever, as HybridRetriever
TOP_K = 10  # hits whose text and metadata are fetched (Settings.top_k)
WARMUP = 20
RESULT = "scale-hybrid"


# ---- synthetic corpus --------------------------------------------------------------------
def metadata_store(n: int, texts: Path) -> Path:
    """One JSON object per synthetic chunk, like a chunk's metadata row, in a ChunkTextStore."""
    from rag.vectorstore import ChunkTextStore

    folder = scale.WORK / f"meta-{n}"
    try:
        if len(ChunkTextStore.open(folder)) == n:
            return folder
    except ValueError:
        pass
    store = ChunkTextStore.open(texts)

    def rows():
        for i in range(n):
            heading = store.get(i).split("\n", 1)[0].removeprefix("## ")
            yield json.dumps({"chunk_id": f"synth-{i:07d}", "source": f"synth-{i // 1000:05d}.md",
                              "heading_path": ["SOA 시험 대비", heading], "line_start": 3 + 10 * (i % 1000),
                              "line_end": 11 + 10 * (i % 1000)}, ensure_ascii=False)

    ChunkTextStore.write(rows(), folder).close()
    store.close()
    return folder


class WordTokens:
    """`rag.lexical.tokenize` applied word by word, each distinct Korean word analysed once."""

    def __init__(self) -> None:
        from rag.lexical import HANGUL, tokenize

        self._tokenize, self._hangul, self._cache = tokenize, HANGUL, {}

    def __call__(self, text: str) -> list[str]:
        out: list[str] = []
        for word in text.split():
            tokens = self._cache.get(word)
            if tokens is None:
                tokens = self._tokenize(word)
                if self._hangul.search(word):  # serial numbers and English stay uncached: cheap, and unbounded
                    self._cache[word] = tokens
            out.extend(tokens)
        return out


def tokeniser_sample(texts: Path, sample: int) -> dict:
    """Real `tokenize` on whole chunks vs word by word: rate, and how often the token lists agree."""
    from rag.lexical import tokenize
    from rag.vectorstore import ChunkTextStore

    store = ChunkTextStore.open(texts)
    picks = np.random.default_rng(3).choice(len(store), min(sample, len(store)), replace=False)
    chunks = [store.get(int(i)) for i in picks]
    tokenize("워밍업 문장")
    started = time.perf_counter()
    whole = [tokenize(text) for text in chunks]
    rate = len(chunks) / (time.perf_counter() - started)
    by_word = [WordTokens()(text) for text in chunks]
    same = sum(a == b for a, b in zip(whole, by_word)) / len(chunks)
    overlap = statistics.mean(sum((Counter(a) & Counter(b)).values()) / max(1, len(a), len(b))
                              for a, b in zip(whole, by_word))
    return {"sample_chunks": len(chunks), "whole_chunks_per_s": rate, "identical_share": same,
            "token_overlap": overlap, "tokens_per_chunk": statistics.mean(len(t) for t in whole)}


# ---- workers -----------------------------------------------------------------------------
def worker_lexical(args) -> dict:
    from rag.lexical import BM25
    from rag.progress import Bar
    from rag.vectorstore import ChunkTextStore

    store = ChunkTextStore.open(args.texts)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # the chunks' tokens in memory first, as a real build holds them (read from chunks.jsonl or just made)
    started = time.perf_counter()
    words, progress = WordTokens(), Bar()
    tokens = []
    for i in range(len(store)):
        tokens.append(words(store.get(i)))
        if (i + 1) % 10_000 == 0 or i + 1 == len(store):
            progress(i + 1, len(store), "tokens (word cache)")
    tokenised = time.perf_counter()
    bm25 = BM25.fit(tokens, progress=progress)
    fitted = time.perf_counter()
    entry = bm25.save(out)
    saved = time.perf_counter()
    return {"tokens_s": tokenised - started, "fit_s": fitted - tokenised, "save_s": saved - fitted,
            "build_s": saved - tokenised, "tokens_per_chunk": sum(map(len, tokens)) / max(1, len(tokens)),
            "terms": entry["terms"], "postings": entry["postings"],
            "files_mb": sum((out / name).stat().st_size for name in entry["files"]) / 2**20}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_serve(args) -> dict:
    import faiss

    from rag.evaluate import GoldItem, kind_of
    from rag.lexical import BM25, expand_query, tokenize
    from rag.retrieve import rrf
    from rag.vectorstore import ChunkTextStore

    faiss.omp_set_num_threads(scale.SEARCH_THREADS)
    memory = {"start": rss_mb()}
    t0 = time.perf_counter()
    dense = faiss.read_index(args.index_file)
    memory["vectors"] = rss_mb()
    bm25 = BM25.load(Path(args.lexical))
    memory["lexical"] = rss_mb()
    texts, meta = ChunkTextStore.open(args.texts), ChunkTextStore.open(args.meta)
    memory["texts_metadata"] = rss_mb()
    tokenize("분석기 불러오기")  # Kiwi's model, which every served query needs
    memory["tokeniser"] = rss_mb()
    load_s = time.perf_counter() - t0
    questions = []
    for path in sorted((common.REPO / "eval" / "gold").glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                record = json.loads(line)
                questions.append(GoldItem(path.name, number, kind_of(record), "", record).retrieval_text)
    vectors = np.load(args.queries_file)
    steps = {name: [] for name in ("tokens", "lexical", "dense", "fusion", "fetch", "total", "total_cpu")}
    matched = []
    order = list(range(WARMUP)) + list(range(len(questions)))
    for n, qi in enumerate(order):
        cpu = time.thread_time()
        t0 = time.perf_counter()
        tokens = tokenize(expand_query(questions[qi]))
        t1 = time.perf_counter()
        lexical = bm25.top(tokens, DEPTH)
        t2 = time.perf_counter()
        _, ids = dense.search(vectors[qi % len(vectors)][None, :], DEPTH)
        t3 = time.perf_counter()
        fused = rrf([[i for i, _ in lexical], [int(i) for i in ids[0] if i >= 0]])[:TOP_K]
        t4 = time.perf_counter()
        hits = [(texts.get(i), json.loads(meta.get(i))) for i, _ in fused]
        t5 = time.perf_counter()
        cpu = time.thread_time() - cpu
        assert len(hits) == TOP_K
        if n >= WARMUP:
            for name, (a, b) in zip(steps, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t0, t5), (0, cpu))):
                steps[name].append((b - a) * 1000)
            matched.append(int(np.count_nonzero(bm25.scores(tokens))))
    memory["after_queries"] = rss_mb()
    return {"load_s": load_s, "queries": len(questions), "rss_mb": memory,
            "ms": {name: common.stats(values) for name, values in steps.items()},
            "documents_matched_median": float(np.median(matched)), "dense_rows": int(dense.ntotal),
            "lexical_documents": bm25.documents}


# ---- orchestration -----------------------------------------------------------------------
def dense_index(n: int, index_dir: Path) -> dict:
    """Build (or reuse, from an earlier run of this script) the vector index the live build would pick."""
    from rag.vectorstore import FLAT_MAX_ROWS

    kind = "flat" if n <= FLAT_MAX_ROWS else "hnsw"
    path, record = scale.WORK / f"hybrid-{kind}-{n}.faiss", scale.WORK / f"hybrid-{kind}-{n}.json"
    if path.exists() and record.exists():
        return {**json.loads(record.read_text(encoding="utf-8")), "reused": True}
    vectors = scale.vectors_file(n, "structured", index_dir)
    build, rss = scale.run_worker(["--worker", "build", "--kind", kind, "--vectors", str(vectors), "--out", str(path)])
    result = {"kind": kind, "file": str(path), "build_s": build["build_s"], "file_mb": build["file_mb"],
              "build_peak_rss_mb": rss}
    record.write_text(json.dumps(result), encoding="utf-8")
    return {**result, "reused": False}


def query_vectors(count: int, index_dir: Path) -> Path:
    path = scale.WORK / f"hybrid-queries-{count}.npy"
    if not path.exists():
        np.save(path, next(scale.vector_blocks(count, "structured", seed=4242, index_dir=index_dir)))
    return path


def notes_rebuild_ms() -> dict:
    """Fitting and saving the notes' BM25 index from stored tokens, as every index generation does."""
    import tempfile

    from rag.index import chunk_lexical_text
    from rag.lexical import BM25, tokenize
    from rag.notes import load_corpus
    from rag.settings import Settings

    chunks, _ = load_corpus(common.REPO / "corpus", Settings().chunker)
    tokens = [tokenize(chunk_lexical_text(c)) for c in chunks]
    times = []
    for _ in range(5):
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.perf_counter()
            BM25.fit(tokens).save(Path(folder))
            times.append((time.perf_counter() - t0) * 1000)
    return {"chunks": len(chunks), "median_ms": statistics.median(times)}


def measure(n: int, index_dir: Path, vectors: Path) -> dict:
    load_before = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    texts = scale.text_store(n)
    meta = metadata_store(n, texts)
    prepare_s = time.perf_counter() - started
    print(f"== {n:,} chunks: texts and metadata ready ({prepare_s:.0f} s)", file=sys.stderr, flush=True)
    dense = dense_index(n, index_dir)
    lexical_dir = scale.WORK / f"hybrid-lexical-{n}"
    lexical, lexical_rss = scale.run_worker(["--worker", "lexical", "--texts", str(texts), "--out", str(lexical_dir)],
                                            script=__file__)
    serve, serve_rss = scale.run_worker(["--worker", "serve", "--index-file", dense["file"], "--lexical",
                                         str(lexical_dir), "--texts", str(texts), "--meta", str(meta),
                                         "--queries-file", str(vectors)], script=__file__)
    return {"n": n, "dense": dense, "lexical": {**lexical, "build_peak_rss_mb": lexical_rss},
            "serve": {**serve, "peak_rss_mb": serve_rss},
            "load_avg_before_after": [load_before, [round(x, 2) for x in os.getloadavg()]]}


def report(result: dict) -> str:
    lines = [f"`{c}`  " for c in result["commands"]]
    m = result["machine"]
    lines.append(f"*{m['cores']} cores, {m['memory_gb']} GB, load average {m['load_avg_1_5_15_min']} at save, "
                 f"{m['date']}*\n")
    lines.append("| chunks | dense index | lexical build s (fit + save) | lexical build peak RSS MB | BM25 files MB "
                 "| query tokens p95 ms | BM25 top-30 p50 / p95 ms | dense top-30 p50 / p95 ms | fusion / fetch p95 ms "
                 "| **hybrid p50 / p95 ms** | hybrid CPU p50 / p95 ms | serve RSS MB: vectors / +BM25 / +texts, metadata / +Kiwi / **peak** |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in result["runs"]:
        s, lex, d = run["serve"], run["lexical"], run["dense"]
        ms, rss = s["ms"], s["rss_mb"]
        lines.append(
            f"| {run['n']:,} | {d['kind']} (built in {d['build_s']:.0f} s) | {lex['build_s']:.1f} "
            f"| {lex['build_peak_rss_mb']:.0f} | {lex['files_mb']:.0f} | {ms['tokens']['p95']:.1f} "
            f"| {ms['lexical']['p50']:.1f} / {ms['lexical']['p95']:.1f} | {ms['dense']['p50']:.1f} / {ms['dense']['p95']:.1f} "
            f"| {ms['fusion']['p95']:.2f} / {ms['fetch']['p95']:.2f} | **{ms['total']['p50']:.1f} / {ms['total']['p95']:.1f}** "
            f"| {ms['total_cpu']['p50']:.1f} / {ms['total_cpu']['p95']:.1f} "
            f"| {rss['vectors']:.0f} / {rss['lexical']:.0f} / {rss['texts_metadata']:.0f} / {rss['tokeniser']:.0f} "
            f"/ **{s['peak_rss_mb']:.0f}** |")
    t = result.get("tokeniser")
    if t:
        lines.append(f"\nKiwi on whole chunks, **measured** on {t['sample_chunks']} synthetic chunks: "
                     f"{t['whole_chunks_per_s']:.0f} chunks/s ({t['tokens_per_chunk']:.0f} tokens each); "
                     f"word-by-word tokens identical for {t['identical_share']:.0%} of them, "
                     f"{t['token_overlap']:.1%} of tokens shared. **Extrapolated** tokenising time for a full build: "
                     + ", ".join(f"{r['n']:,} chunks ≈ {r['n'] / t['whole_chunks_per_s'] / 60:,.0f} min"
                                 for r in result["runs"]) + ".")
    notes = result.get("notes_rebuild")
    if notes:
        lines.append(f"\nRebuilding the notes' BM25 index ({notes['chunks']} chunks) from stored tokens, "
                     f"fit + save: median {notes['median_ms']:.1f} ms of 5.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--index", type=Path, default=common.DEFAULT_INDEX, help="bench index holding real e5 vectors")
    parser.add_argument("--tokeniser-sample", type=int, default=300, help="chunks tokenised whole (0: skip)")
    parser.add_argument("--report", action="store_true", help="only print the table from the saved results")
    parser.add_argument("--worker", choices=("lexical", "serve"), help=argparse.SUPPRESS)
    for name in ("--texts", "--out", "--index-file", "--lexical", "--meta", "--queries-file"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return scale.worker_reply(worker_lexical(args) if args.worker == "lexical" else worker_serve(args))
    path = common.RESULTS / f"{RESULT}.json"
    if args.report:
        print(report(json.loads(path.read_text(encoding="utf-8"))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    command = " ".join(["bench/scale_hybrid.py", *(argv if argv is not None else sys.argv[1:])])
    result = {"commands": [command], "runs": []}
    if path.exists():  # a run of some sizes keeps the figures of the others
        old = json.loads(path.read_text(encoding="utf-8"))
        old.pop("machine", None)  # common.save records this run's machine
        result = {**old, "commands": old["commands"] + [command],
                  "runs": [r for r in old["runs"] if r["n"] not in sizes]}
    result["notes_rebuild"] = notes_rebuild_ms()
    if args.tokeniser_sample:
        result["tokeniser"] = tokeniser_sample(scale.text_store(min(sizes)), args.tokeniser_sample)
    vectors = query_vectors(512, args.index)
    for n in sizes:
        run = measure(n, args.index, vectors)
        result["runs"] = sorted(result["runs"] + [run], key=lambda r: r["n"])
        common.save(RESULT, result)
        s = run["serve"]
        print(f"{n:>9,} chunks: hybrid p50 {s['ms']['total']['p50']:.1f} p95 {s['ms']['total']['p95']:.1f} ms "
              f"(BM25 p95 {s['ms']['lexical']['p95']:.1f}, dense p95 {s['ms']['dense']['p95']:.1f}); "
              f"lexical build {run['lexical']['build_s']:.1f} s; serve peak RSS {s['peak_rss_mb']:.0f} MB", flush=True)
    print(report(json.loads(path.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
