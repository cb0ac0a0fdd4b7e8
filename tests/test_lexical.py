"""BM25 on bm25s: the same scores and rankings as the hand-written scorer it replaced, saved and memory-mapped."""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import make_settings

from rag import index as store
from rag.engine import Assistant
from rag.evaluate import load_gold
from rag.index import chunk_lexical_text
from rag.lexical import BM25, best_positive, expand_query, tokenize
from rag.metrics import normalise_heading
from rag.notes import load_corpus
from rag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
TINY = [["spread", "rack"], ["cluster", "rack", "rack"], ["partition"]]


class HandWrittenBM25:
    """The scorer rag/lexical.py had before bm25s, kept here only as the reference."""

    def __init__(self, documents: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.doc_freqs = [Counter(doc) for doc in documents]
        self.doc_lengths = [len(doc) for doc in documents]
        self.avg_length = (sum(self.doc_lengths) / len(documents)) if documents else 0.0
        df = Counter(term for doc in self.doc_freqs for term in doc)
        n = len(documents)
        self.idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}

    def scores(self, query_tokens: list[str]) -> list[float]:
        out = [0.0] * len(self.doc_freqs)
        terms = [t for t in dict.fromkeys(query_tokens) if t in self.idf]
        for i, freqs in enumerate(self.doc_freqs):
            norm = self.k1 * (1 - self.b + self.b * self.doc_lengths[i] / (self.avg_length or 1))
            total = 0.0
            for term in terms:
                f = freqs.get(term)
                if f:
                    total += self.idf[term] * f * (self.k1 + 1) / (f + norm)
            out[i] = total
        return out

    def top(self, query_tokens: list[str], k: int) -> list[int]:
        """What LexicalRetriever.search returned: a stable sort by score, positive scores only."""
        scores = np.asarray(self.scores(query_tokens))
        return [int(i) for i in np.argsort(-scores, kind="stable")[:k] if scores[i] > 0]


@pytest.fixture(scope="module")
def notes_tokens() -> tuple[list, list[list[str]]]:
    chunks, _ = load_corpus(REPO / "corpus", Settings().chunker)
    return chunks, [tokenize(chunk_lexical_text(c)) for c in chunks]


@pytest.fixture(scope="module")
def gold_queries(notes_tokens) -> list[tuple[str, list[str]]]:
    chunks, _ = notes_tokens
    known = {normalise_heading(h) for c in chunks for h in c.heading_path}
    items, errors = load_gold(sorted((REPO / "eval" / "gold").glob("*.jsonl")), known)
    assert errors == []
    return [(item.id, tokenize(expand_query(item.retrieval_text))) for item in items]


@pytest.mark.fast
def test_exact_scores_and_idf_on_a_tiny_corpus():
    bm25 = BM25.fit(TINY)
    # idf(rack) = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln(1.6); avg length 2, so document 0's norm is k1 = 1.2
    # and its score is ln(1.6) * 1 * 2.2 / (1 + 1.2) = ln(1.6)
    assert bm25.idf["rack"] == math.log(1.6)
    assert bm25.idf["partition"] == math.log(1 + 2.5 / 1.5)
    assert "absent" not in bm25.idf and len(bm25.idf) == 4
    scores = bm25.scores(["rack"])
    assert scores[0] == pytest.approx(math.log(1.6), rel=1e-15)
    # document 1: f = 2, length 3, norm = 1.2 * (0.25 + 0.75 * 3 / 2) = 1.65
    assert scores[1] == pytest.approx(math.log(1.6) * 2 * 2.2 / (2 + 1.65), rel=1e-15)
    assert scores[2] == 0.0
    assert bm25.scores(["rack", "rack"]).tolist() == scores.tolist()  # a repeated query term counts once


@pytest.mark.fast
def test_top_keeps_positive_scores_best_first_and_ties_in_document_order():
    bm25 = BM25.fit([["a"], ["b", "x"], ["a"], ["a"], ["c"]])
    tied = bm25.scores(["a"])[0]
    assert bm25.top(["a"], 2) == [(0, tied), (2, tied)]
    assert [i for i, _ in bm25.top(["a", "b"], 10)] == [1, 0, 2, 3]
    assert bm25.top(["nowhere"], 5) == [] and bm25.top(["a"], 0) == []
    assert BM25.fit([]).top(["a"], 3) == []


@pytest.mark.fast
@pytest.mark.parametrize("k", [1, 10, 30, 5000])
def test_best_positive_equals_a_stable_sort_on_a_million_scores_with_ties(k):
    rng = np.random.default_rng(k)
    scores = np.round(rng.gamma(2.0, 1.0, 1_000_003), 2)  # few distinct values: many ties
    scores[rng.random(len(scores)) < 0.4] = 0.0
    order = np.argsort(-scores, kind="stable")[:k]
    assert best_positive(scores, k).tolist() == [int(i) for i in order if scores[i] > 0]
    assert best_positive(np.zeros(5000), k).tolist() == []
    clustered = np.zeros(300_000)  # every positive score in one block: the floor must not drop any of them
    clustered[2048:2048 + 900] = rng.random(900)
    order = np.argsort(-clustered, kind="stable")[:k]
    assert best_positive(clustered, k).tolist() == [int(i) for i in order if clustered[i] > 0]


@pytest.mark.fast
def test_notes_scores_equal_the_hand_written_scorer(notes_tokens, gold_queries):
    _, tokens = notes_tokens
    new, old = BM25.fit(tokens), HandWrittenBM25(tokens)
    assert dict(new.idf) == old.idf  # same terms, bit-identical idf (compose.py reads it)
    for item_id, query in gold_queries:
        np.testing.assert_allclose(new.scores(query), old.scores(query), rtol=1e-12, atol=0, err_msg=item_id)


