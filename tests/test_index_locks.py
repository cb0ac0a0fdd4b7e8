"""Index builds between processes, failed builds on a full disk, and a manifest that checks itself (issue 16).

- a second builder of the same index folder waits for the first, says so,
  and does not build again what the first just built; two builders started
  together both succeed with distinct generations;
- a generation that a running reader (another process, or a live
  `IndexData`) holds is not deleted by later builds, and is once released;
- a reader whose generation vanishes between reading CURRENT and locking it
  reads CURRENT again;
- a build that failed for lack of space is not retried by every question:
  answers come at once from the last good index, marked stale with its
  generation, until the notes change, the disk has room or `rag index` runs;
- the manifest carries its own checksum; every file needs a checksum entry;
  vector files must have the manifest's dimension and row counts, and the
  manifest's dimension must be the model's.
"""
from __future__ import annotations

import fcntl
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pytest
from test_reliability import EDIT, QUESTION, answer_json, cli_args, hash_settings, log_lines, run_cli

from rag import index as store
from rag.engine import Assistant
from rag.progress import silent

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def edit_notes(corpus: Path, n: int = 0) -> None:
    with (corpus / "aws.md").open("a", encoding="utf-8") as out:
        out.write(EDIT.replace("7개", f"{7 + n}개"))


def generations(index: Path) -> list[str]:
    return sorted(p.name for p in index.glob("gen-*"))


def rag_process(corpus: Path, index: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rag", *cli_args(corpus, index), *args], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_line(stream, needle: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no line with {needle!r} in {seen}")


@pytest.fixture
def indexed(tmp_path, notes_dir, capsys):
    index = tmp_path / "index"
    assert run_cli(capsys, notes_dir, index, "index")[0] == 0
    return notes_dir, index


# ---- builders ----------------------------------------------------------------------------

@pytest.mark.fast
def test_a_second_builder_waits_says_so_and_reuses_what_the_first_built(indexed, tmp_path):
    corpus, index = indexed
    edit_notes(corpus)
    settings = hash_settings(tmp_path, corpus)
    lock = os.open(index / store.BUILD_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)  # this test is the first builder
    os.pwrite(lock, str(os.getpid()).encode(), 0)
    try:
        second = rag_process(corpus, index, "index")
        line = wait_for_line(second.stderr, "waiting")
        assert f"another process (pid {os.getpid()}) is building {index}/; waiting for it to finish" in line
        staging = index / f".staging-gen-000099-{os.getpid()}"
        staging.mkdir()  # the first builder's work in progress
        time.sleep(1.0)
        assert second.poll() is None, "the second builder did not wait"
        assert staging.is_dir() and generations(index) == ["gen-000001"]
        shutil.rmtree(staging)
        assistant = Assistant(settings, log=lambda m: None)
        store._build(settings, assistant.embedders, None, "notes changed", silent)  # the first builder finishes
    finally:
        os.close(lock)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert "index: gen-000002 ready, 11 chunks, 20 sentences, 0 embedded" in err
    assert generations(index) == ["gen-000001", "gen-000002"], "the second builder built the same notes again"
    assert "Traceback" not in err and "free disk space" not in err


@pytest.mark.slow
def test_two_builders_started_together_both_succeed_with_distinct_generations(indexed):
    corpus, index = indexed
    for trial in range(3):
        edit_notes(corpus, trial)
        builders = [rag_process(corpus, index, "index", "--force") for _ in range(2)]
        results = [b.communicate(timeout=120) for b in builders]
        for builder, (_, err) in zip(builders, results):
            assert builder.returncode == 0 and "Traceback" not in err and "free disk space" not in err, err
        ready = [line for _, err in results for line in err.splitlines() if line.startswith("index: gen-")]
        assert len(ready) == 2 and len({line.split()[1] for line in ready}) == 2, ready  # forced: two generations
        data = store.load(index)
        assert data.manifest["files"] == store.load_corpus(corpus, hash_settings(index, corpus).chunker)[1]
        assert not list(index.glob(".staging-*"))


# ---- readers -------------------------------------------------------------------------------

READER = r'''
import sys
from pathlib import Path
from rag import index
data = index.load(Path(sys.argv[1]))
print("holding", data.manifest["generation"], flush=True)
sys.stdin.read()
print(len(data.chunks), flush=True)
'''


