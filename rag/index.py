"""The on-disk index: chunks, sentences, FAISS vectors per model, and a manifest.

Layout of `index/`:

    CURRENT                 names the live generation, e.g. `gen-000003`
    gen-000003/
        manifest.json       model ids and dims, chunker settings, note hashes, artifact checksums
        chunks.jsonl        one chunk per line (without its text), with its BM25 tokens
        texts.bin, offsets.u64, store.json   the chunk texts (rag.vectorstore.ChunkTextStore, read through mmap)
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

The manifest checks itself: it carries the SHA-256 of its own content
(`manifest_sha256`), every file of the generation must have a checksum
entry, and each vector file's dimension and row count must match the
manifest, the chunk and sentence counts, and (in `staleness`) the model.
Any mismatch is damage, and damage means a rebuild.

Between processes (two `rag index`, or the CLI and the page's re-index):
- builders take an exclusive `fcntl.flock` on `index/.build.lock` for the
  whole build. A second builder says that it waits, waits, and then builds
  only if the first one's generation does not already fit the notes. So two
  builds never run at once: generation names cannot collide, and every
  `.staging-*` folder another builder left is one a dead builder left.
- readers take a shared `flock` on the `manifest.json` of the generation
  they load and hold it as long as the loaded index lives (the lock goes
  with its file descriptor, also when the process dies). Cleanup keeps the
  newest two generations and deletes an older one only when it gets the
  exclusive lock on that manifest without waiting, so a generation a
  running reader holds is never deleted under it. A reader that finds its
  generation gone between reading `CURRENT` and locking reads `CURRENT`
  again.
- a build that fails for lack of space (or any write error) is remembered
  in `index/.failed-build.json` with the notes' hash and the free space it
  lacked; until the notes change, the disk gains that space or `rag index`
  runs, questions are answered at once from the last good generation and
  marked stale, instead of re-embedding for a build that will fail again.

Before the first generation exists, `provisional()` builds the notes' chunks,
sentences and BM25 index in memory in seconds, with no vector files, so the
page can answer (BM25 alone, sentence vectors encoded on demand) while the
build runs; the build's batches yield to those answers (`FOREGROUND`).

The BM25 index is rebuilt whole from the chunks' tokens (reused from the
previous generation when unchanged) for every generation: bm25s cannot
update one in place, and a rebuild is cheap (docs/benchmarks.md, "Scale").
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import faiss
import numpy as np

from rag.embed import Embedder
from rag.lexical import BM25, glossary, lexical_signature, tokenize
from rag.notes import UNITS_VERSION, Unit, load_corpus, note_hashes, units_of
from rag.progress import Progress, silent
from rag.settings import Settings
from rag.vectorstore import STORE_DATA, STORE_MANIFEST, STORE_OFFSETS, ChunkTextStore, VectorIndex, build_vector_index
from rag.types import Chunk

FORMAT = 3  # 2: the BM25 index is saved in the generation; 3: chunk texts live in a ChunkTextStore
EMBED_BATCH = 32
MANIFEST_KEYS = ("format", "generation", "chunker", "files", "models", "counts", "artifacts", "manifest_sha256")
BUILD_LOCK = ".build.lock"
FAILED_BUILD = ".failed-build.json"
PROVISIONAL = "빠른 검색"  # the generation name of the in-memory, BM25-only index served while the first one is built
READ_ATTEMPTS = 5  # CURRENT re-read this often when its generation vanishes before the reader locks it


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
    chunk_vectors: dict[str, VectorIndex] = field(default_factory=dict)  # FAISS today; any VectorIndex adapter
    unit_vectors: dict[str, VectorIndex] = field(default_factory=dict)
    lexical: BM25 | None = None
    # a provisional index (`provisional()`) has no vector files: sentence vectors of these models are encoded on demand
    encoders: dict[str, Embedder] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.chunk_by_id = {c.chunk_id: c for c in self.chunks}
        self.chunk_position = {c.chunk_id: i for i, c in enumerate(self.chunks)}  # rows of chunk_tokens, vectors
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
        self._encoded: dict[str, dict[int, np.ndarray]] = {}
        self._encoding = threading.Lock()

    @property
    def provisional(self) -> bool:
        """Built in memory by `provisional()` while the first index is built: BM25 only, no dense search."""
        return self.manifest["generation"] == PROVISIONAL

    def unit_rows(self, model_id: str, ids: Sequence[int]) -> np.ndarray:
        """Sentence vectors of one model for the units `ids`, one row per id in that order."""
        if model_id in self.unit_vectors:
            return self.unit_matrix(model_id)[list(ids)]
        return self._encoded_rows(model_id, list(ids))

    def unit_matrix(self, model_id: str) -> np.ndarray:
        """All sentence vectors of one model as a matrix (rows follow `units`)."""
        if model_id not in self._unit_matrices:
            index = self.unit_vectors[model_id]
            self._unit_matrices[model_id] = (
                index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
            )
        return self._unit_matrices[model_id]

    def _encoded_rows(self, model_id: str, ids: list[int]) -> np.ndarray:
        """A provisional index's sentence vectors: encoded once, on first use, with the model the build uses."""
        embedder = self.encoders[model_id]
        with self._encoding:
            known = self._encoded.setdefault(model_id, {})
            todo = [i for i in dict.fromkeys(ids) if i not in known]
            if todo:
                texts = [unit_embed_text(self.units[i], self.chunk_by_id[self.units[i].chunk_id]) for i in todo]
                known.update(zip(todo, embedder.encode(texts)))
        return np.stack([known[i] for i in ids]) if ids else np.zeros((0, embedder.dim), np.float32)


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
    """Load and verify the live generation, holding a reader's lock on it; damage raises IndexCorrupt."""
    folder, reader_lock = _hold_live_generation(index_dir)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        _check_manifest(folder, manifest)
        chunk_rows = [json.loads(line) for line in (folder / "chunks.jsonl").open(encoding="utf-8")]
        with ChunkTextStore.open(folder) as texts:
            if len(texts) != len(chunk_rows):
                raise IndexCorrupt(f"text store in {folder} holds {len(texts)} texts for {len(chunk_rows)} chunks; "
                                   "rebuilding")
            chunk_texts = [texts[i] for i in range(len(texts))]
        unit_rows = [json.loads(line) for line in (folder / "units.jsonl").open(encoding="utf-8")]
        data = IndexData(
            folder=folder,
            manifest=manifest,
            chunks=[Chunk(**{**r["chunk"], "heading_path": tuple(r["chunk"]["heading_path"]), "text": text})
                    for r, text in zip(chunk_rows, chunk_texts)],
            chunk_tokens=[r["tokens"] for r in chunk_rows],
            units=[Unit(r["chunk_id"], r["line"], r["text"]) for r in unit_rows],
            unit_tokens=[r["tokens"] for r in unit_rows],
        )
        for model_id, info in manifest["models"].items():
            data.chunk_vectors[model_id] = faiss.read_index(str(folder / info["chunks_file"]))
            data.unit_vectors[model_id] = faiss.read_index(str(folder / info["units_file"]))
        _check_vectors(data)
        data.lexical = _load_lexical(folder, manifest, data.chunk_tokens)
    except IndexCorrupt:
        os.close(reader_lock)
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as err:
        os.close(reader_lock)
        raise IndexCorrupt(f"index in {folder} is damaged ({type(err).__name__}); rebuilding") from None
    weakref.finalize(data, os.close, reader_lock)  # the generation stays held while `data` lives
    return data


