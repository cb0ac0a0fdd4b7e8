"""Retrieval with the real packaged default model (e5), BM25 and their fusion."""
import pytest

from rag.lexical import BM25, expand_query, spelled_names, tokenize
from rag.retrieve import Query, rrf


def test_rrf_is_reciprocal_rank_fusion():
    fused = rrf([["a", "b", "c"], ["b", "c"]], [1.0, 2.0], k=10)
    assert [item for item, _ in fused] == ["b", "c", "a"]
    assert fused[0][1] == pytest.approx(1 / 12 + 2 / 11)


def test_bm25_exact_scores_on_a_tiny_corpus():
    bm25 = BM25.fit([["spread", "rack"], ["cluster", "rack", "rack"], ["partition"]])
    scores = bm25.scores(["rack"])
    # idf(rack) = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln(1.6); avg length 2
    assert scores[0] == pytest.approx(0.4700036292457356)
    assert scores[2] == 0.0
    assert scores[1] > scores[0]


def test_tokenizer_keeps_aws_terms_whole_and_korean_user_words():
    assert tokenize("온디맨드 인스턴스는 m5.large와 InsufficientInstanceCapacity, AZs") == [
        "온디맨드", "인스턴스", "m5.large", "capacity", "instance", "insufficient", "insufficientinstancecapacity", "az"]


def test_a_camel_case_name_also_reads_as_its_words():
    assert tokenize("InstanceTerminatesImmediately") == ["immediately", "instance", "instanceterminatesimmediately",
                                                         "terminate"]
    assert tokenize("lowestPrice") == ["lowest", "lowestprice", "price"]
    assert tokenize("AWSALB EC2 ENA") == ["awsalb", "ec2", "ena"]  # capitals alone are one name


def test_glossary_expands_english_with_korean():
    assert "분산 배치 그룹" in expand_query("spread placement groups")
    assert "spread placement group" in expand_query("분산 배치 그룹은?")


@pytest.mark.parametrize("question, korean", [
    ("What are the EC2 purchasing options?", "구매"), ("Which AMIs were copied?", "복사"),
    ("Is it needed?", "필요"), ("Does it keep running when encrypting?", "암호화"),
])
def test_a_glossary_word_is_read_in_its_inflected_forms(question, korean):
    assert korean in expand_query(question).split()


def test_a_hangul_spelling_reaches_the_english_name_one_way_only():
    assert "hibernate" in expand_query("하이버네이트 쓰려면 조건이 뭐야?").split()
    assert "하이버네이트" not in expand_query("Can I hibernate it?")  # the notes never write the Hangul spelling
    assert spelled_names("클라우드워치에서 RAM 볼 수 있어?") == ["cloudwatch"]


def test_korean_transliterations_reach_the_notes_english_words():
    query = Query("세션 매니저는 리눅스 말고 윈도우에도 돼?", {})
    assert {"linux", "window"} <= set(query.tokens)  # "Windows" in the notes reads as window too


def test_ordinary_words_expand_the_lexical_query_and_only_aws_terms_the_dense_text():
    query = Query("How am I notified when a spot instance is interrupted?", {})
    assert {"알림", "스팟"} <= set(query.tokens)  # BM25 gets the notes' word for "notified"
    assert query.embed_text("e5").endswith("스팟 인스턴스") and "알림" not in query.embed_text("e5")
    assert expand_query("notified", general=False) == "notified"


@pytest.mark.parametrize("question, heading", [
    ("How many instances per AZ can a spread placement group have?", "Spread Placement Group (분산 배치 그룹)"),
    ("분산 배치 그룹은 AZ당 인스턴스를 몇 개까지 둘 수 있나요?", "Spread Placement Group (분산 배치 그룹)"),
    ("Why would an instance go from pending straight to terminated?", "InstanceTerminatesImmediately"),
    ("NLB는 몇 계층 로드 밸런서야?", "Network Load Balancer (NLB)"),
    ("Which load balancer supports HTTP routing at layer 7?", "Application Load Balancer (ALB)"),
])
def test_english_and_korean_questions_find_the_right_section(e5_assistant, question, heading):
    for kind in ("hybrid", "dense", "bm25"):
        hits = e5_assistant.search(question, 3, kind=kind) if kind != "hybrid" else e5_assistant.search(question, 3)
        assert hits[0].chunk.heading_path[-1] == heading, kind


def test_search_returns_scored_hits(e5_assistant):
    hits = e5_assistant.search("Elastic IP 요금", 5)
    assert len(hits) == 5
    assert all(isinstance(h.score, float) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


class CountingEmbedder:
    """The hash embedder, counting the texts it encodes."""

    def __init__(self):
        from rag.embed import HashEmbedder

        self.inner, self.texts = HashEmbedder(), []

    def encode(self, texts, query=False):
        self.texts += list(texts)
        return self.inner.encode(texts, query=query)


def test_a_narrowed_query_reuses_the_vector_already_encoded_for_its_text():
    embedder = CountingEmbedder()
    stem = "Which placement group spreads instances across racks?"
    exam = Query(f"{stem} A. Cluster B. Spread", {"hash": embedder}, {"hash": Query(stem, {}).embed_text("hash")})
    own = exam.vector("hash")
    narrowed = exam.narrowed(stem)
    assert (narrowed.vector("hash") == own).all() and narrowed.tokens == Query(stem, {}).tokens
    assert len(embedder.texts) == 1  # the stem was encoded once, for both queries
    other = exam.narrowed("What is a cluster placement group?")
    other.vector("hash")
    assert len(embedder.texts) == 2  # a text never encoded is encoded
