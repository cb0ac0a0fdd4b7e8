"""Evidence selection: which note blocks answer a question.

Question mode quotes *blocks*, the notes' own structure (`rag/blocks.py`): a
bullet with its sub-bullets, a lead-in line with its list, a prose line.
Every block of the top hits' sections is a candidate; the ranker
(`rag/ranker.py`, fit on dev) gives each the probability that it answers the
question, preferring blocks that add what the question asks for over blocks
that restate it. `select_blocks` keeps the best block and those close to it,
within the answer's length budget, and covers both sides of a comparison.

Exam and verify score *units* (one sentence of a line, `rag.notes.units_of`):
dense cosine plus a weighted share of the query's idf mass, drawn from the
same sections (`evidence_pool`). Whether the notes cover a question at all is
one rule, `out_of_scope`, shared by every mode.

Rendering the chosen evidence is `rag/compose.py`'s job.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

from rag.blocks import ANNOUNCE, Block, first_item, section_blocks
from rag.errata import Erratum, matching
from rag.index import IndexData
from rag.language import HANGUL
from rag.lexical import (CAMEL_CASE, ENGLISH, STOPWORDS, english_term, expanded_terms, heading_tokens, lucene_idf,
                         spelled_names)
from rag.params import AbstainParams, ComposeParams
from rag.ranker import FEATURES, Candidate, QuestionShape, feature_rows, shipped
from rag.retrieve import Query
from rag.types import Chunk, Hit, section_title

COMPARISON = re.compile(r"\bdifferen|\bvs\.?\b|\bcompare|\bversus\b|차이|비교|다른 점|뭐가 달라|어떻게 달라", re.IGNORECASE)


@dataclass(frozen=True)
class ScoredUnit:
    """One note line scored for a query; `index` is its row in the index's unit list."""

    index: int
    score: float
    chunk: Chunk
    line: int
    text: str


def described(unit: ScoredUnit, data: IndexData) -> ScoredUnit:
    """A bare label ("**lowestPrice**:") gives way to the line listed under it, which says what it is."""
    line = first_item(data, unit.chunk, unit.line)
    index = next((i for i in data.units_by_chunk.get(unit.chunk.chunk_id, []) if data.units[i].line == line), None)
    return unit if index is None else ScoredUnit(index, unit.score, unit.chunk, line, data.units[index].text)


def idf_mass(query_tokens: list[str], idf: dict[str, float]) -> dict[str, float]:
    """The idf of each distinct query term the notes know, in query order: look it up once per query."""
    return {t: idf[t] for t in dict.fromkeys(query_tokens) if t in idf}


def mass_share(mass: dict[str, float], tokens: list[str]) -> float:
    """Share of the query's idf mass (`idf_mass`) found in `tokens` (0..1)."""
    if not mass:
        return 0.0
    present = set(tokens)
    return sum(w for t, w in mass.items() if t in present) / sum(mass.values())


def score_units(query: Query, data: IndexData, model_id: str, unit_ids: list[int],
                idf: dict[str, float], lexical_weight: float) -> list[ScoredUnit]:
    """Each unit's match with the query: dense cosine plus weighted lexical overlap."""
    if not unit_ids:
        return []
    dense = data.unit_rows(model_id, unit_ids) @ query.vector(model_id)
    mass = idf_mass(query.tokens, idf)
    out = []
    for index, cosine in zip(unit_ids, dense):
        unit = data.units[index]
        lex = mass_share(mass, data.unit_tokens[index])
        out.append(ScoredUnit(index, float(cosine) + lexical_weight * lex, data.chunk_by_id[unit.chunk_id],
                              unit.line, unit.text))
    return out


def section_units(data: IndexData, section_key: tuple) -> list[int]:
    return [i for chunk in data.chunks_by_section.get(section_key, []) for i in data.units_by_chunk.get(chunk.chunk_id, [])]


def lecture_key(chunk: Chunk) -> tuple:
    """The section key of the chunk's lecture (its `##` ancestor), where 정리 blocks live."""
    return (chunk.source, chunk.heading_path[:2])