def _hold_live_generation(index_dir: Path) -> tuple[Path, int]:
    """The live generation's folder and a descriptor holding a shared lock on its manifest."""
    for _ in range(READ_ATTEMPTS):
        folder = current_generation(index_dir)
        manifest = folder / "manifest.json"
        try:
            fd = os.open(manifest, os.O_RDONLY)
        except FileNotFoundError:
            if current_generation(index_dir) == folder:  # not swapped out: the generation lost its manifest
                raise IndexCorrupt(f"index manifest {manifest} is missing; rebuilding") from None
            continue
        except OSError as err:
            raise IndexCorrupt(f"index manifest {manifest} cannot be read ({err.strerror}); rebuilding") from None
        fcntl.flock(fd, fcntl.LOCK_SH)
        if manifest.exists():  # a cleanup that deleted it held the exclusive lock until it was gone
            return folder, fd
        os.close(fd)
    raise IndexCorrupt(f"{index_dir}/CURRENT kept naming generations that were being deleted; rebuilding")


def manifest_checksum(manifest: dict) -> str:
    """SHA-256 of the manifest's content without its own checksum field."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def _check_manifest(folder: Path, manifest) -> None:
    """The manifest is whole and checks itself, and every file of the generation matches its checksum entry."""
    where = folder / "manifest.json"
    if not isinstance(manifest, dict):
        raise IndexCorrupt(f"index manifest {where} is not a JSON object; rebuilding")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise IndexCorrupt(f"index manifest {where} lacks {missing[0]!r}; rebuilding")
    if manifest_checksum(manifest) != manifest["manifest_sha256"]:
        raise IndexCorrupt(f"index manifest {where} fails its own checksum; rebuilding")
    listed = manifest["artifacts"]
    needed = {"chunks.jsonl", "units.jsonl", STORE_DATA, STORE_OFFSETS, STORE_MANIFEST} | {info[key] for info in manifest["models"].values()
                                                for key in ("chunks_file", "units_file")}
    present = {p.name for p in folder.iterdir()} - {"manifest.json"}
    unlisted = sorted((needed | present) - set(listed))
    if unlisted:
        raise IndexCorrupt(f"index file {folder / unlisted[0]} has no checksum in the manifest; rebuilding")
    for name, digest in listed.items():
        if _sha256(folder / name) != digest:
            raise IndexCorrupt(f"index file {folder / name} fails its checksum; rebuilding")


def _check_vectors(data: IndexData) -> None:
    """Each model's vector files have the manifest's dimension and one row per chunk and per sentence."""
    counts = data.manifest["counts"]
    if (counts["chunks"], counts["units"]) != (len(data.chunks), len(data.units)):
        raise IndexCorrupt(f"index in {data.folder} lists {counts} but holds {len(data.chunks)} chunks and "
                           f"{len(data.units)} sentences; rebuilding")
    for model_id, info in data.manifest["models"].items():
        for kind, index, rows in (("chunks_file", data.chunk_vectors[model_id], len(data.chunks)),
                                  ("units_file", data.unit_vectors[model_id], len(data.units))):
            if index.d != info["dim"] or index.ntotal != rows:
                raise IndexCorrupt(f"index file {data.folder / info[kind]} holds {index.ntotal} vectors of "
                                   f"dimension {index.d}, not {rows} of {info['dim']} for {model_id}; rebuilding")


def staleness(data: IndexData, settings: Settings, note_hashes: dict[str, str],
              embedders: dict[str, Embedder]) -> str | None:
    """Why `data` no longer fits the settings, models and notes, or None when it does."""
    manifest = data.manifest
    if manifest.get("format") != FORMAT:
        return "index format changed"
    if manifest.get("chunker") != _chunker_json(settings):
        return "chunker settings changed"
    missing = [m for m in settings.indexed_models if m not in manifest["models"]]
    if missing:
        return f"index has no vectors for model {missing[0]}"
    for model_id in settings.indexed_models:
        if manifest["models"][model_id]["dim"] != embedders[model_id].dim:
            return (f"index vectors for {model_id} have dimension {manifest['models'][model_id]['dim']}, "
                    f"the model gives {embedders[model_id].dim}")
    if manifest["files"] != note_hashes:
        changed = sorted(set(manifest["files"].items()) ^ set(note_hashes.items()))
        return f"notes changed ({changed[0][0]})"
    return None


def _chunker_json(settings: Settings) -> dict:
    return {"max_tokens": settings.max_tokens, "skip_sections": list(settings.skip_sections),
            "lexical_version": lexical_signature(), "units_version": UNITS_VERSION}


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
    """Vectors of the previous generation by text hash, for one model. A generation built with another
    `UNITS_VERSION` read other texts (`unit_embed_text` may have changed), so none of its vectors is reused."""
    if previous is None or model_id not in previous.chunk_vectors:
        return {}, {}
    if previous.manifest.get("chunker", {}).get("units_version") != UNITS_VERSION:
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


class Foreground:
    """Questions asked while an index is built come first: the build's batches wait while one is answered."""

    def __init__(self) -> None:
        self._answering = 0
        self._changed = threading.Condition()

    @contextmanager
    def answering(self) -> Iterator[None]:
        with self._changed:
            self._answering += 1
        try:
            yield
        finally:
            with self._changed:
                self._answering -= 1
                self._changed.notify_all()

    def wait(self) -> None:
        """Return once no question is being answered."""
        with self._changed:
            self._changed.wait_for(lambda: self._answering == 0)


