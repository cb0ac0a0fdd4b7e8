"""Language profiles: every rule that depends on the language of a note or a question.

The notes this project was built for are Korean prose with English AWS terms,
and exam questions arrive in English. Rules that only hold for one language
(the `정리` summary heading, negation words, question words, the shape of a
statement) live here, one `LanguageProfile` per language, instead of being
spelled out in the stages that use them. Chunks record the language of their
text (`Chunk.lang`), and questions are profiled with `profile_of(text)`.

Answers are always written in the user's format and language (Korean, per the
custom instructions); a profile only says how to *read* text of its language.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

HANGUL = re.compile(r"[가-힣]")
HANGUL_JAMO = re.compile(r"[ㄱ-ㅎㅏ-ㅣ]")
LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class LanguageProfile:
    """How to read text of one language."""

    code: str
    summary_titles: tuple[str, ...]  # a heading or bold line with this text opens a lecture's summary block
    negation: re.Pattern  # a negated predicate, matched with its word
    question_words: re.Pattern  # words that make a message a question or a request
    question_end: re.Pattern | None  # a sentence ending that asks
    statement_end: re.Pattern | None  # a sentence ending that states

    def is_summary_title(self, text: str) -> bool:
        return text.strip().rstrip(":").strip() in self.summary_titles


KOREAN = LanguageProfile(
    code="ko",
    summary_titles=("정리", "요약"),
    negation=re.compile(r"[가-힣]*(?:지\s*않|지는\s*않|수[는도가]?\s*없|없다|없음|없는|못\s*하|못한|아니)[가-힣]*"),
    # "언제든", "몇몇" and "어느 정도" are no questions: "스팟 인스턴스는 언제든 중단될 수 있다."
    question_words=re.compile(r"어떻게|무엇|뭐|뭔|왜|언제(?!든|나)|어디|어느(?!\s*정도)|누가|(?<!몇)몇(?!몇)|차이|설명|알려|정리해|비교|"
                              r"인가요|나요|까요"),
    question_end=re.compile(r"(까|니|냐|나요|가요|죠|지)\s*[.?]?\s*$"),
    statement_end=re.compile(r"(다|음|함|됨|임|요)[.!]?\s*$"),
)

ENGLISH = LanguageProfile(
    code="en",
    summary_titles=("Summary", "TL;DR", "Key points", "Recap"),
    negation=re.compile(r"\b(?:not|cannot|can't|doesn't|don't|isn't|aren't|won't|never|no)\b(?:\s+\w+)?", re.IGNORECASE),
    # a question word opens the question ("When should I …"); inside a sentence it opens a clause of a statement
    # ("… keep their data when the instance is stopped"), so only a request word counts anywhere
    question_words=re.compile(
        r"^\s*(?:what|which|how|why|where|who|whom|whose)\b|^\s*when\s+(?:is|are|do|does|did|can|could|should|will|would)\b"
        r"|\b(?:explain|describe|compare|tell me|difference between)\b"
        r"|^(is|are|does|do|did|can|could|should|will|would)\b",
        re.IGNORECASE,
    ),
    question_end=None,
    statement_end=None,
)

PROFILES = {p.code: p for p in (KOREAN, ENGLISH)}


def language_of(text: str) -> str:
    """`ko` when the text holds Hangul syllables, else `en`."""
    return "ko" if HANGUL.search(text) else "en"


def profile_of(text: str) -> LanguageProfile:
    return PROFILES[language_of(text)]


def chunk_language(text: str) -> str:
    """The language of a note chunk: Korean when a tenth or more of its letters are Hangul.

    The notes write English AWS terms inside Korean sentences, so a Korean chunk
    often has more Latin letters than Hangul ones; a tenth is enough to read it
    as Korean prose.
    """
    hangul = len(HANGUL.findall(text))
    latin = len(LATIN.findall(text))
    return "ko" if hangul and hangul >= 0.1 * (hangul + latin) else "en"


def is_summary_title(text: str) -> bool:
    """A summary heading in any known language."""
    return any(p.is_summary_title(text) for p in PROFILES.values())


EN_NOUN = r"(?P<noun>[A-Za-z0-9-]+(?:\s+(?!(?:at|in|on|the|to|for|with|and|or|of|by|from|per|is|are|can)\b)[A-Za-z0-9-]+){0,2})"
KO_NOUN = r"(?P<noun>[가-힣A-Za-z0-9]+(?:(?<![에을를은는이가의로도만])\s+[가-힣A-Za-z0-9]+)?)"  # a particle ends it
# words that qualify a noun and their opposites: a count of exactly one or of several, one shared or distinct ones
QUALIFIERS = {
    "one": (re.compile(r"\b(?:only one|a single|just one|exactly one|one single)\s+" + EN_NOUN, re.IGNORECASE),
            re.compile(r"(?:하나의|한\s*개의|단\s*하나의|단일)\s*" + KO_NOUN)),
    "several": (re.compile(r"\b(?:multiple|several|many|more than one)\s+" + EN_NOUN, re.IGNORECASE),
                re.compile(r"(?:여러|다수의|복수의)\s*(?:개의\s*)?" + KO_NOUN)),
    "same": (re.compile(r"\b(?:the same|one shared|identical)\s+" + EN_NOUN, re.IGNORECASE),
             re.compile(r"(?:동일한|같은)\s*" + KO_NOUN)),
    "different": (re.compile(r"\b(?:different|separate|distinct)\s+" + EN_NOUN, re.IGNORECASE),
                  re.compile(r"(?:서로\s*다른|각각\s*다른|별도의)\s*" + KO_NOUN)),
}
OPPOSITE = {"one": "several", "several": "one", "same": "different", "different": "same"}


def qualified(text: str) -> list[tuple[str, str, str]]:
    """(qualifier, the qualified phrase, the noun) for every "only one X", "multiple X", "the same X" or
    "different X" in `text` (`QUALIFIERS`)."""
    return [(name, m.group(), m.group("noun")) for name, patterns in QUALIFIERS.items()
            for pattern in patterns for m in pattern.finditer(text)]


CONDITION = re.compile(r"(?:으면|면|다면)$")  # "바꾸지 않으면": a condition, not a denial
NOT_ONLY = re.compile(r"뿐(?:만)?\s*$")  # "TCP뿐 아니라 HTTP와": not only … but also, no denial
CONDITION_AFTER = re.compile(r"\s+(?:한|경우)(?![가-힣])")  # "설정하지 않는 한", "설정하지 않을 경우"


def negation(text: str) -> str | None:
    """The first negated predicate in `text`, in either language: not a name ("No-Reboot"), not a negated
    condition ("따로 바꾸지 않으면"), which says when, not what is not, and not "뿐 아니라" (not only … but also)."""
    for profile in (ENGLISH, KOREAN):
        for match in profile.negation.finditer(text):
            if (text[match.end():match.end() + 1] == "-" or CONDITION.search(match.group())
                    or CONDITION_AFTER.match(text[match.end():]) or NOT_ONLY.search(text[:match.start()])):
                continue
            return match.group()
    return None
