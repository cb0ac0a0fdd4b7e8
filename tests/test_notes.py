"""Parsing and chunking: headings, bold pseudo-headings, 정리 blocks, line spans, token caps."""
from pathlib import Path

import pytest

from rag.notes import ChunkerSettings, NotesError, chunk_note, load_corpus, read_note, units_of
from rag.tokens import count_tokens

FIXTURE = Path(__file__).parent / "fixtures" / "notes" / "aws.md"


def chunks(max_tokens=400):
    return chunk_note("aws.md", read_note(FIXTURE), ChunkerSettings(max_tokens=max_tokens))


def test_heading_tree_with_pseudo_headings_and_lecture_tags():
    paths = [(c.heading_path, c.line_start, c.line_end, c.is_summary) for c in chunks()]
    assert paths == [
        (("SOA 시험 대비", "EC2 Placement Groups (배치 그룹)"), 7, 7, False),
        (("SOA 시험 대비", "EC2 Placement Groups (배치 그룹)", "Cluster Placement Group (클러스터 배치 그룹)"), 10, 11, False),
        (("SOA 시험 대비", "EC2 Placement Groups (배치 그룹)", "Spread Placement Group (분산 배치 그룹)"), 14, 15, False),
        (("SOA 시험 대비", "EC2 Placement Groups (배치 그룹)"), 18, 19, True),
        (("SOA 시험 대비", "Troubleshooting EC2 Launch Issues", "InstanceTerminatesImmediately"), 24, 26, False),
        (("SOA 시험 대비", "[SAA/DVA] What is High Availability and Scalability?", "개요"), 30, 30, False),
        (("SOA 시험 대비", "[SAA/DVA] What is High Availability and Scalability?", "수평 Scalability"), 33, 33, False),
        (("SOA 시험 대비", "Elastic IPs"), 36, 38, False),
    ]


def test_custom_instructions_are_not_indexed():
    assert all("Custom Instructions" not in c.heading_path for c in chunks())
    assert all("한글로 답변해줘" not in c.text for c in chunks())


def test_summary_block_is_tagged_and_kept_whole():
    summary = [c for c in chunks() if c.is_summary]
    assert len(summary) == 1
    assert summary[0].text.splitlines() == [
        "-   클러스터 배치 그룹은 단일 AZ에서 낮은 지연을 제공한다.",
        "-   분산 배치 그룹은 AZ 당 7개의 인스턴스로 제한된다.",
    ]


def test_line_spans_point_at_the_source_lines():
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    for chunk in chunks():
        assert chunk.text == "\n".join(lines[chunk.line_start - 1: chunk.line_end])


def test_token_cap_splits_sections_and_counts_tokens():
    small = chunks(max_tokens=40)
    assert all(c.token_count <= 40 for c in small)
    assert all(c.token_count == count_tokens(c.text) for c in small)
    elastic = [c for c in small if c.heading_path[-1] == "Elastic IPs"]
    # line 37 alone exceeds 40 tokens, so it is cut into two pieces at the cap
    assert [(c.line_start, c.line_end) for c in elastic] == [(36, 36), (37, 37), (37, 37), (38, 38)]


def test_chunk_ids_are_stable_and_unique():
    first, second = chunks(), chunks()
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second]
    assert len({c.chunk_id for c in first}) == len(first)


def test_units_are_sentences_with_their_lines():
    eip = next(c for c in chunks() if c.heading_path[-1] == "Elastic IPs")
    units = units_of(eip)
    assert [(u.line, u.text[:10]) for u in units] == [(36, "EIP는 삭제하지 "), (37, "이 IP를 인스턴스"), (38, "기본적으로 AWS ")]


def test_non_utf8_note_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_bytes("# 제목\n좋은 줄\n".encode() + b"\xff\xfe broken\n")
    with pytest.raises(NotesError, match=r"bad\.md: line 3 is not valid UTF-8"):
        read_note(bad)


def test_empty_corpus_says_where_to_put_notes(tmp_path):
    with pytest.raises(NotesError, match="put your Markdown notes"):
        load_corpus(tmp_path / "corpus", ChunkerSettings())


def test_real_notes_parse_into_sections():
    corpus = Path(__file__).parent.parent / "corpus"
    chunks_, hashes = load_corpus(corpus, ChunkerSettings())
    assert list(hashes) == ["soa-notes.md"]
    headings = {h for c in chunks_ for h in c.heading_path}
    assert "Spread Placement Group (분산 배치 그룹)" in headings
    assert "[SAA/DVA] What is High Availability and Scalability?" in headings
    assert all(c.token_count <= 400 for c in chunks_)
    assert all("Custom Instructions" not in c.heading_path for c in chunks_)