FOREGROUND = Foreground()


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

    def encode(batch: list[int]) -> np.ndarray:
        FOREGROUND.wait()  # a provisional answer gets the cores and the model engines first
        return embedder.encode([texts[i] for i in batch])

    # batches run on every core: e5 keeps one engine per core, and both release the GIL while encoding
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for batch, vectors in zip(batches, pool.map(encode, batches)):
            rows[batch] = vectors
            done += len(batch)
            progress(done, len(todo), label)
    return rows, len(todo)


def _write_faiss(rows: np.ndarray, path: Path) -> str:
    """Write an index whose type follows the row count; returns the type name."""
    index, kind = build_vector_index(rows)
    faiss.write_index(index, str(path))
    return kind


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def build(settings: Settings, embedders: dict[str, Embedder], previous: IndexData | None = None,
          reason: str = "first build", progress: Progress = silent, log: Callable[[str], None] = _stderr,
          force: bool = False) -> BuildReport:
    """Write a new generation for the current notes and switch `CURRENT` to it, one builder at a time.

    A builder that had to wait for another one reports the other's generation instead when it fits the
    notes, settings and models (unless `force`).
    """
    with build_lock(settings.index_dir, log) as waited:
        built = None if force or not waited else _built_while_waiting(settings, embedders)
        return built or _build(settings, embedders, previous, reason, progress)


