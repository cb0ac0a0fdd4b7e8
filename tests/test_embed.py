"""Embedders: the packaged models and the sentence-transformers path, loaded offline and lazily."""
import subprocess
import sys

import numpy as np
import pytest

from rag.embed import EmbedderError, HashEmbedder, make_embedder

pytestmark = pytest.mark.model


@pytest.mark.parametrize("model_id, dim", [("e5", 384), ("use", 512), ("st:minilm", 384), ("hash", 256)])
def test_embedders_give_unit_rows(model_id, dim):
    embedder = make_embedder(model_id)
    rows = embedder.encode(["A spread placement group limits instances per AZ.", "분산 배치 그룹"])
    assert rows.shape == (2, dim) and rows.dtype == np.float32
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, dim)


def test_sentence_transformers_model_ranks_related_text_higher():
    embedder = make_embedder("st:minilm")
    query = embedder.encode(["How many instances can a spread placement group hold?"], query=True)[0]
    docs = embedder.encode(["Spread placement groups hold at most seven instances per availability zone.",
                            "Elastic Load Balancing writes access logs to S3."])
    assert docs[0] @ query > docs[1] @ query + 0.2


def test_multilingual_models_match_english_to_korean():
    for model_id in ("e5", "use"):
        embedder = make_embedder(model_id)
        query = embedder.encode(["How many instances per AZ in a spread placement group?"], query=True)[0]
        docs = embedder.encode(["분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다.", "로드 밸런서의 액세스 로그는 S3에 저장될 수 있다."])
        assert docs[0] @ query > docs[1] @ query, model_id


def test_unknown_or_unloadable_models_give_one_line_errors():
    with pytest.raises(EmbedderError, match="unknown embedder 'bert'"):
        make_embedder("bert")
    missing = make_embedder("st:/nonexistent/model/folder")
    with pytest.raises(EmbedderError, match="could not be loaded offline"):
        missing.encode(["x"])


def test_hash_embedder_is_deterministic():
    a, b = HashEmbedder().encode(["spread rack"]), HashEmbedder().encode(["spread rack"])
    assert np.array_equal(a, b)


def test_default_path_never_imports_sentence_transformers_or_torch():
    code = ("import sys; from rag.cli import build_parser; from rag.engine import Assistant; "
            "from rag.embed import make_embedder; make_embedder('e5'); "
            "print('sentence_transformers' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False False", out.stderr