@pytest.mark.fast
def test_a_generation_a_running_reader_holds_is_not_deleted_under_it(indexed, tmp_path, capsys):
    corpus, index = indexed
    reader = subprocess.Popen([sys.executable, "-c", READER, str(index)], cwd=REPO, env=ENV, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout.readline().split() == ["holding", "gen-000001"]
    for n in range(3):
        edit_notes(corpus, n)
        assert run_cli(capsys, corpus, index, "index")[0] == 0
    assert generations(index) == ["gen-000001", "gen-000003", "gen-000004"]  # gen-2: not held, deleted
    out, err = reader.communicate("", timeout=60)
    assert reader.returncode == 0 and out.strip() == "10", err
    edit_notes(corpus, 9)
    assert run_cli(capsys, corpus, index, "index")[0] == 0
    assert generations(index) == ["gen-000004", "gen-000005"]  # released: deleted by the next build


@pytest.mark.fast
def test_a_loaded_index_holds_its_generation_until_it_is_dropped(indexed, capsys):
    corpus, index = indexed
    held = store.load(index)
    for n in range(3):
        edit_notes(corpus, n)
        assert run_cli(capsys, corpus, index, "index")[0] == 0
    assert "gen-000001" in generations(index)
    assert held.chunk_vectors and (held.folder / "units.jsonl").exists()
    del held
    gc.collect()
    edit_notes(corpus, 9)
    assert run_cli(capsys, corpus, index, "index")[0] == 0
    assert generations(index) == ["gen-000004", "gen-000005"]


@pytest.mark.fast
def test_a_reader_whose_generation_vanishes_before_it_locks_reads_current_again(indexed, capsys, monkeypatch):
    corpus, index = indexed
    edit_notes(corpus)
    assert run_cli(capsys, corpus, index, "index")[0] == 0
    gone = index / "gen-000000"  # what CURRENT named a moment ago, deleted since by a build
    real = store.current_generation
    answers = iter([gone])
    monkeypatch.setattr(store, "current_generation", lambda folder: next(answers, None) or real(folder))
    assert store.load(index).manifest["generation"] == "gen-000002"


# ---- a build that cannot be written ------------------------------------------------------

@pytest.fixture
def full_disk(monkeypatch):
    """FAISS writes go to /dev/full (ENOSPC); the free space the index folder sees is fixed."""
    real_write = faiss.write_index
    monkeypatch.setattr(faiss, "write_index", lambda data, path: real_write(data, "/dev/full"))
    usage = shutil.disk_usage("/")
    free = {"bytes": usage.free}
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=free["bytes"]))
    return free


@pytest.mark.fast
def test_a_failed_build_is_remembered_and_answers_come_at_once_marked_stale(indexed, capsys, monkeypatch, full_disk):
    corpus, index = indexed
    rc, out, _ = run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
    fresh = answer_json(out)
    edit_notes(corpus)
    builds = []
    real_build = store._build
    monkeypatch.setattr(store, "_build", lambda *a, **k: builds.append(1) or real_build(*a, **k))

    rc, out, err = run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
    assert rc == 0 and len(builds) == 1 and "No space left on device" in err
    first = json.loads(out)
    assert first["stale"] is True and first["generation"] == "gen-000001"
    assert (index / store.FAILED_BUILD).exists()

    for _ in range(2):  # every later question: no build, the same stale answer, one line saying why
        rc, out, err = run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
        assert rc == 0 and len(builds) == 1
        assert json.loads(out)["stale"] is True and answer_json(out) == {**fresh, "stale": True}
        messages = log_lines(err)
        assert len(messages) == 1 and "building it failed before (No space left on device)" in messages[0]
        assert "gen-000001" in messages[0] and "rag index" in messages[0]

    rc, _, err = run_cli(capsys, corpus, index, "index")  # `rag index` always tries again
    assert rc == 1 and len(builds) == 2 and "free disk space" in err

    full_disk["bytes"] += 10**9  # the disk gained room: the next question tries again
    rc, out, _ = run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
    assert rc == 0 and len(builds) == 3

    edit_notes(corpus, 1)  # other notes: another build, tried at once
    full_disk["bytes"] -= 10**9
    run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
    assert len(builds) == 4

    monkeypatch.undo()  # space again: `rag index` builds, and questions are answered from the new index
    assert run_cli(capsys, corpus, index, "index")[0] == 0
    rc, out, _ = run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
    assert rc == 0 and json.loads(out)["stale"] is False and json.loads(out)["generation"] == "gen-000002"
    assert not (index / store.FAILED_BUILD).exists()


@pytest.mark.fast
def test_stale_answers_through_the_api_carry_the_generation(tmp_path, notes_dir, request):
    settings = hash_settings(tmp_path, notes_dir)
    Assistant(settings, log=lambda m: None).ensure_index()
    request.getfixturevalue("full_disk")
    edit_notes(notes_dir)
    logged = []
    assistant = Assistant(settings, log=logged.append)
    assert assistant.ensure_index() is None
    answer = assistant.ask(QUESTION, mode="qa")
    assert answer.stale and answer.to_json()["stale"] is True and answer.to_json()["generation"] == "gen-000001"
    assert any("marked stale" in line for line in logged)


# ---- a manifest that checks itself -----------------------------------------------------------