@contextmanager
def build_lock(index_dir: Path, log: Callable[[str], None]) -> Iterator[bool]:
    """Hold the index folder's builder lock; yields whether another builder had to be waited for."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(index_dir / BUILD_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise _unwritable(index_dir, err.strerror) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            holder = os.pread(fd, 16, 0).decode("ascii", "replace").strip() or "?"
            log(f"index: another process (pid {holder}) is building {index_dir}/; waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
            waited = True
        try:  # the holder's pid, for the message above; a full disk may refuse even this
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:
            pass
        yield waited
    finally:
        os.close(fd)


def provisional(settings: Settings, embedders: dict[str, Embedder], progress: Progress = silent) -> IndexData:
    """The notes' chunks, sentences and BM25 index in memory, for answering while the first index is built.

    It has no vector files: retrieval is BM25 alone, and the composer's sentence vectors are encoded on demand
    with `embedders`, a few dozen per question. Passed to `build` as the previous index, it lends its tokens.
    """
    chunks, note_hashes = load_corpus(settings.corpus_dir, settings.chunker)
    units = [u for c in chunks for u in units_of(c)]
    chunk_tokens, unit_tokens = _tokens(chunks, units, None, settings, progress)
    manifest = {"generation": PROVISIONAL, "built_at": "", "chunker": _chunker_json(settings), "files": note_hashes,
                "models": {}, "counts": {"chunks": len(chunks), "units": len(units)}}
    return IndexData(folder=settings.index_dir, manifest=manifest, chunks=chunks, chunk_tokens=chunk_tokens,
                     units=units, unit_tokens=unit_tokens, lexical=BM25.fit(chunk_tokens), encoders=dict(embedders))


def _tokens(chunks: list[Chunk], units: list[Unit], previous: IndexData | None, settings: Settings,
            progress: Progress) -> tuple[list[list[str]], list[list[str]]]:
    """BM25 tokens of every chunk and sentence, reused from `previous` where the text and the chunker are the same."""
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
    return chunk_tokens, unit_tokens


def _built_while_waiting(settings: Settings, embedders: dict[str, Embedder]) -> BuildReport | None:
    """The generation the builder waited for, when it already fits the notes, settings and models."""
    started = time.monotonic()
    hashes = note_hashes(settings.corpus_dir)
    try:
        data = load(settings.index_dir)
    except IndexError_:
        return None
    if staleness(data, settings, hashes, embedders) is not None:
        return None
    return BuildReport(data.manifest["generation"], len(data.chunks), len(data.units), 0, len(data.chunks) +
                       len(data.units), time.monotonic() - started, "built by another process while this one waited")


def _unwritable(index_dir: Path, reason: str) -> IndexUnwritable:
    return IndexUnwritable(f"cannot write the index folder {index_dir}/ ({reason}); free disk space or make it writable")


def _build(settings: Settings, embedders: dict[str, Embedder], previous: IndexData | None,
           reason: str, progress: Progress) -> BuildReport:
    """Write a new generation (the caller holds the builder lock)."""
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
        raise _unwritable(index_dir, err.strerror) from None

    chunk_tokens, unit_tokens = _tokens(chunks, units, previous, settings, progress)

    try:
        with (staging / "chunks.jsonl").open("w", encoding="utf-8") as out:
            for chunk, tokens in zip(chunks, chunk_tokens):
                fields = {k: v for k, v in chunk.__dict__.items() if k != "text"}  # texts go to the text store
                row = {"chunk": {**fields, "heading_path": list(chunk.heading_path)}, "tokens": tokens}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        ChunkTextStore.write((chunk.text for chunk in chunks), staging).close()
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
        manifest["manifest_sha256"] = manifest_checksum(manifest)
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
        reason = err.strerror if isinstance(err, OSError) and err.strerror else _faiss_reason(str(err))
        remember_failed_build(settings, note_hashes, reason)
        raise _unwritable(index_dir, reason) from None
    (index_dir / FAILED_BUILD).unlink(missing_ok=True)
    _remove_old_generations(index_dir, keep=generation)
    return BuildReport(generation, len(chunks), len(units), embedded, reused, time.monotonic() - started, reason)


def _faiss_reason(message: str) -> str:
    """The OS reason FAISS puts in brackets at the end of a write error ('... (No space left on device)')."""
    last = message.strip().splitlines()[-1] if message.strip() else "write failed"
    found = re.search(r"\(([^()]+)\)$", last)
    return found.group(1) if found else last


def _next_generation(index_dir: Path) -> str:
    numbers = [int(p.name[4:]) for p in index_dir.glob("gen-*") if re.fullmatch(r"gen-\d{6}", p.name)]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def _remove_old_generations(index_dir: Path, keep: str) -> None:
    """Delete generations older than `keep` and the one before it that no reader holds, and dead builders' staging.

    The caller holds the builder lock, so every `.staging-*` folder left is one a killed builder left.
    """
    generations = sorted(p for p in index_dir.glob("gen-*") if p.is_dir() and p.name != keep)
    for path in generations[:-1]:
        _remove_unless_held(path)
    for path in index_dir.glob(".staging-*"):
        shutil.rmtree(path, ignore_errors=True)


def _remove_unless_held(generation: Path) -> None:
    """Delete a generation folder unless a reader holds its manifest's shared lock."""
    try:
        fd = os.open(generation / "manifest.json", os.O_RDONLY)
    except OSError:  # no manifest: nobody can have loaded it
        shutil.rmtree(generation, ignore_errors=True)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        shutil.rmtree(generation, ignore_errors=True)  # deleted while holding the lock, see _hold_live_generation
    except BlockingIOError:
        pass  # a running reader holds it; a later build deletes it
    finally:
        os.close(fd)


