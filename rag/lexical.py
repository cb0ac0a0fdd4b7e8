"""Korean + English lexical analysis and Okapi BM25.

English AWS terms (`m5.large`, `InsufficientInstanceCapacity`, `L7`) stay
whole: a regex takes them first, lower-cased and with a plural `s` dropped.
Korean text goes through kiwipiepy's morphological analyser, keeping
content morphemes (nouns, verb and adjective stems, roots). Korean AWS terms
from the glossary are registered as user words so `온디맨드` stays one token.
The glossary also expands a query with the other language's terms.
"""
from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

ENGLISH = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[.\-_/:][A-Za-z0-9]+)*|\d+(?:\.\d+)?")
HANGUL = re.compile(r"[가-힣]")
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


@lru_cache(maxsize=1)
def glossary() -> tuple[GlossaryEntry, ...]:
    text = resources.files("rag").joinpath("data/glossary.tsv").read_text(encoding="utf-8")
    entries = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#") and "\t" in line:
            english, korean = line.split("\t", 1)
            entries.append(GlossaryEntry(english.strip().lower(), korean.strip()))
    return tuple(entries)


def expand_query(text: str) -> str:
    """`text` plus the other-language terms of every glossary entry it mentions."""
    lowered = text.lower()
    extra = []
    for entry in glossary():
        if re.search(r"(?<![a-z])" + re.escape(entry.english) + r"s?(?![a-z])", lowered):
            extra.append(entry.korean)
        elif entry.korean in text:
            extra.append(entry.english)
    return text if not extra else text + " " + " ".join(dict.fromkeys(extra))


LEXICAL_VERSION = 2  # bump when tokenisation changes, so indexes re-tokenise


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


def tokenize(text: str) -> list[str]:
    """Lexical tokens of `text`: whole English terms and Korean content morphemes."""
    tokens: list[tuple[int, str]] = []
    spans = []
    for match in ENGLISH.finditer(text):
        term = english_term(match.group())
        if term not in STOPWORDS:
            tokens.append((match.start(), term))
        spans.append((match.start(), match.end()))
    if HANGUL.search(text):
        with _kiwi_lock:
            analysed = _analyser().tokenize(text)
        for token in analysed:
            if token.tag in KEEP_TAGS and HANGUL.search(token.form) and token.form not in KOREAN_STOP:
                tokens.append((token.start, token.form))
    tokens.sort()
    return [t for _, t in tokens]


class BM25:
    """Okapi BM25 over pre-tokenised documents (k1=1.2, b=0.75)."""

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
