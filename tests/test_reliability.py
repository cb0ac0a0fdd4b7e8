"""Reliability and security: damaged indexes, killed builds, untouched notes, no pickle, no network.

Each test states one promise from docs/reliability.md and checks it on the
fixture notes with the fast `hash` embedder:

- a truncated, flipped or deleted index file is detected on the next command,
  reported in one line and rebuilt, and the answer equals the undamaged one;
- `rag index` killed with SIGKILL at seeded points of a build leaves the
  previous index loadable and answering, and the next run completes;
- the notes folder is byte-for-byte the same after every command;
- index loading never unpickles anything;
- an index folder that cannot be written gives an error naming the folder
  and the fix, and an up-to-date index still answers;
- `ask`, `search`, `batch` and `eval` open no socket at all.

Core bugs these tests found were fixed in rag/ (commit 7f5b2d2); the tests
that pinned them now guard against their return.
"""
from __future__ import annotations

import ast
import errno
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tokenize
from dataclasses import fields
from pathlib import Path

import pytest
from conftest import make_settings

from rag import index as store
from rag.cli import main
from rag.engine import Assistant
from rag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
QUESTION = "EC2 분산 배치 그룹은 AZ 당 몇 개의 인스턴스로 제한되나요?"
EDIT = "\n## 분산 배치 그룹 한도\n분산 배치 그룹은 AZ 당 몇 개의 인스턴스로 제한되나요? 7개로 제한된다.\n"
SEED = 20240607


# ---- helpers -----------------------------------------------------------------------------

def hash_config(folder: Path) -> Path:
    """A settings file for hash-only runs (no option model to load)."""
    path = folder / "rag.toml"
    lines = ['embedders = ["hash"]']
    if "option_embedder" in {f.name for f in fields(Settings)}:
        lines.append('option_embedder = ""')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli_args(corpus: Path, index: Path) -> list[str]:
    return ["--config", str(hash_config(corpus.parent)), "--corpus", str(corpus), "--index", str(index),
            "--embedders", "hash"]