# ---- failed builds --------------------------------------------------------------------------

def _build_key(settings: Settings, note_hashes: dict[str, str]) -> str:
    """What a build is for: the notes' contents, the chunker settings and the models."""
    key = [note_hashes, _chunker_json(settings), list(settings.indexed_models)]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def remember_failed_build(settings: Settings, note_hashes: dict[str, str], reason: str) -> None:
    """Note that building these notes failed, and how much free space a retry should wait for."""
    index_dir = settings.index_dir
    try:
        needed = _folder_bytes(current_generation(index_dir))  # a new generation is about as big as the last
    except IndexError_:
        needed = 0
    try:
        record = {"key": _build_key(settings, note_hashes), "reason": reason,
                  "retry_when_free_bytes": shutil.disk_usage(index_dir).free + needed,
                  "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (index_dir / FAILED_BUILD).write_text(json.dumps(record) + "\n", encoding="utf-8")
    except OSError:
        pass  # a disk too full or read-only for this small file: the next run tries the build again


def failed_build(settings: Settings, note_hashes: dict[str, str]) -> str | None:
    """Why the last build of these notes failed, while a retry would fail the same way; None otherwise."""
    try:
        record = json.loads((settings.index_dir / FAILED_BUILD).read_text(encoding="utf-8"))
        if record["key"] != _build_key(settings, note_hashes):
            return None
        if shutil.disk_usage(settings.index_dir).free >= record["retry_when_free_bytes"]:
            return None
        return str(record["reason"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
