"""The on-disk index: manifest, incremental rebuild, mismatch detection, corruption, atomic swap."""
import json

import pytest

from conftest import make_settings

from rag import index as store
from rag import lexical
from rag.embed import HashEmbedder
from rag.engine import Assistant


def build(tmp_path, notes_dir, **changes):
    messages = []
    assistant = Assistant(make_settings(tmp_path, notes_dir, **changes), log=messages.append)
    report = assistant.ensure_index()
    return assistant, report, messages


def test_manifest_records_model_dimension_chunker_and_hashes(tmp_path, notes_dir):
    assistant, report, _ = build(tmp_path, notes_dir)
    manifest = assistant.state.data.manifest
    assert manifest["models"]["hash"]["dim"] == HashEmbedder.dim
    assert manifest["chunker"]["max_tokens"] == 400
    assert sorted(manifest["files"]) == ["aws.md", "elb.md"]
    assert report.chunks == 10 and report.reused == 0
    assert set(manifest["artifacts"]) == {"chunks.jsonl", "units.jsonl", "texts.bin", "offsets.u64", "store.json", *(
        f"{store.model_slug('hash')}.{kind}.faiss" for kind in ("chunks", "units")), *manifest["lexical"]["files"]}
    assert not list((tmp_path / "index").rglob("*.pkl"))


def test_unchanged_rerun_embeds_nothing(tmp_path, notes_dir):
    build(tmp_path, notes_dir)
    _, report, messages = build(tmp_path, notes_dir)
    assert report is None and messages == []


def test_editing_one_section_reembeds_only_that_section(tmp_path, notes_dir):
    _, first, _ = build(tmp_path, notes_dir)
    note = notes_dir / "elb.md"
    note.write_text(note.read_text(encoding="utf-8").replace("HTTP 라우팅을 지원한다", "경로 기반 라우팅을 지원한다"),
                    encoding="utf-8")
    assistant, report, messages = build(tmp_path, notes_dir)
    assert messages[0] == "index: notes changed (elb.md); updating"
    # one chunk and its one sentence changed; every other vector is reused
    assert report.embedded == 2
    assert report.reused == first.chunks + first.units - 2
    assert any("경로 기반" in c.text for c in assistant.state.data.chunks)


def test_chunker_mismatch_is_reported_and_rebuilt(tmp_path, notes_dir):
    build(tmp_path, notes_dir)
    assistant, report, messages = build(tmp_path, notes_dir, max_tokens=40)
    assert messages[0] == "index: chunker settings changed; updating"
    assert assistant.state.data.manifest["chunker"]["max_tokens"] == 40


def test_a_glossary_edit_retokenises_the_index_and_reuses_every_vector(tmp_path, notes_dir, monkeypatch):
    _, first, _ = build(tmp_path, notes_dir)
    shipped = lexical.glossary()
    monkeypatch.setattr(lexical, "glossary", lambda: (*shipped, lexical.GlossaryEntry("routing", "라우팅")))
    assistant, report, messages = build(tmp_path, notes_dir)
    assert messages[0] == "index: chunker settings changed; updating"
    assert report.embedded == 0 and report.reused == first.chunks + first.units
    assert assistant.state.data.manifest["chunker"]["lexical_version"] == lexical.lexical_signature()


def test_a_new_units_version_reembeds_every_vector(tmp_path, notes_dir, monkeypatch):
    """The sentences' embedded text may have changed with the version: no vector of the old texts is reused."""
    build(tmp_path, notes_dir)
    monkeypatch.setattr(store, "UNITS_VERSION", store.UNITS_VERSION + 1)
    monkeypatch.setattr(store, "unit_embed_text", lambda unit, chunk: f"{chunk.heading_path[0]} / {unit.text}")
    assistant, report, messages = build(tmp_path, notes_dir)
    assert messages[0] == "index: chunker settings changed; updating"
    assert report.reused == 0 and report.embedded == report.chunks + report.units
    assert assistant.state.data.manifest["chunker"]["units_version"] == store.UNITS_VERSION


@pytest.mark.model
def test_new_model_gets_its_own_vectors_never_mixed(tmp_path, notes_dir):
    build(tmp_path, notes_dir)
    assistant, report, messages = build(tmp_path, notes_dir, embedders=("hash", "use"), option_embedder="")
    assert messages[0] == "index: index has no vectors for model use; updating"
    models = assistant.state.data.manifest["models"]
    assert models["hash"]["dim"] == 256 and models["use"]["dim"] == 512
    assert models["hash"]["chunks_file"] != models["use"]["chunks_file"]
    assert assistant.state.data.chunk_vectors["use"].d == 512


def test_corrupted_file_is_detected_and_rebuilt(tmp_path, notes_dir):
    assistant, _, _ = build(tmp_path, notes_dir)
    folder = assistant.state.data.folder
    target = folder / "chunks.jsonl"
    target.write_bytes(target.read_bytes()[:-20])
    _, report, messages = build(tmp_path, notes_dir)
    assert messages[0].startswith("index: index file ") and messages[0].endswith("fails its checksum; rebuilding")
    assert report is not None and report.reused == 0


def test_build_switches_current_only_when_complete(tmp_path, notes_dir):
    assistant, _, _ = build(tmp_path, notes_dir)
    first = (tmp_path / "index" / "CURRENT").read_text().strip()
    assistant.ensure_index(force=True)
    second = (tmp_path / "index" / "CURRENT").read_text().strip()
    assert (first, second) == ("gen-000001", "gen-000002")
    manifest = json.loads((tmp_path / "index" / second / "manifest.json").read_text())
    assert manifest["generation"] == second