def rewrite_manifest(folder: Path, change, reseal: bool = True) -> None:
    """Apply `change` to the manifest; `reseal` recomputes its own checksum (a tool that knows the format)."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    if reseal:
        manifest["manifest_sha256"] = store.manifest_checksum(manifest)
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")


def reseal_file(folder: Path, name: str) -> None:
    rewrite_manifest(folder, lambda m: m["artifacts"].__setitem__(name, store._sha256(folder / name)))


def edit_a_field_without_resealing(folder: Path) -> None:
    rewrite_manifest(folder, lambda m: m["counts"].__setitem__("chunks", 11), reseal=False)


def edit_units_and_drop_their_checksum(folder: Path) -> None:
    units = folder / "units.jsonl"
    units.write_text(units.read_text(encoding="utf-8").replace("7개", "70개"), encoding="utf-8")
    rewrite_manifest(folder, lambda m: m["artifacts"].pop("units.jsonl"))


def add_an_unlisted_file(folder: Path) -> None:
    (folder / "extra.jsonl").write_text("{}\n", encoding="utf-8")


def replace_chunk_vectors(dim: int | None, rows: int | None):
    """A damage that writes a chunk vector file of another shape and reseals its checksum."""
    def damage(folder: Path) -> None:
        info = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["models"]["hash"]
        original = faiss.read_index(str(folder / info["chunks_file"]))
        replacement = faiss.IndexFlatIP(dim or original.d)
        replacement.add(np.eye(rows or original.ntotal, dim or original.d, dtype=np.float32))
        faiss.write_index(replacement, str(folder / info["chunks_file"]))
        reseal_file(folder, info["chunks_file"])
    return damage


def point_chunks_at_sentences(folder: Path) -> None:
    rewrite_manifest(folder, lambda m: m["models"]["hash"].__setitem__("chunks_file", m["models"]["hash"]["units_file"]))


def miscount_sentences(folder: Path) -> None:
    rewrite_manifest(folder, lambda m: m["counts"].__setitem__("units", 5))


@pytest.mark.fast
@pytest.mark.parametrize("damage, message", [
    (edit_a_field_without_resealing, "fails its own checksum"),
    (edit_units_and_drop_their_checksum, r"units\.jsonl has no checksum in the manifest"),
    (add_an_unlisted_file, r"extra\.jsonl has no checksum"),
    (replace_chunk_vectors(128, None), "holds 10 vectors of dimension 128, not 10 of 256 for hash"),
    (replace_chunk_vectors(None, 3), "holds 3 vectors of dimension 256, not 10 of 256 for hash"),
    (point_chunks_at_sentences, "holds 18 vectors of dimension 256, not 10 of 256"),
    (miscount_sentences, "holds 10 chunks and 18 sentences"),
], ids=lambda value: getattr(value, "__name__", None) if callable(value) else None)
def test_a_manifest_that_does_not_match_its_generation_is_damage(indexed, damage, message):
    _, index = indexed
    damage(store.current_generation(index))
    with pytest.raises(store.IndexCorrupt, match=message):
        store.load(index)


@pytest.mark.fast
def test_vectors_of_another_dimension_than_the_model_are_rebuilt(indexed, capsys):
    corpus, index = indexed
    rc, out, _ = run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
    fresh = answer_json(out)
    folder = store.current_generation(index)
    info = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["models"]["hash"]
    for key in ("chunks_file", "units_file"):  # a whole, self-consistent index of 512-d vectors
        rows = faiss.read_index(str(folder / info[key])).ntotal
        wide = faiss.IndexFlatIP(512)
        wide.add(np.eye(rows, 512, dtype=np.float32))
        faiss.write_index(wide, str(folder / info[key]))
        reseal_file(folder, info[key])
    rewrite_manifest(folder, lambda m: m["models"]["hash"].__setitem__("dim", 512))
    store.load(index)  # whole by itself
    rc, out, err = run_cli(capsys, corpus, index, "ask", QUESTION, "--json", "--mode", "qa")
    assert rc == 0 and "Traceback" not in err and answer_json(out) == fresh
    assert "index vectors for hash have dimension 512, the model gives 256; updating" in err


@pytest.mark.model
def test_a_model_pointed_at_another_models_vectors_is_rebuilt(e5_assistant, tmp_path, capsys):
    source = e5_assistant.settings
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(source.corpus_dir, corpus)
    shutil.copytree(source.index_dir, index)
    folder = store.current_generation(index)

    def swap(manifest):
        manifest["models"]["e5"]["chunks_file"] = manifest["models"]["use"]["chunks_file"]

    rewrite_manifest(folder, swap)
    with pytest.raises(store.IndexCorrupt, match="dimension 512, not 10 of 384 for e5"):
        store.load(index)
    settings = source.with_overrides(corpus_dir=corpus, index_dir=index)
    assistant = Assistant(settings, log=lambda m: None)
    assistant.embedders = e5_assistant.embedders
    assert assistant.ensure_index() is not None
    assert not assistant.ask(QUESTION, mode="qa").abstained
