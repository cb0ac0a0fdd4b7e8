"""Evaluation metrics as plain functions over dicts (the JSON of answers and hits).

Section relevance comes in two grains:

- *lenient*: a hit is relevant when any heading on its path equals any gold
  heading after normalisation (strip `\\`, `**` and surrounding space; NFC),
  so a lecture-level parent heading accepts every section under it;
- *strict*: a hit is relevant only when it lies in the section whose lines
  hold the gold evidence sentence (`sections` below are `(source,
  heading_path)` keys, found by the harness from the index's chunks).

Evidence recall works below the section: a hit chunk holds the evidence when
its line span contains the evidence line. Hits are de-duplicated by section
before section ranking; chunk ranking keeps every hit.

Every proportion gets a Wilson 95% interval (`wilson`).
"""
from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections import defaultdict

CITATION = re.compile(r"\[(\d+)\]")
SOURCE_LINE = re.compile(r"^\[(\d+)\]\s")
HANGUL = re.compile(r"[가-힣]")
STRUCK = re.compile(r"~~(.+?)~~")
BOLD_LINE = re.compile(r"\*\*[^*].*\*\*")
EXAM_HEAD = re.compile(r"\*\*정답: [A-Z]")
BULLET = re.compile(r"^(\s*)- (.*)$")
CODE_SPAN = re.compile(r"`[^`]*`")
URL = re.compile(r"https?://\S+|\S*[/_=]\S*")  # links, paths and identifiers are code, not prose
LABEL = re.compile(r"^[^:—]{1,30}?(?::|\s—)\s+")  # "정답은 B: ", "**A** (오답) — ", "틀린 이유: "
ESCAPE = re.compile(r"\\(.)")
MARKUP = re.compile(r"[*~`#>\\]")
SPACE = re.compile(r"\s+")
PROSE_LETTERS = 15
EVIDENCE_SHARE = 0.8
Z95 = 1.959963984540054


# ---- retrieval -----------------------------------------------------------------------------
def normalise_heading(text: str) -> str:
    return unicodedata.normalize("NFC", text.replace("\\", "").replace("**", "").strip())


def is_relevant(hit: dict, gold_headings: list[str]) -> bool:
    """Lenient section relevance: any heading on the hit's path is a gold heading."""
    gold = {normalise_heading(h) for h in gold_headings}
    return any(normalise_heading(h) in gold for h in hit["heading_path"])


def section_key(hit: dict) -> tuple[str, tuple[str, ...]]:
    return hit["source"], tuple(hit["heading_path"])


def section_ranking(hits: list[dict]) -> list[dict]:
    """Hits in rank order with later hits of an already seen section dropped."""
    seen, out = set(), []
    for hit in sorted(hits, key=lambda h: h["rank"]):
        if section_key(hit) not in seen:
            seen.add(section_key(hit))
            out.append(hit)
    return out


def relevance_vector(hits: list[dict], gold_headings: list[str], k: int = 10) -> list[int]:
    """Lenient relevance of the first k distinct sections."""
    return [int(is_relevant(h, gold_headings)) for h in section_ranking(hits)[:k]]


def strict_relevance_vector(hits: list[dict], sections: set[tuple], k: int = 10) -> list[int]:
    """Strict relevance of the first k distinct sections: only the sections holding the evidence line count."""
    return [int(section_key(h) in sections) for h in section_ranking(hits)[:k]]


def holds_line(hit: dict, lines: set[tuple[str, int]]) -> bool:
    """True when the hit chunk's line span holds one of the (source, line) evidence lines."""
    return any(hit["source"] == source and hit["line_start"] <= line <= hit["line_end"] for source, line in lines)


def evidence_vector(hits: list[dict], lines: set[tuple[str, int]], k: int = 10) -> list[int]:
    """Per hit chunk in rank order (no de-duplication), whether it holds the evidence line."""
    return [int(holds_line(h, lines)) for h in sorted(hits, key=lambda h: h["rank"])[:k]]


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


# ---- answers ---------------------------------------------------------------------------------
def body_of(markdown: str) -> str:
    """The answer before its 출처 list."""
    return markdown.split("\n출처\n")[0]


def sources_of(markdown: str) -> str:
    return markdown.split("\n출처\n", 1)[1] if "\n출처\n" in markdown else ""