def evidence_pool(data: IndexData, hits: list[Hit], sections: int, lectures: int) -> list[int]:
    """Sentence indexes of the top `sections` hit sections and of the top `lectures` hits' lectures."""
    keys = list(dict.fromkeys(h.chunk.section_key for h in hits[:sections]))
    keys += [k for k in dict.fromkeys(lecture_key(h.chunk) for h in hits[:lectures]) if k not in keys]
    return list(dict.fromkeys(i for key in keys for i in section_units(data, key)))


EXAM_BOILERPLATE = frozenset("aws amazon sysop administrator admin exam soa company team engineer developer".split())
SENTENCE_START = re.compile(r"(?:^|[.?!:]\s+|\n)\s*$")


def is_name(word: str, text: str, start: int) -> bool:
    """A word with a capital that is not just sentence-initial, or with a digit ("AWS", "EC2", "50")."""
    capitals = sum(ch.isupper() for ch in word)
    initial_only = capitals == 1 and word[0].isupper() and SENTENCE_START.search(text[:start])
    return bool(capitals or any(ch.isdigit() for ch in word)) and not initial_only


def salient_words(text: str) -> dict[str, str]:
    """English names in the question (`is_name`, not a bare number), each term with the word as written."""
    words: dict[str, str] = {}
    for match in ENGLISH.finditer(text):
        word, term = match.group(), english_term(match.group())
        if (is_name(word, text, match.start()) and any(ch.isalpha() for ch in word)
                and term not in STOPWORDS and term not in EXAM_BOILERPLATE):
            words.setdefault(term, word)
    return words


def salient_terms(text: str) -> list[str]:
    """The terms of `salient_words`, in order."""
    return list(salient_words(text))


def known_name(term: str, word: str, known: set[str]) -> bool:
    """Whether the notes know a salient term. A compound is known when its parts are; in one that joins a
    name to an ordinary lowercase word ("EBS-backed", "Standard-tier") only the named parts must be."""
    if term in known:
        return True
    parts = [p for p in re.split(r"[-/]", word) if p]
    named = [p for p in parts if any(ch.isupper() or ch.isdigit() for ch in p)]
    return len(parts) > 1 and all(english_term(p) in known for p in (named or parts))


COMMON_WORD_ZIPF = 3.0  # an English word met at least once per million words (wordfreq's Zipf scale)


def incidental(word: str, text: str) -> bool:
    """An ordinary English word that happens to be capitalised ("OK", "MacBook", "Chrome", "Ubuntu") and
    stands alone, not inside a name of several words ("Tag Editor", "ENA Express", "AWS Fargate"): it does
    not make a question out of scope. Rare words (OIDC, PrivateLink, Fargate) always count. On dev no
    question changes between zipf 2.5 and 4.0; 3.0 is the once-per-million line."""
    if not word.isalpha():
        return False
    from wordfreq import zipf_frequency  # loads its word list on first use (~0.2 s); most questions never ask
    if zipf_frequency(word.lower(), "en") < COMMON_WORD_ZIPF:
        return False
    for match in ENGLISH.finditer(text):
        if match.group() != word:
            continue
        before = re.search(r"([A-Za-z0-9][A-Za-z0-9.\-_/:]*)[\s(]+$", text[:match.start()])
        after = re.match(r"[\s)]+([A-Za-z0-9][A-Za-z0-9.\-_/:]*)", text[match.end():])
        if (before and is_name(before.group(1), text, before.start(1))
                or after and is_name(after.group(1), text, match.end() + after.start(1))):
            return False
    return True


def unknown_terms(text: str, data: IndexData) -> tuple[list[str], int]:
    """Salient terms of `text` that never occur in the notes, and how many salient terms there are."""
    words = {t: w for t, w in salient_words(text).items() if t in data.known_terms or not incidental(w, text)}
    return [t for t, word in words.items() if not known_name(t, word, data.known_terms)], len(words)


MARKUP = re.compile(r"<[^>]{0,200}>|&[a-z]+;|[ㄱ-ㅎㅏ-ㅣ]+")  # HTML tags and entities, bare jamo (ㅋㅋ, ㅠㅠ)


