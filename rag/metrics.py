"""Evaluation metrics as plain functions over dicts (the JSON of answers and hits).

Relevance is at section level: a hit is relevant when any heading on its
path equals any gold heading after normalisation (strip `\\`, `**` and
surrounding space; NFC). Hits are de-duplicated by section before ranking.
"""
from __future__ import annotations

import math
import re
import statistics
import unicodedata

CITATION = re.compile(r"\[(\d+)\]")
HANGUL = re.compile(r"[가-힣]")
STRUCK = re.compile(r"~~(.+?)~~")


def normalise_heading(text: str) -> str:
    return unicodedata.normalize("NFC", text.replace("\\", "").replace("**", "").strip())


def is_relevant(hit: dict, gold_headings: list[str]) -> bool:
    gold = {normalise_heading(h) for h in gold_headings}
    return any(normalise_heading(h) in gold for h in hit["heading_path"])


def section_ranking(hits: list[dict]) -> list[dict]:
    """Hits in rank order with later hits of an already seen section dropped."""
    seen, out = set(), []
    for hit in sorted(hits, key=lambda h: h["rank"]):
        key = (hit["source"], tuple(hit["heading_path"]))
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out


def relevance_vector(hits: list[dict], gold_headings: list[str], k: int = 10) -> list[int]:
    return [int(is_relevant(h, gold_headings)) for h in section_ranking(hits)[:k]]


def recall_at(relevance: list[int], k: int) -> float:
    """1.0 when a relevant section is among the first k, else 0.0."""
    return float(any(relevance[:k]))


def mrr_at(relevance: list[int], k: int = 10) -> float:
    for rank, rel in enumerate(relevance[:k], 1):
        if rel:
            return 1.0 / rank
    return 0.0


def ndcg_at(relevance: list[int], k: int = 10) -> float:
    """Binary nDCG; the ideal ranking puts every retrieved relevant section first."""
    rel = relevance[:k]
    dcg = sum(r / math.log2(i + 2) for i, r in enumerate(rel))
    ideal = sum(1 / math.log2(i + 2) for i in range(max(sum(rel), 1)))
    return dcg / ideal if sum(rel) else 0.0


def body_of(markdown: str) -> str:
    return markdown.split("\n출처\n")[0]


def citation_validity(answer: dict) -> float:
    """1.0 when every `[n]` in the answer body resolves to a listed citation."""
    used = {int(n) for n in CITATION.findall(body_of(answer["answer_markdown"]))}
    listed = {c["n"] for c in answer["citations"]}
    return float(used <= listed)


def citation_precision(answer: dict, gold_headings: list[str]) -> float | None:
    """Share of cited sources that lie in a gold section; None when nothing is cited."""
    cited = answer["citations"]
    if not cited:
        return None
    return sum(is_relevant(c, gold_headings) for c in cited) / len(cited)


def key_term_coverage(markdown: str, key_terms: list[str]) -> float | None:
    if not key_terms:
        return None
    text = body_of(markdown).lower()
    return sum(term.lower() in text for term in key_terms) / len(key_terms)


def is_korean_prose(markdown: str) -> bool:
    """The composer's prose is Korean: every TL;DR line and at least half of all bullet lines hold Hangul.

    English AWS terms inside Korean sentences are fine, as the notes use them; headings are note titles
    and are not prose.
    """
    body = body_of(markdown)  # struck-through note sentences are still Korean prose
    bullets = [line for line in body.split("\n") if line.lstrip().startswith("- ")]
    tldr = body.split("**TL;DR**", 1)[1] if "**TL;DR**" in body else ""
    tldr_lines = [line for line in tldr.split("\n") if line.startswith("- ")]
    korean = [bool(HANGUL.search(line)) for line in bullets]
    return bool(bullets) and sum(korean) >= len(korean) / 2 and all(HANGUL.search(line) for line in tldr_lines)


def format_compliance(markdown: str) -> float:
    """1.0 for: a bold overview title, at least one bold topic title, a TL;DR, cited bullets, Korean prose."""
    lines = [line for line in body_of(markdown).split("\n") if line.strip() and not line.startswith(">")]
    titles = [line for line in lines if re.fullmatch(r"\*\*[^*].*\*\*", line.strip())]
    has_overview = bool(titles) and lines[0] == titles[0]
    topics = [t for t in titles[1:] if t.strip() != "**TL;DR**"]
    has_tldr = "**TL;DR**" in lines
    bullets = [line for line in lines if line.startswith("- ")]
    cited = bool(bullets) and all(CITATION.search(line) for line in bullets)
    return float(has_overview and bool(topics) and has_tldr and cited and is_korean_prose(markdown))


def struck_spans(markdown: str) -> list[str]:
    return STRUCK.findall(body_of(markdown))


def strike_hits(markdown: str, wrong_span: str) -> bool:
    """True when a struck-through span overlaps the gold wrong span."""
    target = wrong_span.lower().strip()
    for span in struck_spans(markdown):
        span = span.lower().strip()
        if span and (span in target or target in span):
            return True
    return False


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