def run_cli(capsys, corpus: Path, index: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(cli_args(corpus, index) + list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def answer_json(out: str) -> dict:
    """An answer's JSON without what legitimately differs between runs: timings and the generation's name."""
    data = json.loads(out)
    data.pop("timings_ms", None)
    data.pop("generation", None)  # a rebuild names a new generation; the answer itself must not change
    return data


def log_lines(stderr: str) -> list[str]:
    """The stderr lines that are messages (not progress bar redraws)."""
    return [line for line in stderr.splitlines() if line.startswith(("index:", "rag:", "errata:"))]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def restore(folder: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def hits_of(assistant: Assistant, question: str = QUESTION) -> list[tuple[str, float]]:
    return [(h.chunk.chunk_id, round(float(h.score), 6)) for h in assistant.search(question)]


def hash_settings(root: Path, corpus: Path) -> Settings:
    changes = {"option_embedder": ""} if "option_embedder" in {f.name for f in fields(Settings)} else {}
    return make_settings(root, corpus, **changes)


@pytest.fixture
def built(tmp_path, notes_dir, capsys):
    """Fixture notes indexed through the CLI, with the undamaged answer and index bytes."""
    index = tmp_path / "index"
    rc, _, _ = run_cli(capsys, notes_dir, index, "index")
    assert rc == 0
    rc, out, err = run_cli(capsys, notes_dir, index, "ask", QUESTION, "--json", "--mode", "qa")
    assert rc == 0 and log_lines(err) == []
    return {"corpus": notes_dir, "index": index, "answer": answer_json(out), "pristine": snapshot(index),
            "generation": store.current_generation(index).name}


# ---- 2. corruption -----------------------------------------------------------------------

def _damages(name: str, data: bytes, rng: random.Random) -> list[tuple[str, bytes | None]]:
    """Damaged versions of one file: truncations, byte flips at fixed and seeded spots, deletion."""
    out: list[tuple[str, bytes | None]] = [("deleted", None), ("emptied", b"")]
    if len(data) > 1:
        out.append(("truncated to half", data[: len(data) // 2]))
        out.append(("last byte cut", data[:-1]))
    spots = {0, len(data) // 2, len(data) - 1} | {rng.randrange(len(data)) for _ in range(3)}
    if name == "manifest.json":
        spots |= set(_manifest_key_spots(data))
    for spot in sorted(spots):
        flipped = bytearray(data)
        flipped[spot] ^= 0xFF if rng.random() < 0.5 else 0x01
        out.append((f"byte {spot} flipped", bytes(flipped)))
    return out


def _manifest_key_spots(data: bytes) -> list[int]:
    """The first letter of every top-level manifest key: a flip there renames the key."""
    return [m.start() + 1 for m in re.finditer(rb'^ "[a-z_]+":', data, re.MULTILINE)]


def test_every_damaged_index_file_is_detected_reported_in_one_line_and_rebuilt(built, capsys):
    corpus, index, pristine = built["corpus"], built["index"], built["pristine"]
    rng = random.Random(SEED)
    generation = built["generation"]
    targets = sorted(name for name in pristine if name.startswith(generation + "/")) + ["CURRENT"]
    assert len(targets) >= 5, targets
    cases, silent = 0, []
    for target in targets:
        for label, damaged in _damages(Path(target).name, pristine[target], rng):
            restore(index, pristine)
            if damaged is None:
                (index / target).unlink()
            else:
                (index / target).write_bytes(damaged)
            rc, out, err = run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
            where = f"{target}, {label}"
            assert rc == 0, f"{where}: exit {rc}, stderr {err!r}"
            assert "Traceback" not in err, where
            assert answer_json(out) == built["answer"], f"{where}: answer differs from the undamaged index"
            messages = log_lines(err)
            if not messages and Path(target).name in ("manifest.json", "CURRENT"):
                # a flip in a field no reader uses (built_at, counts, index_type, trailing newline) goes
                # unnoticed; the answer above is still the undamaged one
                silent.append(where)
                cases += 1
                continue
            assert len(messages) == 2, f"{where}: expected one damage line and one 'ready' line, got {messages}"
            assert re.search(r"rebuild|updating|damaged|checksum|missing", messages[0]), f"{where}: {messages[0]}"
            assert "ready" in messages[1], f"{where}: {messages}"
            assert store.current_generation(index).name != generation, f"{where}: not rebuilt"
            store.load(index)  # the new generation verifies
            cases += 1
    print(f"corruption cases: {cases}; harmless flips not noticed: {silent}")
    assert cases >= 40


def test_loading_a_damaged_generation_raises_index_corrupt(built):
    index, pristine, generation = built["index"], built["pristine"], built["generation"]
    for target in sorted(name for name in pristine if name.startswith(generation + "/") and
                         not name.endswith("manifest.json")):
        restore(index, pristine)
        data = bytearray(pristine[target])
        data[len(data) // 2] ^= 0x55
        (index / target).write_bytes(bytes(data))
        with pytest.raises(store.IndexCorrupt, match="checksum|damaged"):
            store.load(index)


def test_damaged_index_through_the_real_command_prints_no_traceback(built):
    corpus, index, generation = built["corpus"], built["index"], built["generation"]
    faiss_file = next(index.glob(f"{generation}/*.faiss"))
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    proc = subprocess.run([sys.executable, "-m", "rag", *cli_args(corpus, index), "ask", QUESTION, "--json",
                           "--mode", "qa"], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert [line for line in log_lines(proc.stderr) if "checksum" in line or "damaged" in line] == [
        f"index: index file {index / generation / faiss_file.name} fails its checksum; rebuilding"]
    assert answer_json(proc.stdout) == built["answer"]


@pytest.mark.parametrize("key", ["files", "generation"])
def test_flipped_manifest_key_is_detected_and_rebuilt(built, capsys, key):
    corpus, index, generation = built["corpus"], built["index"], built["generation"]
    manifest = index / generation / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(f'"{key}"'.encode(), f'"{key.upper()}"'.encode(), 1))
    rc, out, err = run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
    assert rc == 0 and answer_json(out) == built["answer"]


def test_current_with_a_non_utf8_byte_is_detected_and_rebuilt(built, capsys):
    corpus, index = built["corpus"], built["index"]
    pointer = index / "CURRENT"
    pointer.write_bytes(pointer.read_bytes().rstrip(b"\n") + b"\xf5")
    rc, out, err = run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
    assert rc == 0 and answer_json(out) == built["answer"]


# ---- 1. crash safety ---------------------------------------------------------------------

KILL_RUNNER = r'''
"""Run the rag CLI; SIGKILL this process at the RAG_KILL_AT-th file or progress event of the build."""
import io, os, shutil, signal, sys

import faiss
import rag.index
import rag.progress
from rag.cli import main

kill_at = int(os.environ.get("RAG_KILL_AT", "0"))
labels = []
armed = False


def tick(label):
    if not armed:
        return
    labels.append(label)
    if len(labels) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)


def hook(module, name):
    real = getattr(module, name)

    def wrapped(*args, **kwargs):
        tick(name)
        result = real(*args, **kwargs)
        tick(name + ":done")
        return result
    setattr(module, name, wrapped)


for name in ("replace", "rename", "fsync", "mkdir", "unlink", "remove"):
    hook(os, name)
hook(shutil, "rmtree")
hook(faiss, "write_index")
real_open = io.open


def opener(file, mode="r", *args, **kwargs):
    writing = any(c in mode for c in "wax+")
    if writing:
        tick("open:" + os.path.basename(str(file)))
    handle = real_open(file, mode, *args, **kwargs)
    if writing:
        tick("opened:" + os.path.basename(str(file)))
    return handle


io.open = opener
real_bar = rag.progress.Bar.__call__


def bar(self, done, total, label):
    tick("progress:" + label)
    return real_bar(self, done, total, label)


rag.progress.Bar.__call__ = bar
real_build = rag.index.build


def build(*args, **kwargs):
    global armed
    armed = True
    try:
        return real_build(*args, **kwargs)
    finally:
        armed = False


rag.index.build = build
code = main(sys.argv[1:])
if os.environ.get("RAG_EVENTS_FILE"):
    with real_open(os.environ["RAG_EVENTS_FILE"], "w") as out:
        out.write("\n".join(labels))
sys.exit(code)
'''


def _run_killed(runner: Path, args: list[str], kill_at: int, events_file: Path | None = None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAG_KILL_AT": str(kill_at)}
    if events_file:
        env["RAG_EVENTS_FILE"] = str(events_file)
    return subprocess.run([sys.executable, str(runner), *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=120)


@pytest.mark.slow  # kills and restarts `rag index` eight times: about 9 s
def test_sigkill_mid_build_keeps_the_previous_index_and_the_next_run_completes(tmp_path, notes_dir, capsys):
    runner = tmp_path / "kill_runner.py"
    runner.write_text(KILL_RUNNER, encoding="utf-8")
    index = tmp_path / "index"
    args = cli_args(notes_dir, index) + ["index"]
    assert main(args) == 0
    old = Assistant(hash_settings(tmp_path / "old", notes_dir), log=lambda m: None)
    old.ensure_index()
    old_hits, old_files = hits_of(old), dict(old.state.data.manifest["files"])
    pristine_index, old_notes = snapshot(index), snapshot(notes_dir)
    with (notes_dir / "aws.md").open("a", encoding="utf-8") as out:
        out.write(EDIT)
    new_notes = snapshot(notes_dir)
    new = Assistant(hash_settings(tmp_path / "new", notes_dir), log=lambda m: None)
    new.ensure_index()
    new_hits, new_files = hits_of(new), dict(new.state.data.manifest["files"])
    assert new_files != old_files and new_hits != old_hits

    started = time.monotonic()
    dry = _run_killed(runner, args, 0, tmp_path / "events.txt")
    duration = time.monotonic() - started
    assert dry.returncode == 0, dry.stderr
    labels = (tmp_path / "events.txt").read_text().splitlines()
    assert any(label.startswith("replace") for label in labels) and len(labels) > 20, labels
    rng = random.Random(SEED)
    critical = [i + 1 for i, label in enumerate(labels) if label.startswith(("replace", "write_index", "rmtree"))]
    points = sorted(set(rng.sample(range(1, len(labels) + 1), 3)) | {critical[0]} | set(critical[-3:]))
    trials = [("event", p) for p in points] + [("timer", round(rng.uniform(0.5, 1.0) * duration, 2))]

    outcomes = []
    for kind, point in trials:
        restore(index, pristine_index)
        restore(notes_dir, new_notes)
        if kind == "event":
            proc = _run_killed(runner, args, point)
            assert proc.returncode == -signal.SIGKILL, f"event {point} ({labels[point - 1]}): {proc.returncode}"
            where = f"killed at event {point} ({labels[point - 1]})"
        else:
            proc = subprocess.Popen([sys.executable, "-m", "rag", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
            time.sleep(point)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            where = f"killed after {point}s (exit {proc.returncode})"
        # the index left behind loads, is whole, and answers like a clean build of the same notes
        data = store.load(index)
        files = data.manifest["files"]
        assert files in (old_files, new_files), where
        probe_root = tmp_path / "probe"
        shutil.rmtree(probe_root, ignore_errors=True)
        shutil.copytree(index, probe_root / "index")
        restore(probe_root / "corpus", old_notes if files == old_files else new_notes)
        probe = Assistant(hash_settings(probe_root, probe_root / "corpus"), log=lambda m: None)
        assert probe.ensure_index() is None, f"{where}: the surviving index was not usable as is"
        assert hits_of(probe) == (old_hits if files == old_files else new_hits), where
        # the next run completes the build and leaves no staging folder behind
        capsys.readouterr()
        assert main(args) == 0, where
        assert store.load(index).manifest["files"] == new_files, where
        assert not list(index.glob(".staging-*")), f"{where}: staging folder left behind"
        outcomes.append("old" if files == old_files else "new")
    assert snapshot(notes_dir) == new_notes
    print(f"crash trials: {len(trials)}, index left live: {outcomes.count('old')} old, {outcomes.count('new')} new")
    assert "old" in outcomes


# ---- 3. notes change while answering -------------------------------------------------------

def test_requests_during_a_reindex_see_either_the_old_or_the_new_index(tmp_path, notes_dir):
    settings = hash_settings(tmp_path, notes_dir)
    assistant = Assistant(settings, log=lambda m: None)
    assistant.ensure_index()
    before = hits_of(assistant)
    edited = tmp_path / "edited"
    shutil.copytree(notes_dir, edited)
    note = edited / "aws.md"
    note.write_text(note.read_text(encoding="utf-8") + EDIT, encoding="utf-8")
    reference = Assistant(hash_settings(tmp_path / "ref", edited), log=lambda m: None)
    reference.ensure_index()
    after = hits_of(reference)
    assert before != after

    seen, errors, stop = [], [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                seen.append(hits_of(assistant))
                assistant.ask(QUESTION, mode="qa")
            except Exception as err:  # any error is a failure
                errors.append(repr(err))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    shutil.copy(note, notes_dir / "aws.md")
    assert assistant.ensure_index() is not None
    time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert {tuple(h) for h in seen} <= {tuple(before), tuple(after)}
    assert tuple(after) in {tuple(h) for h in seen[-4:]}


def test_a_swap_between_retrieval_and_composition_does_not_mix_generations(tmp_path, notes_dir, monkeypatch):
    import rag.engine

    assistant = Assistant(hash_settings(tmp_path, notes_dir), log=lambda m: None)
    assistant.ensure_index()
    old_generation = assistant.state.generation
    used = []
    real_make_retriever = rag.engine.make_retriever

    def make_retriever(data, *args, **kwargs):
        # a re-index lands right when the request builds its retriever
        if not used:
            with (notes_dir / "aws.md").open("a", encoding="utf-8") as out:
                out.write(EDIT)
            assistant.ensure_index()
        used.append(("hits", data.manifest["generation"]))
        return real_make_retriever(data, *args, **kwargs)

    real_context = Assistant._context

    def context(self, query, hits, state):  # what the mode composes from
        used.append(("compose", state.generation))
        return real_context(self, query, hits, state)

    monkeypatch.setattr(rag.engine, "make_retriever", make_retriever)
    monkeypatch.setattr(Assistant, "_context", context)
    answer = assistant.ask(QUESTION, mode="qa")
    assert assistant.state.generation != old_generation  # the swap happened mid-request
    assert len({generation for _, generation in used}) == 1, used
    assert answer.hits


# ---- notes are never modified ------------------------------------------------------------

def test_no_command_modifies_or_adds_files_in_the_notes_folder(tmp_path, notes_dir, capsys):
    index = tmp_path / "index"
    before = tree_digest(notes_dir)
    mtimes = {p: p.stat().st_mtime_ns for p in notes_dir.rglob("*")}
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "1", "question": "스프레드 배치 그룹이란?"}\n', encoding="utf-8")
    for args in (["index"], ["index", "--force"], ["search", QUESTION, "--json"], ["ask", QUESTION, "--json"],
                 ["ask", "분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다."],
                 ["batch", str(questions), "-o", str(tmp_path / "out.jsonl")]):
        rc, _, err = run_cli(capsys, notes_dir, index, *args)
        assert rc == 0, (args, err)
    # damaged index: rebuilt from the notes, which stay as they were
    generation = store.current_generation(index)
    (generation / "chunks.jsonl").write_bytes(b"garbage")
    rc, _, _ = run_cli(capsys, notes_dir, index, "ask", QUESTION)
    assert rc == 0
    assert tree_digest(notes_dir) == before
    assert {p: p.stat().st_mtime_ns for p in notes_dir.rglob("*")} == mtimes


# ---- 7. index loading never unpickles ----------------------------------------------------

PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _package_sources() -> list[Path]:
    return sorted(p for folder in ("rag", "ui") for p in (REPO / folder).rglob("*.py"))


def test_package_source_never_uses_pickle():
    offenders = []
    for path in _package_sources():
        with path.open("rb") as handle:
            for token in tokenize.tokenize(handle.readline):  # code names only, not comments or docstrings
                if token.type == tokenize.NAME and token.string in PICKLE_MODULES:
                    offenders.append(f"{path.relative_to(REPO)}:{token.start[0]}: {token.string}")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            owner = ast.unparse(node.func.value)
            where = f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)[:80]}"
            if node.func.attr == "load" and owner in ("np", "numpy"):
                flag = keywords.get("allow_pickle")
                if not (isinstance(flag, ast.Constant) and flag.value is False):
                    offenders.append(where + " (np.load needs allow_pickle=False)")
            if node.func.attr == "load" and owner == "torch":
                flag = keywords.get("weights_only")
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    offenders.append(where + " (torch.load needs weights_only=True)")
            if "allow_pickle" in keywords and not (isinstance(keywords["allow_pickle"], ast.Constant)
                                                   and keywords["allow_pickle"].value is False):
                offenders.append(where + " (allow_pickle must be False)")
    assert offenders == []


def test_index_files_hold_no_pickle_and_loading_resolves_no_class(built, monkeypatch):
    index = built["index"]
    for path in index.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"
            assert path.suffix not in (".pkl", ".pickle", ".npy", ".npz", ".joblib"), path
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("index loading unpickled something")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    data = store.load(index)
    assert data.chunks


# ---- 8. disk full or read-only -----------------------------------------------------------

def _refuse_writes_under(monkeypatch, folder: Path, code: int) -> None:
    """Make creating folders and opening files for writing under `folder` fail with `code`."""
    folder = str(folder)
    real_mkdir, real_open, real_replace = os.mkdir, io.open, os.replace

    def blocked(path) -> bool:
        return os.path.abspath(os.fspath(path)).startswith(folder)

    def mkdir(path, *args, **kwargs):
        if blocked(path):
            raise OSError(code, os.strerror(code), os.fspath(path))
        return real_mkdir(path, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+") and blocked(file):
            raise OSError(code, os.strerror(code), os.fspath(file))
        return real_open(file, mode, *args, **kwargs)

    def replace(src, dst, *args, **kwargs):
        if blocked(dst):
            raise OSError(code, os.strerror(code), os.fspath(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(os, "replace", replace)


def test_index_folder_under_a_file_names_the_folder_and_the_fix(tmp_path, notes_dir, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    index = blocker / "index"
    rc, out, err = run_cli(capsys, notes_dir, index, "ask", QUESTION)
    assert rc == 1
    messages = [line for line in err.splitlines() if line.startswith("rag: error:")]
    assert len(messages) == 1 and str(index) in messages[0], err
    assert re.search(r"writable|free disk space", messages[0]), messages[0]
    assert "Traceback" not in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_index_folder_names_the_folder_and_the_fix(tmp_path, notes_dir, capsys):
    index = tmp_path / "index"
    index.mkdir()
    index.chmod(0o555)
    try:
        rc, _, err = run_cli(capsys, notes_dir, index, "ask", QUESTION)
    finally:
        index.chmod(0o755)
    assert rc == 1 and str(index) in err and "writable" in err


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_unwritable_index_still_answers_when_up_to_date(built, capsys, monkeypatch, code):
    _refuse_writes_under(monkeypatch, built["index"], code)
    rc, out, err = run_cli(capsys, built["corpus"], built["index"], "ask", QUESTION, "--json", "--mode", "qa")
    assert rc == 0 and answer_json(out) == built["answer"] and log_lines(err) == []


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_unwritable_index_on_rebuild_names_the_folder_and_the_fix(built, capsys, monkeypatch, code):
    corpus, index = built["corpus"], built["index"]
    with (corpus / "aws.md").open("a", encoding="utf-8") as out:
        out.write(EDIT)
    _refuse_writes_under(monkeypatch, index, code)
    rc, _, err = run_cli(capsys, corpus, index, "index")
    assert rc == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("rag: error:")]
    assert len(errors) == 1 and f"{index}/" in errors[0] and os.strerror(code) in errors[0], err
    assert "free disk space or make it writable" in errors[0]
    monkeypatch.undo()
    assert not list(index.glob(".staging-*"))
    assert store.current_generation(index).name == built["generation"]


def test_stale_index_that_cannot_be_rewritten_still_answers_from_the_last_good_one(built, capsys, monkeypatch):
    corpus, index = built["corpus"], built["index"]
    with (corpus / "aws.md").open("a", encoding="utf-8") as out:
        out.write(EDIT)
    _refuse_writes_under(monkeypatch, index, errno.EROFS)
    rc, out, err = run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
    assert rc == 0, err
    answer = answer_json(out)
    assert answer["stale"] is True  # answered from the last good index, and says so
    assert {**answer, "stale": False} == built["answer"]
    assert any(str(index) in line for line in log_lines(err))


def test_disk_full_while_writing_vectors_names_the_folder_and_the_fix(built, capsys, monkeypatch):
    import faiss

    corpus, index = built["corpus"], built["index"]
    with (corpus / "aws.md").open("a", encoding="utf-8") as out:
        out.write(EDIT)
    real_write = faiss.write_index
    monkeypatch.setattr(faiss, "write_index", lambda data, path: real_write(data, "/dev/full"))
    rc, _, err = run_cli(capsys, corpus, index, "index")
    monkeypatch.undo()
    assert rc == 1 and f"{index}/" in err and "free disk space" in err
    assert not list(index.glob(".staging-*"))


# ---- 6. network --------------------------------------------------------------------------

def test_the_socket_guard_is_active():
    with socket.socket() as sock, pytest.raises(RuntimeError, match="network connections"):
        sock.connect(("192.0.2.1", 443))
    with pytest.raises(RuntimeError, match="resolve"):
        socket.getaddrinfo("example.com", 443)
    with socket.socket() as sock:  # loopback stays allowed, for the page tests
        sock.bind(("127.0.0.1", 0))


NO_SOCKET_RUNNER = r'''
"""Run rag commands with every socket operation and every unpickled class refused (audit hook)."""
import json, sys

refused = []


def audit(event, args):
    if event.startswith("socket.") or event == "pickle.find_class":
        refused.append(event)
        raise PermissionError(f"refused {event} {args!r:.80}")


sys.addaudithook(audit)
from rag.cli import main

codes = [main(argv) for argv in json.loads(sys.argv[1])]
print(json.dumps({"codes": codes, "refused": refused}))
'''


def test_ask_batch_and_eval_open_no_socket_and_unpickle_nothing(tmp_path, notes_dir):
    runner = tmp_path / "no_socket.py"
    runner.write_text(NO_SOCKET_RUNNER, encoding="utf-8")
    index = tmp_path / "index"
    base = cli_args(notes_dir, index)
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "q1", "question": "스프레드 배치 그룹이란?"}\n', encoding="utf-8")
    gold = tmp_path / "gold_open.jsonl"
    gold.write_text(json.dumps({"id": "g1", "question": "분산 배치 그룹은 AZ 당 인스턴스가 몇 개로 제한되나요?",
                                "gold_headings": ["Spread Placement Group (분산 배치 그룹)"],
                                "evidence_ko": "이는 한 AZ 당 7개의 EC2 인스턴스로 제한되어 있다.",
                                "key_terms": ["AZ", "7개"]}, ensure_ascii=False) + "\n", encoding="utf-8")
    commands = [base + ["index"], base + ["ask", QUESTION, "--json"], base + ["search", QUESTION],
                base + ["batch", str(questions), "-o", str(tmp_path / "answers.jsonl")],
                base + ["eval", "--gold", str(gold), "--retrievers", "bm25,hybrid", "--out", str(tmp_path / "eval")]]
    proc = subprocess.run([sys.executable, str(runner), json.dumps(commands)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["refused"] == [], result
    assert result["codes"][:4] == [0, 0, 0, 0], proc.stderr[-3000:]
    assert result["codes"][4] == 0, proc.stderr[-3000:]
    assert "PermissionError" not in proc.stderr


def test_serve_binds_loopback_unless_told_otherwise():
    from rag.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1"


# ---- 6 and 7: the page -------------------------------------------------------------------

@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The study page over the fixture notes on a free loopback port: (app, url, root folder)."""
    from conftest import FIXTURES

    root = tmp_path_factory.mktemp("page")
    shutil.copytree(FIXTURES / "notes", root / "corpus")
    assistant = Assistant(hash_settings(root, root / "corpus"), log=lambda m: None)
    assistant.ensure_index()
    app, url, _ = serve_page(assistant)
    yield app, url, root
    app.close()


def serve_page(assistant: Assistant):
    """The study page for `assistant` on a free loopback port, once `/ask` answers: (app, url, gradio client)."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from ui.app import build_app, launch

    app = build_app(assistant)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    launch(app, "127.0.0.1", port, block=False)
    url = f"http://127.0.0.1:{port}/"
    client = Client(url, verbose=False)
    deadline = time.monotonic() + 60
    while True:  # the page answers "still indexing" until its background check is done
        try:
            client.predict("EC2", "qa", api_name="/ask")
            return app, url, client
        except AppError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_page_has_analytics_off(page):
    app, _, _ = page
    assert app.analytics_enabled is False
    assert os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"


def test_uploaded_batch_file_with_a_traversal_name_writes_nothing_outside(page):
    import httpx
    from gradio_client import Client

    _, url, root = page
    target = root / "escape"
    target.mkdir()
    evil = "../" * 12 + str(target).lstrip("/") + "/pwned.jsonl"
    response = httpx.post(url + "gradio_api/upload", timeout=30,
                          files={"files": (evil, '{"id": "1", "question": "EC2 배치 그룹"}\n'.encode())})
    assert response.status_code == 200, response.text
    stored = Path(response.json()[0])
    assert str(target) not in str(stored) and stored.name == "pwned.jsonl"
    client = Client(url, verbose=False)
    _, problems, downloads = client.predict({"path": str(stored), "meta": {"_type": "gradio.FileData"},
                                             "orig_name": evil}, api_name="/batch")
    assert list(target.iterdir()) == []
    assert sorted(Path(p).name for p in downloads) == ["answers.jsonl", "study-sheet.md"]
    assert all(str(root) not in p for p in downloads)


def test_serve_warns_when_exposed_without_auth(monkeypatch, capsys, tmp_path, notes_dir):
    import ui.app

    monkeypatch.setattr(ui.app, "launch", lambda *args, **kwargs: None)
    monkeypatch.setattr(ui.app, "build_app", lambda *args, **kwargs: None)
    monkeypatch.delenv("RAG_AUTH", raising=False)
    settings = hash_settings(tmp_path, notes_dir)
    for host, auth, warned in (("127.0.0.1", None, False), ("localhost", None, False), ("0.0.0.0", None, True),
                               ("192.0.2.7", None, True), ("0.0.0.0", "me:secret", False)):
        assert ui.app.serve(settings, host=host, port=7860, auth=auth) == 0
        err = capsys.readouterr().err
        assert ("warning" in err and "--auth" in err) == warned, (host, auth, err)
    assert ui.app.serve(settings, host="0.0.0.0", port=7860, auth="no-colon") == 2
    assert capsys.readouterr().err.count("rag: error:") == 1
