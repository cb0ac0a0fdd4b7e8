"""The on-disk index: chunks, sentences, FAISS vectors per model, and a manifest.

Layout of `index/`:

    CURRENT                 names the live generation, e.g. `gen-000003`
    gen-000003/
        manifest.json       model ids and dims, chunker settings, note hashes, artifact checksums
        chunks.jsonl        one chunk per line, with its BM25 tokens
        units.jsonl         the sentences the composer quotes, with their tokens
        bm25.*              the chunks' BM25 index (rag/lexical.py): vocabulary JSON, plain arrays
        <model>.chunks.faiss, <model>.units.faiss   inner-product FAISS indexes

A build writes a new generation folder and then replaces `CURRENT` with
`os.replace`, so a crash mid-build leaves the previous generation live, and
a reader never sees half an index. Each model's vectors live in their own
files: vectors of two models are never mixed. Unchanged texts reuse their
vectors from the previous generation, so editing one note section
re-embeds only that section. Nothing is pickled: JSON, JSON Lines and
FAISS's own format only, each checked against the manifest's SHA-256.
The BM25 index is rebuilt whole from the chunks' tokens (reused from the
previous generation when unchanged) for every generation: bm25s cannot
update one in place, and a rebuild is cheap (docs/benchmarks.md, "Scale").
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from rag.embed import Embedder
from rag.lexical import BM25, LEXICAL_VERSION, glossary, tokenize
from rag.notes import UNITS_VERSION, Unit, load_corpus, units_of
from rag.progress import Progress, silent
from rag.settings import Settings
from rag.vectorstore import build_vector_index
from rag.types import Chunk

FORMAT = 2  # 2: the BM25 index is saved in the generation
EMBED_BATCH = 32
MANIFEST_KEYS = ("format", "generation", "chunker", "files", "models", "counts", "artifacts")


class IndexError_(Exception):
    """Base for index problems; messages are one line and say what happens next."""


class IndexMissing(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


class IndexUnwritable(IndexError_):
    pass


@dataclass
class IndexData:
    """A loaded generation: everything retrieval and composition read."""

    folder: Path
    manifest: dict
    chunks: list[Chunk]
    chunk_tokens: list[list[str]]
    units: list[Unit]
    unit_tokens: list[list[str]]
    chunk_vectors: dict[str, faiss.Index] = field(default_factory=dict)
    unit_vectors: dict[str, faiss.Index] = field(default_factory=dict)
    lexical: BM25 | None = None

    def __post_init__(self) -> None:
        self.chunk_by_id = {c.chunk_id: c for c in self.chunks}
        self.units_by_chunk: dict[str, list[int]] = {}
        for i, unit in enumerate(self.units):
            self.units_by_chunk.setdefault(unit.chunk_id, []).append(i)
        self.chunks_by_section: dict[tuple, list[Chunk]] = {}
        for chunk in self.chunks:
            self.chunks_by_section.setdefault(chunk.section_key, []).append(chunk)
        vocabulary = {t for tokens in self.chunk_tokens for t in tokens}
        # the notes' words plus the glossary's English side: a question naming none of them is out of scope
        self.known_terms = vocabulary | {w for e in glossary() for w in e.english.split()}
        self._unit_matrices: dict[str, np.ndarray] = {}

    def unit_matrix(self, model_id: str) -> np.ndarray:
        """All sentence vectors of one model as a matrix (rows follow `units`)."""
        if model_id not in self._unit_matrices:
            index = self.unit_vectors[model_id]
            self._unit_matrices[model_id] = (
                index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
            )
        return self._unit_matrices[model_id]


@dataclass(frozen=True)
class BuildReport:
    generation: str
    chunks: int
    units: int
    embedded: int
    reused: int
    seconds: float
    reason: str


def model_slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", model_id).strip("_")[:60] + "-" + hashlib.sha1(model_id.encode()).hexdigest()[:6]


def chunk_embed_text(chunk: Chunk) -> str:
    """What the dense models see for a chunk: its headings, then its text."""
    return " > ".join(chunk.heading_path[1:]) + "\n" + chunk.text


def chunk_lexical_text(chunk: Chunk) -> str:
    """What BM25 sees for a chunk: its headings, then its text."""
    return " ".join(chunk.heading_path[1:]) + "\n" + chunk.text


def unit_embed_text(unit: Unit, chunk: Chunk) -> str:
    return f"{chunk.heading_path[-1]}: {unit.text}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def current_generation(index_dir: Path) -> Path:
    pointer = index_dir / "CURRENT"
    if not pointer.exists():
        raise IndexMissing(f"no index in {index_dir}/ yet; it will be built now")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (UnicodeDecodeError, OSError):
        raise IndexCorrupt(f"{pointer} is damaged; rebuilding") from None
    if not re.fullmatch(r"gen-\d{6}", name) or not (index_dir / name).is_dir():
        raise IndexCorrupt(f"{pointer} names a missing generation {name!r}; rebuilding")
    return index_dir / name


def load(index_dir: Path) -> IndexData:
    """Load and verify the live generation; damage raises IndexCorrupt."""
    folder = current_generation(index_dir)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        missing = [k for k in MANIFEST_KEYS if k not in manifest]
        if missing:
            raise IndexCorrupt(f"index manifest {folder / 'manifest.json'} lacks {missing[0]!r}; rebuilding")
        for name, digest in manifest["artifacts"].items():
            if _sha256(folder / name) != digest:
                raise IndexCorrupt(f"index file {folder / name} fails its checksum; rebuilding")
        chunk_rows = [json.loads(line) for line in (folder / "chunks.jsonl").open(encoding="utf-8")]
        unit_rows = [json.loads(line) for line in (folder / "units.jsonl").open(encoding="utf-8")]
        data = IndexData(
            folder=folder,
            manifest=manifest,
            chunks=[Chunk(**{**r["chunk"], "heading_path": tuple(r["chunk"]["heading_path"])}) for r in chunk_rows],
            chunk_tokens=[r["tokens"] for r in chunk_rows],
            units=[Unit(r["chunk_id"], r["line"], r["text"]) for r in unit_rows],
            unit_tokens=[r["tokens"] for r in unit_rows],
        )
        for model_id, info in manifest["models"].items():
            data.chunk_vectors[model_id] = faiss.read_index(str(folder / info["chunks_file"]))
            data.unit_vectors[model_id] = faiss.read_index(str(folder / info["units_file"]))
            if data.chunk_vectors[model_id].ntotal != len(data.chunks) or data.unit_vectors[model_id].d != info["dim"]:
                raise IndexCorrupt(f"index vectors for {model_id} do not match the chunk list; rebuilding")
        data.lexical = _load_lexical(folder, manifest, data.chunk_tokens)
    except IndexCorrupt:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise IndexCorrupt(f"index in {folder} is damaged ({type(err).__name__}); rebuilding") from None
    return data


def staleness(data: IndexData, settings: Settings, note_hashes: dict[str, str]) -> str | None:
    """Why `data` no longer fits the settings and notes, or None when it does."""
    manifest = data.manifest
    if manifest.get("format") != FORMAT:
        return "index format changed"
    if manifest.get("chunker") != _chunker_json(settings):
        return "chunker settings changed"
    missing = [m for m in settings.indexed_models if m not in manifest["models"]]
    if missing:
        return f"index has no vectors for model {missing[0]}"
    if manifest["files"] != note_hashes:
        changed = sorted(set(manifest["files"].items()) ^ set(note_hashes.items()))
        return f"notes changed ({changed[0][0]})"
    return None


def _chunker_json(settings: Settings) -> dict:
    return {"max_tokens": settings.max_tokens, "skip_sections": list(settings.skip_sections),
            "lexical_version": LEXICAL_VERSION, "units_version": UNITS_VERSION}


def _write_lexical(chunk_tokens: list[list[str]], staging: Path, progress: Progress) -> dict:
    """Build the chunks' BM25 index into the staging folder; returns its manifest entry."""
    return BM25.fit(chunk_tokens, progress).save(staging)


