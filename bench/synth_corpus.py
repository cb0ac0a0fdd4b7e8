"""Synthetic corpus: Korean and English sentences recombined from the notes' vocabulary.

A word-bigram chain is learned from every sentence of the notes (whitespace
words, so Korean eojeol with their particles and English AWS terms alike),
then walked to make new sentences. A chunk is a real heading with a serial
number, followed by as many sentences as a real chunk has (drawn from the
notes' own sentences-per-chunk counts). The text reads like the notes,
mixes Korean and English the same way, and has the same length spread, but
says nothing true: it is for timing and memory, never for answers.

Walks run for many sentences at once with numpy, so a million chunks take
about a minute. Output is a `ChunkTextStore` folder (rag/vectorstore.py);
`--markdown DIR` also writes Markdown notes that `rag index` can read.

    .venv/bin/python bench/synth_corpus.py --chunks 10000 --out /tmp/synth-10k
    .venv/bin/python bench/synth_corpus.py --chunks 2000 --out /tmp/synth-2k --markdown /tmp/synth-2k-notes
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.notes import load_corpus, units_of  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.vectorstore import ChunkTextStore  # noqa: E402

START, END = 0, 1
MAX_WORDS = 40
HANGUL = re.compile(r"[가-힣]")


class Chain:
    """Word bigrams of the notes as arrays: successors of word w are succ[off[w]:off[w+1]]."""

    def __init__(self, sentences: list[str], headings: list[str], sentences_per_chunk: list[int]) -> None:
        self.words = ["<s>", "</s>"]
        ids: dict[str, int] = {}
        pairs = []
        for sentence in sentences:
            seq = [START]
            for word in sentence.split():
                if word not in ids:
                    ids[word] = len(self.words)
                    self.words.append(word)
                seq.append(ids[word])
            if len(seq) == 1:
                continue
            seq.append(END)
            pairs.extend(zip(seq[:-1], seq[1:]))
        pairs_arr = np.asarray(pairs, dtype=np.int64)
        order = np.argsort(pairs_arr[:, 0], kind="stable")
        self.succ = pairs_arr[order, 1]
        counts = np.bincount(pairs_arr[:, 0], minlength=len(self.words))
        self.off = np.concatenate([[0], np.cumsum(counts)])
        self.count = counts
        self.headings = headings
        self.per_chunk = np.asarray(sentences_per_chunk, dtype=np.int64)

    @classmethod
    def from_notes(cls, corpus_dir: Path) -> "Chain":
        settings = Settings()
        chunks, _ = load_corpus(corpus_dir, settings.chunker)
        sentences = [u.text for c in chunks for u in units_of(c)]
        headings = sorted({c.heading_path[-1] for c in chunks if len(c.heading_path) > 1})
        per_chunk = [max(1, len(units_of(c))) for c in chunks]
        return cls(sentences, headings, per_chunk)

    def sentences(self, n: int, rng: np.random.Generator) -> list[str]:
        """`n` new sentences, walked in parallel."""
        walk = np.full((n, MAX_WORDS), END, dtype=np.int64)
        state = np.full(n, START, dtype=np.int64)
        alive = np.ones(n, dtype=bool)
        for step in range(MAX_WORDS):
            count = self.count[state]
            pick = self.off[state] + (rng.random(n) * np.maximum(count, 1)).astype(np.int64)
            nxt = np.where(alive & (count > 0), self.succ[np.minimum(pick, len(self.succ) - 1)], END)
            walk[:, step] = nxt
            alive &= nxt != END
            state = nxt
            if not alive.any():
                break
        words = self.words
        return [" ".join(words[w] for w in row if w != END) or words[2] for row in walk.tolist()]


def generate(n_chunks: int, corpus_dir: Path = Path("corpus"), seed: int = 0, block: int = 20_000) -> Iterator[str]:
    """Chunk texts, `block` chunks at a time: '## <heading> (#i)' then its sentences."""
    chain = Chain.from_notes(corpus_dir)
    rng = np.random.default_rng(seed)
    made = 0
    while made < n_chunks:
        m = min(block, n_chunks - made)
        sizes = chain.per_chunk[rng.integers(0, len(chain.per_chunk), m)]
        heads = rng.integers(0, len(chain.headings), m)
        pool = chain.sentences(int(sizes.sum()), rng)
        at = 0
        for i in range(m):
            body = pool[at:at + sizes[i]]
            at += sizes[i]
            yield f"## {chain.headings[heads[i]]} (#{made + i + 1})\n" + "\n".join(body)
        made += m


def write_markdown(texts: Iterator[str], folder: Path, per_file: int = 1000) -> int:
    """Markdown notes, `per_file` chunks each, for a real `rag index` run."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    handle = None
    for text in texts:
        if n % per_file == 0:
            if handle:
                handle.close()
            handle = (folder / f"synth-{n // per_file:05d}.md").open("w", encoding="utf-8")
            handle.write(f"# SOA 시험 대비 (synthetic {n // per_file})\n\n")
        handle.write(text + "\n\n")
        n += 1
    if handle:
        handle.close()
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--out", type=Path, required=True, help="ChunkTextStore folder to write")
    parser.add_argument("--markdown", type=Path, help="also write Markdown notes here")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    store = ChunkTextStore.write(generate(args.chunks, args.corpus, args.seed), args.out)
    seconds = time.perf_counter() - started
    if args.markdown:
        write_markdown(generate(args.chunks, args.corpus, args.seed), args.markdown)
    sample = [store.get(i) for i in range(0, len(store), max(1, len(store) // 1000))]
    hangul = sum(len(HANGUL.findall(t)) for t in sample) / max(1, sum(len(t) for t in sample))
    size = (args.out / "texts.bin").stat().st_size
    print(f"{len(store):,} chunks, {size / 2**20:,.1f} MiB UTF-8, {size / len(store):,.0f} bytes/chunk, "
          f"{hangul:.0%} Hangul characters, {seconds:.1f}s -> {args.out}")
    print("example:\n" + store.get(0)[:400])
    return 0


if __name__ == "__main__":
    sys.exit(main())