def citation_validity(answer: dict) -> float:
    """1.0 when every `[n]` the answerer wrote resolves to a listed citation.

    The engine removes markers that resolve to nothing and counts them in `citations_dropped`;
    a dropped marker was an invalid citation, so it fails the answer too.
    """
    used = {int(n) for n in CITATION.findall(body_of(answer["answer_markdown"]))}
    listed = {c["n"] for c in answer["citations"]}
    return float(used <= listed and not answer.get("citations_dropped"))


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


def _plain(text: str) -> str:
    """Text without citation marks, markdown emphasis, escapes and extra spaces."""
    text = ESCAPE.sub(r"\1", CITATION.sub("", text.replace("**", "").replace("~~", "")))
    return SPACE.sub(" ", text).strip()


def quotes_user(bullet_text: str, user_text: str) -> bool:
    """True when a bullet only repeats the user's own words (verify mode quotes the statement)."""
    plain = _plain(bullet_text).rstrip(".")
    return bool(user_text) and len(plain) >= 4 and plain in _plain(user_text)


def bullet_prose(bullet_text: str) -> str:
    """What a bullet says in its own words: no template labels, markdown, citations, code or links."""
    text = URL.sub("", CODE_SPAN.sub("", _plain(bullet_text)))
    while (label := LABEL.match(text)) is not None:
        text = text[label.end():]
    return text


def bullet_is_korean(bullet_text: str) -> bool:
    """A prose bullet of 15 or more letters carries Hangul; shorter ones and code lines pass."""
    prose = bullet_prose(bullet_text)
    return sum(ch.isalpha() for ch in prose) < PROSE_LETTERS or bool(HANGUL.search(prose))


def is_korean_prose(markdown: str, user_text: str = "") -> bool:
    """The answer has bullets, and every prose bullet of 15+ letters that is not the user's own words carries Hangul."""
    bullets = [m.group(2) for line in body_of(markdown).split("\n") if (m := BULLET.match(line))]
    return bool(bullets) and all(quotes_user(b, user_text) or bullet_is_korean(b) for b in bullets)


def _paragraphs(body: str) -> list[list[str]]:
    paragraphs, current = [], []
    for line in body.split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            paragraphs.append(current)
            current = []
    return paragraphs + ([current] if current else [])


def format_problems(markdown: str, user_text: str = "") -> list[str]:
    """Where the answer leaves the user's format; empty when it follows it.

    The format: an overview title (a bold line alone), one or more topics (a bold title and its
    bullets, at least one bullet cited), a `**TL;DR**` with at least one bullet, and a 출처 list
    whose numbers are exactly the numbers cited in the body. Every prose bullet of 15+ letters
    carries Hangul; template labels (`**A** (오답) — 노트:`, `정답은 B:`), code, links and bullets
    that only quote the user's own words (`user_text`, as verify mode does) are not prose.
    Exam answers open with `**정답: X**` (and, when unsure, a bold notice) above the overview title.
    """
    body = body_of(markdown)
    paragraphs = [p for p in _paragraphs(body) if not p[0].startswith(">")]  # notices such as truncation
    problems = []
    if paragraphs and EXAM_HEAD.match(paragraphs[0][0]) and len(paragraphs[0]) == 1:
        paragraphs = paragraphs[1:]
        while len(paragraphs) > 1 and len(paragraphs[1]) == 1 and BOLD_LINE.fullmatch(paragraphs[1][0]):
            paragraphs = paragraphs[1:]  # the uncertainty notice sits between the head and the overview
    if not paragraphs or len(paragraphs[0]) != 1 or not BOLD_LINE.fullmatch(paragraphs[0][0].strip()):
        problems.append("no overview title (a bold line alone) at the top")
    rest = paragraphs[1:]
    tldr = [p for p in rest if p[0].strip() == "**TL;DR**"]
    topics = [p for p in rest if p[0].strip() != "**TL;DR**"]
    if any(not BOLD_LINE.fullmatch(p[0].strip()) or len(p) < 2 for p in topics):
        problems.append("a paragraph between the overview and the TL;DR is not a bold topic title with lines")
    if not any(BULLET.match(line) and not BULLET.match(line).group(1) and CITATION.search(line)
               for p in topics for line in p[1:]):
        problems.append("no topic with a cited bullet")
    if len(tldr) != 1 or not any(BULLET.match(line) for line in tldr[0][1:]):
        problems.append("no TL;DR with a bullet")
    cited = {int(n) for n in CITATION.findall(body)}
    listed = {int(m.group(1)) for line in sources_of(markdown).split("\n") if (m := SOURCE_LINE.match(line))}
    if not listed or cited != listed:
        problems.append(f"출처 list {sorted(listed)} does not match the cited numbers {sorted(cited)}")
    if not is_korean_prose(markdown, user_text):
        problems.append("a prose bullet of 15+ letters has no Hangul")
    return problems