def known_mass(text: str, data: IndexData, idf: dict[str, float]) -> tuple[float, bool]:
    """How much the notes know of `text`'s words, and whether it names an English term the notes use (in
    English or in its Hangul spelling, `spelled_names`).

    The mass is the words' summed BM25 idf (markup stripped) in units of the idf of a word found in one
    chunk, so it reads the same for a small notes file and a large one. Junk, keyboard mash and small talk
    know almost nothing.
    """
    cleaned = MARKUP.sub(" ", text)
    rare = math.log(1 + (len(data.chunks) + 0.5) / 1.5)
    mass = sum(idf.get(t, 0.0) for t in expanded_terms(cleaned)) / rare
    names = [*salient_terms(cleaned), *(w for name in spelled_names(cleaned) for w in name.split())]
    return mass, any(t in data.known_terms for t in names)


IDENTIFIER_CHUNKS = 3  # a camelCase name found in at most this many chunks is one thing the notes explain


def names_identifier(text: str, data: IndexData, idf: dict[str, float]) -> bool:
    """Whether `text` names a camelCase identifier the notes use in only a few chunks (`SurgeQueueLength`,
    `BlockDuration`): "What is HealthyHostCount?" is covered however little else it says. Service names
    (`CloudWatch`) occur too often to count."""
    rare = lucene_idf(len(data.chunks), IDENTIFIER_CHUNKS)
    terms = (english_term(m.group()) for m in ENGLISH.finditer(text) if CAMEL_CASE.fullmatch(m.group()))
    return any(term in idf and idf[term] >= rare for term in terms)


def out_of_scope(best_similarity: float, unknown_share: float, params: AbstainParams,
                 mass: float = float("inf"), names_known_term: bool = True, names_identifier: bool = False) -> bool:
    """The one rule that says the notes do not cover a text: nothing close enough (unless it names one of
    the notes' identifiers), names the notes lack, or words the notes barely know."""
    return ((best_similarity < params.similarity and not names_identifier) or unknown_share >= params.unknown_terms
            or (mass < params.min_known_mass and not names_known_term))


@dataclass(frozen=True)
class Evidence:
    """The blocks chosen for an answer, grouped by topic section, and the signals about coverage."""

    topics: list[tuple[Chunk, list[Block]]]
    summary: list[ScoredUnit]
    best_similarity: float
    unknown_share: float
    unknown: tuple[str, ...] = ()
    top_probability: float = 0.0  # the ranker's probability that the best block answers the question
    known_mass: float = float("inf")  # see `known_mass`
    names_known_term: bool = True
    names_identifier: bool = False  # see `names_identifier`

    def covers(self, params: AbstainParams) -> bool:
        return bool(self.topics) and not out_of_scope(self.best_similarity, self.unknown_share, params,
                                                      self.known_mass, self.names_known_term, self.names_identifier)

    @property
    def blocks(self) -> tuple[Block, ...]:
        return tuple(b for _, blocks in self.topics for b in blocks)


def candidate_sections(hits: list[Hit], limit: int) -> list[tuple]:
    """Section keys of the top `limit` hits, best first, without repeats."""
    return list(dict.fromkeys(h.chunk.section_key for h in hits[:limit]))


NAMING_HEADINGS = 3  # a heading word found in at most this many headings names one thing ("alb", "spread")


def heading_names(heading: str, token: str) -> bool:
    """Whether `heading` holds the question's `token`; `on-demand` also matches "On Demand"."""
    if token in heading_tokens(heading):
        return True
    parts = token.split("-")
    return len(parts) > 1 and bool(re.search(r"(?<![a-z0-9])" + r"[\s-]?".join(map(re.escape, parts)) + r"(?![a-z0-9])",
                                             heading.lower()))


def named_sections(query: Query, data: IndexData) -> list[tuple]:
    """The sections the question names, in question order.

    A thing is named by a question word that few headings hold ("NLB vs ALB?": `alb` is in one heading,
    `load` in a dozen); its section is the most specific of those (the fewest heading words).
    """
    keys = [key for key in data.chunks_by_section if len(key[1]) > 1]
    names = {key: section_title(key[1]) for key in keys}
    titles = set(names.values())
    out: list[tuple] = []
    for token in dict.fromkeys(query.tokens):
        naming = {name for name in titles if heading_names(name, token)}
        if 0 < len(naming) <= NAMING_HEADINGS:
            best = min(naming, key=lambda name: (len(heading_tokens(name)), name))
            out.append(min((key for key in keys if names[key] == best), key=lambda key: (len(key[1]), key)))
    return list(dict.fromkeys(out))


