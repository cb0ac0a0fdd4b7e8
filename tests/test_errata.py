"""Errata: every entry matches its note line; matching survives whitespace edits; strike-through rendering."""
from pathlib import Path

from rag.errata import Erratum, load_errata, matching, render_with_errata, unmatched
from rag.notes import ChunkerSettings, load_corpus

CORPUS = Path(__file__).parent.parent / "corpus"


def test_every_erratum_matches_a_note_line():
    errata = load_errata(CORPUS)
    chunks, _ = load_corpus(CORPUS, ChunkerSettings())
    assert len(errata) == 12
    assert unmatched(errata, chunks) == []
    lines = (CORPUS / "soa-notes.md").read_text(encoding="utf-8").splitlines()
    for erratum in errata:
        assert any(matching(line, [erratum]) for line in lines), erratum.quote


def test_matching_survives_reflowed_whitespace_and_bullets():
    errata = load_errata(CORPUS)
    reflowed = "-   서버에   연결된 경우\tEIP에 대한 요금을 지불하지 않는다."
    assert matching(reflowed, errata).url.endswith("public-ip-insights/")


def test_an_edited_note_reports_the_lost_erratum(tmp_path):
    notes = tmp_path / "corpus"
    notes.mkdir()
    (notes / "errata.toml").write_text((CORPUS / "errata.toml").read_text(encoding="utf-8"), encoding="utf-8")
    text = (CORPUS / "soa-notes.md").read_text(encoding="utf-8").replace("최대 값은 1000이며", "최대 값은 1,024이며")
    (notes / "soa-notes.md").write_text(text, encoding="utf-8")
    chunks, _ = load_corpus(notes, ChunkerSettings())
    lost = unmatched(load_errata(notes), chunks)
    assert [e.quote for e in lost] == ["SurgeQueueLength. 최대 값은 1000이며"]


def test_strike_through_renders_the_wrong_part_and_bold_correction():
    errata = load_errata(CORPUS)
    text, correction = render_with_errata(
        "대기 중이며 Healthy한 인스턴스로 라우팅되는 총 요청 수이며, ASG를 확장하는 데 도움이 될 수 있는 SurgeQueueLength. 최대 값은 1000이며, 큰 요청", errata)
    assert "~~최대 값은 1000~~이며" in text
    assert correction.startswith("**정정: SurgeQueueLength의 최대값은 1,024이며") and correction.endswith(
        "(https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-cloudwatch-metrics.html)")
    assert render_with_errata("관련 없는 문장이다.", errata) == ("관련 없는 문장이다.", None)


def test_a_statement_repeats_an_erratum_only_when_it_says_the_wrong_part():
    partly = Erratum("health status는 초기 등록 중인 경우 healthy, 드레인 중인 경우 draining", "initial이다.", "u", wrong="healthy")
    assert partly.repeated_in("초기 등록 중인 대상의 health status는 healthy이다.")
    assert not partly.repeated_in("등록 해제 중인 대상의 health status는 unused이다.")  # another part of the line
    assert Erratum("EIP는 무료다.", "유료다.", "u").repeated_in("연결된 EIP는 요금이 없다.")  # the whole quote is wrong