@pytest.mark.fast
def test_scores_of_some_documents_equal_their_entries_in_all_scores(notes_tokens, gold_queries, tmp_path):
    _, tokens = notes_tokens
    BM25.fit(tokens).save(tmp_path)
    saved = BM25.load(tmp_path)  # memory-mapped, as the live index reads it
    rng = np.random.default_rng(7)
    for item_id, query in gold_queries[:60]:
        documents = rng.choice(saved.documents, size=20, replace=False).tolist() + [0, saved.documents - 1]
        np.testing.assert_allclose(saved.scores_of(query, documents), saved.scores(query)[documents], rtol=1e-12,
                                   atol=0, err_msg=item_id)
    assert saved.scores_of(["없는단어"], [0, 1]).tolist() == [0.0, 0.0]


@pytest.mark.fast
def test_top10_on_every_gold_question_equals_the_hand_written_scorer(notes_tokens, gold_queries, tmp_path):
    _, tokens = notes_tokens
    old = HandWrittenBM25(tokens)
    BM25.fit(tokens).save(tmp_path)
    saved = BM25.load(tmp_path)
    assert len(gold_queries) >= 240
    differing = [item_id for item_id, query in gold_queries
                 if [i for i, _ in saved.top(query, 10)] != old.top(query, 10)]
    assert differing == []
    assert sum(bool(old.top(query, 10)) for _, query in gold_queries) > 200  # the comparison is not vacuous


@pytest.mark.fast
def test_saved_index_is_plain_arrays_and_json_and_loads_memory_mapped(tmp_path):
    entry = BM25.fit(TINY).save(tmp_path)
    assert sorted(entry["files"]) == sorted(p.name for p in tmp_path.iterdir())
    assert entry["documents"] == 3 and entry["terms"] == 4 and entry["postings"] == 5
    vocabulary = json.loads((tmp_path / "bm25.vocab.json").read_text(encoding="utf-8"))
    assert vocabulary["terms"] == ["spread", "rack", "cluster", "partition"] and vocabulary["method"] == "lucene"
    assert (tmp_path / "bm25.scores.f64").stat().st_size == 5 * 8
    loaded = BM25.load(tmp_path)
    assert isinstance(loaded.engine.scores["data"], np.memmap)
    assert loaded.scores(["rack", "spread"]).tolist() == BM25.fit(TINY).scores(["rack", "spread"]).tolist()


@pytest.mark.fast
@pytest.mark.parametrize("damage", ["truncate scores", "delete offsets", "bad vocabulary"])
def test_damaged_lexical_files_raise_one_clear_error(tmp_path, damage):
    BM25.fit(TINY).save(tmp_path)
    if damage == "truncate scores":
        (tmp_path / "bm25.scores.f64").write_bytes((tmp_path / "bm25.scores.f64").read_bytes()[:-8])
    elif damage == "delete offsets":
        (tmp_path / "bm25.term_offsets.i64").unlink()
    else:
        (tmp_path / "bm25.vocab.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lexical index in .* rebuild the index"):
        BM25.load(tmp_path)


@pytest.mark.fast
def test_fit_reports_progress_to_the_end():
    calls = []
    BM25.fit([["a", "b"]] * 250, progress=lambda done, total, label: calls.append((done, total, label)))
    assert {label for _, _, label in calls} == {"indexing words"}
    assert calls[0] == (0, 1000, "indexing words") and calls[-1] == (1000, 1000, "indexing words")
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and done.count(1000) == 1 and len(calls) > 50  # the vocabulary and bm25s's 3 passes


@pytest.mark.fast
def test_each_generation_saves_its_bm25_index_checksummed_and_a_rebuild_refreshes_it(tmp_path, notes_dir):
    assistant = Assistant(make_settings(tmp_path, notes_dir), log=lambda m: None)
    assistant.ensure_index()
    manifest = assistant.state.data.manifest
    assert set(manifest["lexical"]["files"]) <= set(manifest["artifacts"])
    assert manifest["lexical"]["documents"] == len(assistant.state.data.chunks)
    assert isinstance(assistant.state.lexical.bm25.engine.scores["data"], np.memmap)
    assert assistant.search("배치 그룹 분산", 3, kind="bm25")

    note = notes_dir / "elb.md"
    note.write_text(note.read_text(encoding="utf-8") + "\n## 새 절\n크로스존 로드 밸런싱 요금은 무료다.\n", encoding="utf-8")
    report = assistant.ensure_index()
    data = assistant.state.data
    assert report is not None and data.manifest["generation"] != manifest["generation"]
    assert data.lexical.documents == len(data.chunks) == manifest["lexical"]["documents"] + 1
    assert assistant.search("크로스존 로드 밸런싱 요금", 1, kind="bm25")[0].chunk.heading_path[-1] == "새 절"
    assert store.load(tmp_path / "index").lexical.documents == len(data.chunks)


@pytest.mark.fast
def test_a_format_1_generation_without_bm25_files_still_answers_and_is_rebuilt(tmp_path, notes_dir):
    settings = make_settings(tmp_path, notes_dir)
    assistant = Assistant(settings, log=lambda m: None)
    assistant.ensure_index()
    folder = store.current_generation(settings.index_dir)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for name in manifest.pop("lexical")["files"]:
        (folder / name).unlink()
        del manifest["artifacts"][name]
    manifest["format"] = 1
    manifest["manifest_sha256"] = store.manifest_checksum(manifest)  # a whole manifest of that older format
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    old = store.load(settings.index_dir)
    assert old.lexical.documents == len(old.chunks)  # built in memory from the stored tokens
    messages = []
    again = Assistant(settings, log=messages.append)
    again.ensure_index()
    assert messages[0] == "index: index format changed; updating"
    assert "lexical" in again.state.data.manifest