def compared_sections(query: Query, data: IndexData) -> list[tuple]:
    """For a question that compares things, the section that names each of them (`named_sections`).
    Retrieval alone finds the side the question's words favour ("ALB에 비해 …" lines sit under NLB)."""
    return named_sections(query, data) if COMPARISON.search(query.text) else []


BARE_LINK = re.compile(r"^\S*https?://\S+$")  # a line that is only a link says nothing an answer can quote


def candidate_blocks(query: Query, hits: list[Hit], data: IndexData, model_id: str, idf: dict[str, float],
                     params: ComposeParams = ComposeParams(), compared: list[tuple] = ()) -> list[Candidate]:
    """Every block of the top hits' sections and of the `compared` ones, with its measured signals."""
    query_vector = query.vector(model_id)
    query_tokens = set(query.tokens)
    mass = idf_mass(query.tokens, idf)
    out = []
    for rank, key in enumerate(dict.fromkeys([*candidate_sections(hits, params.candidate_hits), *compared])):
        heading = heading_tokens(section_title(key[1])) if len(key[1]) > 1 else frozenset()
        named = len(query_tokens & heading) / len(heading) if heading else 0.0
        blocks = [b for b in section_blocks(data, key) if b.units and not BARE_LINK.match(b.text.strip())]
        ids = [i for b in blocks for i in b.units]
        similarity = dict(zip(ids, data.unit_rows(model_id, ids) @ query_vector))
        dense = [max(float(similarity[i]) for i in b.units) for b in blocks]
        for k, block in enumerate(blocks):
            ids = list(block.units)
            tokens = frozenset(t for i in ids for t in data.unit_tokens[i])
            out.append(Candidate(block, dense[k], max(mass_share(mass, data.unit_tokens[i]) for i in ids),
                                 mass_share(mass, tokens), tokens, rank, named,
                                 dense[k - 1] if k else dense[k], dense[k + 1] if k + 1 < len(blocks) else dense[k]))
    return out


def rank_blocks(query: Query, candidates: list[Candidate]) -> list[tuple[float, Candidate]]:
    """Candidates with the shipped ranker's probability that they answer the question, best first."""
    shape = QuestionShape.of(query.text, query.tokens)
    probabilities = shipped("ranker", FEATURES).probabilities(feature_rows(shape, candidates))
    return sorted(zip(probabilities.tolist(), candidates), key=lambda pair: (-pair[0], pair[1].block.first_line))


def rank_answers(query: Query, candidates: list[Candidate]) -> list[tuple[float, Candidate]]:
    """`rank_blocks` over the candidates that can answer: 정리 blocks only when there is nothing else."""
    return rank_blocks(query, [c for c in candidates if not c.block.chunk.is_summary] or candidates)


def subsections(data: IndexData, parent: tuple) -> list[tuple]:
    """The section keys right under `parent` (a section key), in note order."""
    return [k for k in data.chunks_by_section if k[0] == parent[0] and k[1][:-1] == parent[1]]


ASKS_KINDS = re.compile(r"\b(?:types?|kinds?|sorts?|options|strateg(?:y|ies))\b|종류|유형|전략|옵션", re.IGNORECASE)
OUTLINE_NAMED = 0.5  # share of a section heading's words the question must use for its subsections to be "the kinds"


def kinds_outline(query: Query, chosen: list[Block], data: IndexData, params: ComposeParams) -> list[Block] | None:
    """For "what are the types of X?", the notes' own outline when X is a section whose subsections are the
    kinds ("EC2 Placement Groups" → Cluster, Spread, Partition): the blocks chosen from X itself, then the
    first block of each subsection, in note order. None when the question asks for no kinds, names one of the
    subsections, or names no section the best block sits in (or under) that has 2 to `max_topics` subsections."""
    if not chosen or not ASKS_KINDS.search(query.text):
        return None
    words = set(query.tokens)
    key = chosen[0].chunk.section_key
    for parent in (key, (key[0], key[1][:-1])):
        heading = heading_tokens(parent[1][-1]) if len(parent[1]) > 1 else frozenset()
        children = subsections(data, parent)
        named = bool(heading) and len(words & heading) >= OUTLINE_NAMED * len(heading)
        if not named or not 2 <= len(children) <= params.max_topics:
            continue
        titles = [heading_tokens(k[1][-1]) for k in children]
        if any(words & (own - frozenset().union(*(t for t in titles if t is not own))) for own in titles):
            return None  # it names one of them ("what kind of metadata does SSM Inventory collect?"): about that one
        firsts = [next((b for b in section_blocks(data, k) if b.units), None) for k in children]
        if all(firsts):
            return [b for b in chosen if b.chunk.section_key == parent] + firsts
    return None