def format_compliance(markdown: str, user_text: str = "") -> float:
    """1.0 when the answer follows the user's format (see `format_problems`)."""
    return float(not format_problems(markdown, user_text))


def answer_text(markdown: str, user_text: str = "") -> str:
    """The answer body without the bullets that only quote the user's own words."""
    lines = [line for line in body_of(markdown).split("\n")
             if not ((m := BULLET.match(line)) and quotes_user(m.group(2), user_text))]
    return "\n".join(lines)


def _squeezed(text: str) -> str:
    """Text for evidence matching: no bullets, citations, markdown or whitespace; case-folded."""
    lines = [BULLET.sub(r"\2", line) for line in text.split("\n")]
    return SPACE.sub("", MARKUP.sub("", CITATION.sub("", "\n".join(lines)))).casefold()


def _grams(text: str, n: int = 4) -> set[str]:
    return {text[i:i + n] for i in range(len(text) - n + 1)} if len(text) >= n else {text}


def evidence_share(markdown: str, evidence: str, user_text: str = "") -> float:
    """Share of the evidence sentence's character 4-grams found in the answer body (user quotes left out)."""
    wanted = _grams(_squeezed(evidence))
    found = _grams(_squeezed(answer_text(markdown, user_text)))
    return len(wanted & found) / len(wanted) if wanted else 0.0


def evidence_in_answer(markdown: str, evidence: str, user_text: str = "") -> bool:
    """True when at least 80% of the evidence sentence's character 4-grams are in the answer body."""
    return evidence_share(markdown, evidence, user_text) >= EVIDENCE_SHARE


def struck_spans(markdown: str) -> list[str]:
    return STRUCK.findall(body_of(markdown))


def _words(text: str) -> list[str]:
    return [w for w in (w.strip(".,;:!?()\"'").lower() for w in text.split()) if w]


def _covers(struck_words: list[str], word: str) -> bool:
    """A struck word is the wrong span's word, possibly with a Korean particle after it."""
    return any(s == word or (s.startswith(word) and HANGUL.fullmatch(s[len(word):]) and len(s) - len(word) <= 2)
               for s in struck_words)


def strike_hits(markdown: str, wrong_span: str) -> bool:
    """Strict: a struck span covers at least half of the wrong span's words and is at most 3× its length."""
    target = _words(wrong_span)
    if not target:
        return False
    for span in struck_spans(markdown):
        struck = _words(span)
        covered = sum(_covers(struck, w) for w in target)
        if covered >= len(target) / 2 and len(span.strip()) <= 3 * len(wrong_span.strip()):
            return True
    return False


def strike_hits_loose(markdown: str, wrong_span: str) -> bool:
    """The old rule, kept for one run's comparison: either text contains the other."""
    target = wrong_span.lower().strip()
    for span in struck_spans(markdown):
        span = span.lower().strip()
        if span and (span in target or target in span):
            return True
    return False


# ---- aggregates --------------------------------------------------------------------------------
def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion; None when there are no trials."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def balanced_accuracy(outcomes: list[tuple[object, bool]]) -> float | None:
    """Mean over gold classes of the accuracy within each class; `outcomes` are (gold class, correct)."""
    by_class: dict[object, list[bool]] = defaultdict(list)
    for gold, correct in outcomes:
        by_class[gold].append(correct)
    return sum(sum(v) / len(v) for v in by_class.values()) / len(by_class) if by_class else None


def majority_share(labels: list) -> float | None:
    """Accuracy of always answering the most common gold label."""
    if not labels:
        return None
    return max(labels.count(label) for label in set(labels)) / len(labels)


def risk_coverage(outcomes: list[tuple[float | None, bool]]) -> list[tuple[float, float, float | None]]:
    """(coverage, accuracy, confidence threshold) points, answering the most confident first.

    Answers without a confidence carry no ranking information: they join as one block at the end.
    Tied confidences join together, so each point is a threshold the answerer could really use.
    """
    ranked = sorted(outcomes, key=lambda o: -math.inf if o[0] is None else o[0], reverse=True)
    points, correct = [], 0
    for i, (confidence, ok) in enumerate(ranked, 1):
        correct += ok
        if i == len(ranked) or ranked[i][0] != confidence:
            points.append((i / len(ranked), correct / i, confidence))
    return points


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
