"""Korean + English lexical analysis and Okapi BM25 on bm25s.

English AWS terms (`m5.large`, `InsufficientInstanceCapacity`, `L7`) stay
whole: a regex takes them first, lower-cased and with a plural `s` dropped.
A camelCase name also yields its words (`InstanceTerminatesImmediately` →
instance, terminate, immediately), so a question in plain words finds it.
Korean text goes through kiwipiepy's morphological analyser, keeping
content morphemes (nouns, verb and adjective stems, roots). Korean AWS terms
from the glossary are registered as user words so `온디맨드` stays one token.
The glossary also expands a query with the other language's terms.

`BM25` keeps these tokens in a bm25s sparse score matrix (one precomputed
score per document and term), saved as plain little-endian arrays plus a
vocabulary JSON and memory-mapped on load: a query reads only the postings
of its own terms, so a million chunks answer in milliseconds.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import bm25s
import numpy as np

from rag.progress import Progress, silent

ENGLISH = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[.\-_/:][A-Za-z0-9]+)*|\d+(?:\.\d+)?")
HANGUL = re.compile(r"[가-힣]")
CAMEL_PART = re.compile(r"[A-Z]?[a-z]+")
CAMEL_CASE = re.compile(r"(?:[A-Z]?[a-z]+)(?:[A-Z][a-z]+)+")  # SurgeQueueLength, lowestPrice
KEEP_TAGS = ("NNG", "NNP", "NNB", "VV", "VA", "XR", "SH", "MAG")
STOPWORDS = frozenset(
    "a an the of to in on at for and or is are was were be been do does did can could should would will "
    "what which who whom how why when where i my me we you your it its this that these those with by from "
    "as if than then there their they them into out up about so not no yes any all per each many much "
    "use used using need needs get gets have has had there here s vs e.g".split()
)
KOREAN_STOP = frozenset("것 수 등 때 경우 이 그 저 뭐 무엇 어떻게 왜 하 있 되 않 없 알 대하 위하 통하 알려주 설명".split())


@dataclass(frozen=True)
class GlossaryEntry:
    english: str
    korean: str
    general: bool = False  # an ordinary word (below GENERAL_MARKER), not an AWS term
    spelling: bool = False  # a Hangul spelling of the English name (below SPELLING_MARKER): read one way only


SPELLING_MARKER = "# Hangul spellings"
GENERAL_MARKER = "# General vocabulary"


@lru_cache(maxsize=1)
def glossary() -> tuple[GlossaryEntry, ...]:
    text = resources.files("rag").joinpath("data/glossary.tsv").read_text(encoding="utf-8")
    entries = []
    general = spelling = False
    for line in text.splitlines():
        general = general or line.startswith(GENERAL_MARKER)
        spelling = not general and (spelling or line.startswith(SPELLING_MARKER))
        if line.strip() and not line.startswith("#") and "\t" in line:
            english, korean = line.split("\t", 1)
            entries.append(GlossaryEntry(english.strip().lower(), korean.strip(), general, spelling))
    return tuple(entries)


def inflected(word: str) -> str:
    """A pattern for an English word and its inflections: "purchase" also reads "purchases", "purchased",
    "purchasing"; "copy" also "copies", "copied"; "need" also "needs", "needed", "needing"."""
    if len(word) > 3 and word.endswith("e") and word[-2] not in "aeiou":
        return re.escape(word[:-1]) + r"(?:e|es|ed|ing)"
    if len(word) > 3 and word.endswith("y") and word[-2] not in "aeiou":
        return re.escape(word[:-1]) + r"(?:y|ies|ied|ying)"
    if len(word) > 3 and word.isalpha():
        return re.escape(word) + r"(?:s|es|ed|ing)?"
    return re.escape(word) + "s?"


def spelled_names(text: str) -> list[str]:
    """The English names that `text` writes in Hangul ("하이버네이트" → "hibernate"), from the glossary."""
    return [e.english for e in glossary() if e.spelling and e.korean in text]


@lru_cache(maxsize=1)
def _glossary_patterns() -> tuple[tuple[GlossaryEntry, re.Pattern], ...]:
    """Each entry with its English side compiled once (hundreds of patterns overflow `re`'s own cache); the
    last word of an entry matches its inflections (`inflected`)."""
    def pattern(english: str) -> re.Pattern:
        head, _, last = english.rpartition(" ")
        return re.compile(r"(?<![a-z])" + (re.escape(head + " ") if head else "") + inflected(last) + r"(?![a-z])")
    return tuple((e, pattern(e.english)) for e in glossary())


@lru_cache(maxsize=4096)
def expand_query(text: str, general: bool = True) -> str:
    """`text` plus the other-language terms of every glossary entry it mentions; with `general` False, of the
    AWS terms only. The dense models read meaning across languages, and a tail of ordinary Korean words blurs
    it: with them in the e5 text, dev verify confirmed 9 of 21 true statements in leave-one-out instead of 13
    (chunk recall@1 in 5-fold CV went the other way, 0.700 against 0.667; evidence in answer was even)."""
    lowered = text.lower()
    extra = []
    for entry, english in _glossary_patterns():
        if entry.general and not general:
            continue
        if english.search(lowered):
            if not entry.spelling:  # "Hibernate" is not searched as "하이버네이트"; the notes never write it
                extra.append(entry.korean)
        elif entry.korean in text:
            extra.append(entry.english)
    return text if not extra else text + " " + " ".join(dict.fromkeys(extra))


LEXICAL_VERSION = 3  # bump when tokenisation changes, so indexes re-tokenise


def lexical_signature() -> str:
    """What the index's tokens depend on: the tokeniser's version and the glossary, whose Korean words Kiwi
    keeps whole; an index built under another signature re-tokenises its chunks."""
    entries = "\n".join(f"{e.english}\t{e.korean}" for e in glossary())
    return f"{LEXICAL_VERSION}-{hashlib.sha256(entries.encode('utf-8')).hexdigest()[:12]}"


def english_term(word: str) -> str:
    if re.fullmatch(r"[A-Z0-9]{2,}s", word):  # AZs, AMIs, ENIs
        return word[:-1].lower()
    word = word.lower()
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word


_kiwi = None
_kiwi_lock = threading.RLock()


def _analyser():
    global _kiwi
    if _kiwi is None:
        with _kiwi_lock:
            if _kiwi is None:
                import warnings

                from kiwipiepy import Kiwi

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    kiwi = Kiwi(num_workers=0, load_default_dict=False, load_typo_dict=False, load_multi_dict=False)
                for entry in glossary():
                    for word in entry.korean.split():
                        if HANGUL.search(word) and len(word) > 1:
                            kiwi.add_user_word(word, "NNP", 0)
                _kiwi = kiwi
    return _kiwi


@lru_cache(maxsize=4096)
def heading_tokens(heading: str) -> frozenset[str]:
    """A heading's tokens; headings repeat across questions and sentences, so Kiwi reads each once."""
    return frozenset(tokenize(heading))


@lru_cache(maxsize=8192)
def expanded_terms(text: str) -> frozenset[str]:
    """The tokens of `text` with its glossary translations (English ⇄ Korean); note lines recur across
    statements and answers, so each is read once."""
    return frozenset(tokenize(expand_query(text)))


def tokenize(text: str) -> list[str]:
    """Lexical tokens of `text`: whole English terms and Korean content morphemes."""
    tokens: list[tuple[int, str]] = []
    spans = []
    for match in ENGLISH.finditer(text):
        term = english_term(match.group())
        if term not in STOPWORDS:
            tokens.append((match.start(), term))
        if CAMEL_CASE.fullmatch(match.group()):  # InstanceTerminatesImmediately also reads as its words
            tokens += [(match.start(), part) for part in map(english_term, CAMEL_PART.findall(match.group()))
                       if part not in STOPWORDS and len(part) > 2]
        spans.append((match.start(), match.end()))
    if HANGUL.search(text):
        with _kiwi_lock:
            analysed = _analyser().tokenize(text)
        for token in analysed:
            if token.tag in KEEP_TAGS and HANGUL.search(token.form) and token.form not in KOREAN_STOP:
                tokens.append((token.start, token.form))
    tokens.sort()
    return [t for _, t in tokens]


LEXICAL_FORMAT = 1
VOCABULARY_FILE = "bm25.vocab.json"
SCORES_FILE = "bm25.scores.f64"  # one score per (term, document) posting, grouped by term
DOC_IDS_FILE = "bm25.doc_ids.i32"  # the document of each posting
TERM_OFFSETS_FILE = "bm25.term_offsets.i64"  # term t's postings are [offsets[t], offsets[t + 1])
PROGRESS_STEPS = 100
BM25S_PASSES = 3  # bm25s 0.3 reads the corpus three times: lengths, document frequencies, scores
SELECT_BLOCK = 1024


def lucene_idf(documents: int, df: int) -> float:
    """ln(1 + (n - df + 0.5) / (df + 0.5)): Lucene's idf of a term found in `df` of `documents`."""
    return math.log(1 + (documents - df + 0.5) / (df + 0.5))


class Idf(Mapping[str, float]):
    """idf(term) = `lucene_idf`, with df read from the posting counts.

    Only the corpus's terms are keys. Values are computed on lookup, so a large
    vocabulary costs no second table.
    """

    def __init__(self, vocabulary: dict[str, int], term_offsets: np.ndarray, documents: int) -> None:
        self._vocabulary, self._offsets, self._documents = vocabulary, term_offsets, documents

    def __getitem__(self, term: str) -> float:
        i = self._vocabulary[term]
        return lucene_idf(self._documents, int(self._offsets[i + 1] - self._offsets[i]))

    def __contains__(self, term: object) -> bool:
        return term in self._vocabulary

    def __iter__(self) -> Iterator[str]:
        return iter(self._vocabulary)

    def __len__(self) -> int:
        return len(self._vocabulary)


class _Steps:
    """One progress task over several passes through the documents; it reaches its total only at `finish`."""

    def __init__(self, progress: Progress, total: int, label: str) -> None:
        self.progress, self.total, self.label = progress, total, label
        self.done = 0
        self.every = max(1, total // PROGRESS_STEPS)
        progress(0, total, label)

    def advance(self) -> None:
        self.done += 1
        if self.done % self.every == 0:
            self.progress(min(self.done, self.total - 1), self.total, self.label)

    def finish(self) -> None:
        self.progress(self.total, self.total, self.label)


class _TokenIdDocuments(Sequence):
    """Documents as lists of term ids, cut on demand from one flat array; every document read is a step."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, steps: _Steps) -> None:
        self._ids, self._offsets, self._steps = ids, offsets, steps

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> list[int]:
        return self._ids[self._offsets[i]:self._offsets[i + 1]].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(len(self)):
            yield self[i]
            self._steps.advance()


class BM25:
    """Okapi BM25 over pre-tokenised documents (k1=1.2, b=0.75, Lucene's idf), on bm25s.

        score(d, q) = Σ over the distinct terms t of q:
                      idf(t) · f(t, d) · (k1 + 1) / (f(t, d) + k1 · (1 - b + b · |d| / avgdl))

    bm25s's "lucene" method has this idf and this term-frequency part without
    the constant (k1 + 1) (Lucene 8 dropped it); the stored scores are
    multiplied by it, so they equal the formula above. Scores are float64, as
    in the hand-written scorer this replaced, so near-ties keep their order.
    `BM25.fit(documents)` builds the index, `save(folder)` and
    `BM25.load(folder)` write and memory-map it, `top(tokens, k)` ranks, and
    `idf` maps term to idf.
    """

    def __init__(self, engine: bm25s.BM25, vocabulary: dict[str, int], documents: int) -> None:
        self.engine, self.vocabulary, self.documents = engine, vocabulary, documents
        self.idf = Idf(vocabulary, engine.scores["indptr"], documents)

    @classmethod
    def fit(cls, documents: Iterable[Sequence[str]], progress: Progress = silent,
            k1: float = 1.2, b: float = 0.75) -> "BM25":
        """Index `documents` (lists of tokens); progress goes to `progress(done, total, label)`."""
        documents = documents if isinstance(documents, Sequence) else list(documents)
        vocabulary: dict[str, int] = {}
        ids, offsets = array("i"), array("q", [0])
        n = len(documents)
        steps = _Steps(progress, n * (1 + BM25S_PASSES), "indexing words")
        for tokens in documents:
            ids.extend([vocabulary.setdefault(t, len(vocabulary)) for t in tokens])
            offsets.append(len(ids))
            steps.advance()
        engine = _engine(k1, b)
        if vocabulary:
            corpus = _TokenIdDocuments(np.frombuffer(ids, np.int32), np.frombuffer(offsets, np.int64), steps)
            arrays = engine.build_index_from_ids(list(range(len(vocabulary))), corpus, show_progress=False)
            arrays["data"] = arrays["data"] * (k1 + 1)
        else:  # no terms at all: every query scores nothing
            arrays = {"data": np.zeros(0), "indices": np.zeros(0, np.int32), "indptr": np.zeros(1, np.int64)}
        engine.scores = {**arrays, "num_docs": n}
        steps.finish()
        return cls(engine, vocabulary, n)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """The score of every document for `query_tokens` (a repeated term counts once)."""
        ids = [self.vocabulary[t] for t in dict.fromkeys(query_tokens) if t in self.vocabulary]
        if not ids:
            return np.zeros(self.documents)
        return self.engine.get_scores_from_ids(ids)

    def scores_of(self, query_tokens: list[str], documents: Sequence[int]) -> np.ndarray:
        """The scores of `documents` alone, in that order: reads the query terms' postings, no array of all."""
        wanted = np.asarray(documents, dtype=np.int64)
        out = np.zeros(len(wanted))
        arrays = self.engine.scores
        for term in dict.fromkeys(query_tokens):
            if term in self.vocabulary:
                t = self.vocabulary[term]
                start, end = int(arrays["indptr"][t]), int(arrays["indptr"][t + 1])
                ids, values = np.asarray(arrays["indices"][start:end]), np.asarray(arrays["data"][start:end])
                found = np.searchsorted(ids, wanted)  # a term's postings are sorted by document
                hit = (found < len(ids)) & (ids[np.minimum(found, len(ids) - 1)] == wanted) if len(ids) else found < 0
                out[hit] += values[found[hit]]
        return out

    def top(self, query_tokens: list[str], k: int) -> list[tuple[int, float]]:
        """Up to `k` (document, score) pairs with a positive score, best first; ties go to the earlier document."""
        scores = self.scores(query_tokens)
        return [(int(i), float(scores[i])) for i in best_positive(scores, k)]

    def save(self, folder: Path) -> dict:
        """Write the index into `folder`; returns what the index manifest records about it."""
        arrays = self.engine.scores
        for name, values, dtype in ((SCORES_FILE, arrays["data"], "<f8"), (DOC_IDS_FILE, arrays["indices"], "<i4"),
                                    (TERM_OFFSETS_FILE, arrays["indptr"], "<i8")):
            with (folder / name).open("wb") as out:
                np.asarray(values, dtype=dtype).tofile(out)
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        header = {"format": LEXICAL_FORMAT, "engine": f"bm25s {bm25s.__version__}", "method": self.engine.method,
                  "k1": self.engine.k1, "b": self.engine.b, "documents": self.documents,
                  "postings": int(len(arrays["data"]))}
        with (folder / VOCABULARY_FILE).open("w", encoding="utf-8") as out:
            json.dump({**header, "terms": terms}, out, ensure_ascii=False, separators=(",", ":"))
        return {**header, "terms": len(terms), "files": [VOCABULARY_FILE, SCORES_FILE, DOC_IDS_FILE, TERM_OFFSETS_FILE]}

    @classmethod
    def load(cls, folder: Path) -> "BM25":
        """Open an index written by `save`, its arrays memory-mapped; damage raises ValueError naming the folder."""
        try:
            header = json.loads((folder / VOCABULARY_FILE).read_text(encoding="utf-8"))
            terms, documents = header["terms"], header["documents"]
            scores = _map(folder / SCORES_FILE, "<f8")
            doc_ids = _map(folder / DOC_IDS_FILE, "<i4")
            offsets = _map(folder / TERM_OFFSETS_FILE, "<i8")
            fits = (header["format"] == LEXICAL_FORMAT and header["method"] == "lucene"
                    and len(offsets) == len(terms) + 1 and int(offsets[0]) == 0
                    and int(offsets[-1]) == len(scores) == len(doc_ids) == header["postings"])
            engine = _engine(float(header["k1"]), float(header["b"]))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
            raise ValueError(f"lexical index in {folder} is missing or unreadable ({type(err).__name__}); "
                             "rebuild the index") from None
        if not fits:
            raise ValueError(f"lexical index in {folder} does not match its {VOCABULARY_FILE}; rebuild the index")
        engine.scores = {"data": scores, "indices": doc_ids, "indptr": offsets, "num_docs": documents}
        return cls(engine, {term: i for i, term in enumerate(terms)}, documents)


def best_positive(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` highest positive scores, highest first, ties in index order (a stable sort's order).

    Sorting a million scores per query would cost more than scoring them. The
    k-th highest of the block maxima (blocks of SELECT_BLOCK scores) is a
    floor for the k-th highest score, since k blocks each hold a score that
    reaches it; only the few scores at or above that floor are sorted.
    """
    if k <= 0:
        return np.zeros(0, np.int64)
    floor = 0.0
    blocks = len(scores) // SELECT_BLOCK
    if blocks > k:
        maxima = scores[:blocks * SELECT_BLOCK].reshape(blocks, SELECT_BLOCK).max(axis=1)
        floor = float(np.partition(maxima, blocks - k)[blocks - k])
    found = np.flatnonzero(scores >= floor) if floor > 0 else np.flatnonzero(scores > 0)
    if len(found) > k:  # keep the k best and every score tied with the k-th
        kth = np.partition(scores[found], len(found) - k)[len(found) - k]
        found = found[scores[found] >= kth]
    return found[np.argsort(-scores[found], kind="stable")][:k]


def _engine(k1: float, b: float) -> bm25s.BM25:
    engine = bm25s.BM25(k1=k1, b=b, method="lucene", dtype="float64", int_dtype="int32")
    engine.nonoccurrence_array = None  # set by bm25s's own build or load; "lucene" has none
    return engine


def _map(path: Path, dtype: str) -> np.ndarray:
    """A read-only memory map of a little-endian array file (an empty file is an empty array)."""
    if path.stat().st_size == 0:
        return np.zeros(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r")