def named_first(topics: list[tuple[Chunk, list[Block]]], named: list[tuple]) -> list[tuple[Chunk, list[Block]]]:
    """Topics in rank order, except that among sibling sections (under one lecture's heading) the ones the
    question names come first, in its order: "What is a spread placement group?" leads with Spread even when
    a Partition line that mentions Spread ranked best. Lectures side by side keep their rank order."""
    def order(topic: tuple[Chunk, list[Block]]) -> int:
        key = topic[0].section_key
        return named.index(key) if key in named else len(named)
    groups: dict[tuple, list[int]] = {}
    for position, (chunk, _) in enumerate(topics):
        parent = chunk.section_key[1][:-1]
        if len(parent) > 1:
            groups.setdefault((chunk.section_key[0], parent), []).append(position)
    out = list(topics)
    for positions in groups.values():
        for position, topic in zip(positions, sorted((topics[p] for p in positions), key=order)):
            out[position] = topic
    return out


def gather_evidence(query: Query, hits: list[Hit], data: IndexData, model_id: str,
                    idf: dict[str, float], params: ComposeParams = ComposeParams(),
                    focus: Query | None = None, errata: Sequence[Erratum] = ()) -> Evidence:
    """The best blocks among the top hits' sections, grouped by section in note order, and the TL;DR lines.

    `focus` is the follow-up message alone: the sections come from the whole retrieval text (`query`, with
    the conversation's context), but the blocks and the TL;DR lines are ranked by what the new message asks.
    """
    compared = compared_sections(focus or query, data)
    candidates = candidate_blocks(query, hits, data, model_id, idf, params, compared)
    if focus is not None:
        candidates, covered = candidate_blocks(focus, hits, data, model_id, idf, params, compared), candidates
    else:
        covered = candidates
    focus = focus or query
    ranked = rank_answers(focus, candidates)
    chosen = select_blocks(focus, ranked, params, compared, hits)
    chosen = kinds_outline(focus, chosen, data, params) or chosen
    by_section: dict[tuple, list[Block]] = {}
    for block in chosen:
        by_section.setdefault(block.chunk.section_key, []).append(block)
    topics = named_first([(blocks[0].chunk, sorted(blocks, key=lambda b: b.first_line)) for blocks in by_section.values()],
                         compared or named_sections(focus, data))  # a comparison's are its named ones
    summary = tldr_lines(focus, chosen, data, model_id, idf, params, errata)
    unknown, total = unknown_terms(focus.text, data)  # a follow-up's context was vetted in its own turn
    best_similarity = max((c.dense for c in covered if not c.block.chunk.is_summary), default=-1.0)
    mass, names_known = known_mass(query.text, data, idf)
    return Evidence(topics, summary, best_similarity, len(unknown) / max(total, 1),
                    tuple(unknown), ranked[0][0] if ranked else 0.0, mass, names_known,
                    names_identifier(query.text, data, idf))