def _load_lexical(folder: Path, manifest: dict, chunk_tokens: list[list[str]]) -> BM25:
    """The generation's BM25 index, memory-mapped; a format-1 generation (none saved) gets one built in memory."""
    if "lexical" not in manifest:  # stale by its format, so rebuilt next; until then it still answers
        return BM25.fit(chunk_tokens)
    lexical = BM25.load(folder)
    if lexical.documents != len(chunk_tokens):
        raise IndexCorrupt(f"the BM25 index in {folder} does not match the chunk list; rebuilding")
    return lexical


def _old_vectors(previous: IndexData | None, model_id: str, dim: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Vectors of the previous generation by text hash, for one model."""
    if previous is None or model_id not in previous.chunk_vectors:
        return {}, {}
    if previous.manifest["models"][model_id]["dim"] != dim:
        return {}, {}
    chunk_index, unit_index = previous.chunk_vectors[model_id], previous.unit_vectors[model_id]
    chunk_rows = chunk_index.reconstruct_n(0, chunk_index.ntotal) if chunk_index.ntotal else np.zeros((0, dim))
    unit_rows = unit_index.reconstruct_n(0, unit_index.ntotal) if unit_index.ntotal else np.zeros((0, dim))
    chunks = {_text_key(chunk_embed_text(c)): chunk_rows[i] for i, c in enumerate(previous.chunks)}
    units = {
        _text_key(unit_embed_text(u, previous.chunk_by_id[u.chunk_id])): unit_rows[i]
        for i, u in enumerate(previous.units)
    }
    return chunks, units


def _embed_all(texts: list[str], embedder: Embedder, reuse: dict[str, np.ndarray], label: str,
               progress: Progress) -> tuple[np.ndarray, int]:
    """Vectors for `texts`, reusing known ones; returns them and the count embedded."""
    keys = [_text_key(t) for t in texts]
    todo = [i for i, k in enumerate(keys) if k not in reuse]
    rows = np.zeros((len(texts), embedder.dim), np.float32)
    for i, k in enumerate(keys):
        if k in reuse:
            rows[i] = reuse[k]
    progress(0, len(todo), label)
    batches = [todo[start:start + EMBED_BATCH] for start in range(0, len(todo), EMBED_BATCH)]
    done = 0
    # batches run on every core: e5 keeps one engine per core, and both release the GIL while encoding
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for batch, vectors in zip(batches, pool.map(lambda b: embedder.encode([texts[i] for i in b]), batches)):
            rows[batch] = vectors
            done += len(batch)
            progress(done, len(todo), label)
    return rows, len(todo)


def _write_faiss(rows: np.ndarray, path: Path) -> str:
    """Write an index whose type follows the row count; returns the type name."""
    index, kind = build_vector_index(rows)
    faiss.write_index(index, str(path))
    return kind


def build(settings: Settings, embedders: dict[str, Embedder], previous: IndexData | None = None,
          reason: str = "first build", progress: Progress = silent) -> BuildReport:
    """Write a new generation for the current notes and switch `CURRENT` to it."""
    started = time.monotonic()
    chunks, note_hashes = load_corpus(settings.corpus_dir, settings.chunker)
    chunk_by_id = {c.chunk_id: c for c in chunks}
    units = [u for c in chunks for u in units_of(c)]
    index_dir = settings.index_dir
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        generation = _next_generation(index_dir)
        staging = index_dir / f".staging-{generation}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as err:
        raise IndexUnwritable(
            f"cannot write the index folder {index_dir}/ ({err.strerror}); free disk space or make it writable"
        ) from None

    old_chunk_tokens, old_unit_tokens = {}, {}
    if previous is not None and previous.manifest.get("chunker") == _chunker_json(settings):
        old_chunk_tokens = {chunk_lexical_text(c): t for c, t in zip(previous.chunks, previous.chunk_tokens)}
        old_unit_tokens = {u.text: t for u, t in zip(previous.units, previous.unit_tokens)}
    progress(0, len(chunks), "tokenising notes")
    chunk_tokens = []
    for i, c in enumerate(chunks):
        text = chunk_lexical_text(c)
        chunk_tokens.append(old_chunk_tokens[text] if text in old_chunk_tokens else tokenize(text))
        progress(i + 1, len(chunks), "tokenising notes")
    unit_tokens = [old_unit_tokens[u.text] if u.text in old_unit_tokens else tokenize(u.text) for u in units]

    try:
        with (staging / "chunks.jsonl").open("w", encoding="utf-8") as out:
            for chunk, tokens in zip(chunks, chunk_tokens):
                row = {"chunk": {**chunk.__dict__, "heading_path": list(chunk.heading_path)}, "tokens": tokens}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        with (staging / "units.jsonl").open("w", encoding="utf-8") as out:
            for unit, tokens in zip(units, unit_tokens):
                out.write(json.dumps({"chunk_id": unit.chunk_id, "line": unit.line, "text": unit.text,
                                      "tokens": tokens}, ensure_ascii=False) + "\n")
        lexical = _write_lexical(chunk_tokens, staging, progress)
        models: dict[str, dict] = {}
        embedded = reused = 0
        for model_id in settings.indexed_models:
            embedder = embedders[model_id]
            old_chunks, old_units = _old_vectors(previous, model_id, embedder.dim)
            chunk_rows, n1 = _embed_all([chunk_embed_text(c) for c in chunks], embedder, old_chunks,
                                        f"embedding chunks ({model_id})", progress)
            unit_rows, n2 = _embed_all([unit_embed_text(u, chunk_by_id[u.chunk_id]) for u in units], embedder,
                                       old_units, f"embedding sentences ({model_id})", progress)
            embedded += n1 + n2
            reused += len(chunks) + len(units) - n1 - n2
            slug = model_slug(model_id)
            chunk_kind = _write_faiss(chunk_rows, staging / f"{slug}.chunks.faiss")
            unit_kind = _write_faiss(unit_rows, staging / f"{slug}.units.faiss")
            models[model_id] = {"dim": embedder.dim, "chunks_file": f"{slug}.chunks.faiss",
                                "units_file": f"{slug}.units.faiss", "index_type": chunk_kind,
                                "units_index_type": unit_kind}
        artifacts = {p.name: _sha256(p) for p in sorted(staging.iterdir())}
        manifest = {
            "format": FORMAT,
            "generation": generation,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "chunker": _chunker_json(settings),
            "files": note_hashes,
            "models": models,
            "lexical": lexical,
            "counts": {"chunks": len(chunks), "units": len(units)},
            "artifacts": artifacts,
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        for path in staging.iterdir():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        os.replace(staging, index_dir / generation)
        pointer_tmp = index_dir / f".CURRENT.{os.getpid()}"
        pointer_tmp.write_text(generation + "\n", encoding="utf-8")
        os.replace(pointer_tmp, index_dir / "CURRENT")
    except (OSError, RuntimeError) as err:  # faiss reports write failures (disk full) as RuntimeError
        shutil.rmtree(staging, ignore_errors=True)
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err).strip().splitlines()[-1]
        raise IndexUnwritable(
            f"cannot write the index folder {index_dir}/ ({reason}); free disk space or make it writable"
        ) from None
    _remove_old_generations(index_dir, keep=generation)
    return BuildReport(generation, len(chunks), len(units), embedded, reused, time.monotonic() - started, reason)


def _next_generation(index_dir: Path) -> str:
    numbers = [int(p.name[4:]) for p in index_dir.glob("gen-*") if re.fullmatch(r"gen-\d{6}", p.name)]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def _remove_old_generations(index_dir: Path, keep: str) -> None:
    """Delete generations other than `keep` and the one before it, and stale staging folders."""
    generations = sorted(p for p in index_dir.glob("gen-*") if p.is_dir())
    for path in generations[:-2]:
        if path.name != keep:
            shutil.rmtree(path, ignore_errors=True)
    for path in index_dir.glob(".staging-*"):
        if not str(os.getpid()) in path.name:
            shutil.rmtree(path, ignore_errors=True)