def tldr_lines(focus: Query, chosen: list[Block], data: IndexData, model_id: str, idf: dict[str, float],
               params: ComposeParams, errata: Sequence[Erratum] = ()) -> list[ScoredUnit]:
    """The TL;DR: the best lines of the 정리 block of the main topic's lecture that the answer does not already
    say (another topic's summary would sum up something else) and that keep to the answer's point (each scores
    within `summary_floor` of the best quoted sentence), or, without one, the best block's best sentence (or the
    best quoted one). A line the errata correct is never the TL;DR: the body shows it struck through."""
    if not chosen:
        return []
    used_lines = {line.number for block in chosen for line in block.lines}
    quoted = [set(data.unit_tokens[i]) for block in chosen for i in block.units]
    ids = [i for chunk in data.chunks_by_section.get(lecture_key(chosen[0].chunk), []) if chunk.is_summary
           for i in data.units_by_chunk.get(chunk.chunk_id, []) if data.units[i].line not in used_lines
           and not repeats(set(data.unit_tokens[i]), quoted)]

    def fit(units: list[ScoredUnit]) -> list[ScoredUnit]:
        return [u for u in units if says_something(u.text) and matching(u.text, errata) is None]

    lines = fit(answer_language_first(score_units(focus, data, model_id, ids, idf, params.lexical_weight)))
    body = score_units(focus, data, model_id, [i for block in chosen for i in block.units], idf, params.lexical_weight)
    floor = max(u.score for u in body) - params.summary_floor
    best = sorted((u for u in lines if u.score >= floor), key=lambda u: -u.score)[:params.summary_lines]
    if best:
        tokens = {u.index: set(data.unit_tokens[u.index]) for u in best}
        return [u for u in best  # of two lines where one restates the other, the one that says more
                if not any(len(o.text) > len(u.text) and repeats(tokens[u.index], [tokens[o.index]]) for o in best)]
    return sorted(fit([u for u in body if u.index in chosen[0].units]) or fit(body), key=lambda u: -u.score)[:1]


def select_blocks(query: Query, ranked: list[tuple[float, Candidate]], params: ComposeParams,
                  compared: list[tuple] = (), hits: list[Hit] = ()) -> list[Block]:
    """The top block, then blocks close to it in probability, within the topic, block and length budgets; a
    block from a lecture other than the top block's and the top hit's (which carries a follow-up's topic) must
    come closer (`other_lecture_ratio`).

    A question that compares things gets the best block of each `compared` section (`compared_sections`).
    """
    if not ranked:
        return []
    lead = ranked[0][0]
    lectures = {lecture_key(ranked[0][1].block.chunk), *(lecture_key(hit.chunk) for hit in hits[:1])}
    chosen: list[Block] = [ranked[0][1].block]
    for key in compared[:params.max_topics]:
        if all(b.chunk.section_key != key for b in chosen):
            chosen += [c.block for _, c in ranked if c.block.chunk.section_key == key][:1]
    length = sum(len(b.text) for b in chosen)
    for probability, candidate in ranked[1:]:
        block = candidate.block
        sections = {b.chunk.section_key for b in chosen}
        if len(chosen) >= params.max_blocks or probability < params.keep_ratio * lead:
            break
        if block in chosen or length + len(block.text) > params.max_answer_chars:
            continue
        if block.chunk.section_key not in sections and len(sections) >= params.max_topics:
            continue
        if (lecture_key(block.chunk) not in lectures and block.chunk.section_key not in compared
                and probability < params.other_lecture_ratio * lead):
            continue
        chosen.append(block)
        length += len(block.text)
    return chosen


REPEAT_SHARE = 0.8  # a 정리 line with this share of its tokens in one quoted sentence restates it (0.7-0.9 same on dev)


def repeats(tokens: set[str], quoted: list[set[str]]) -> bool:
    """Whether a sentence's tokens are mostly in one quoted sentence: a 정리 line restating the body."""
    return bool(tokens) and any(len(tokens & q) >= REPEAT_SHARE * len(tokens) for q in quoted)


TLDR_MIN_CHARS = 20  # shorter lines are titles or list items ("패치 베이스라인"), not a summary


CASE_LABEL = re.compile(r"(?:[:：]|[가-힣]\s*(?:경우|때))\s*$")  # ends on a colon or on "…하는 경우/때" with no predicate


def says_something(text: str) -> bool:
    """A line that can stand as a TL;DR: a statement, not a title, a lead-in to a list ("할당 전략:"), the
    label of a case ("EC2 Instance Connect를 사용하는 경우") or an announcement ("에러 유형을 살펴보자")."""
    return len(text.strip()) >= TLDR_MIN_CHARS and not CASE_LABEL.search(text) and not ANNOUNCE.search(text)


def answer_language_first(units: list[ScoredUnit]) -> list[ScoredUnit]:
    """The TL;DR is prose in the answer's language (Korean); notes in another language offer their own lines."""
    return [u for u in units if HANGUL.search(u.text)] or [u for u in units if u.chunk.lang != "ko"]
