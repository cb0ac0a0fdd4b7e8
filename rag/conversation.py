"""Follow-up questions: which earlier conversation text to retrieve with a new message.

No language model is involved; a few word lists decide. A message is a
follow-up when it opens with a linking word ("그럼 …", "and for …", "what
about …"), points back ("is it …?", "그건 …?"), or is a bare topic without
a question word ("NLB는?"). Long messages (a pasted exam question) never are.

The context a follow-up inherits is the *aspect* of the previous question,
with its old subject removed when the message names a new one:

    previous: "How many instances per AZ can a spread placement group have?"
              (answered from "Spread Placement Group (분산 배치 그룹)")
    message:  "그럼 파티션 배치 그룹은?"
    context:  "How many instances per AZ can a have"

A follow-up with no subject of its own ("왜?", "more details") inherits the
whole previous question plus the heading its answer came from. So does one
whose only new name is no subject of the notes' headings ("and how many per
AZ?" after a spread placement group question: AZ is an aspect, not a new
subject).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from rag.evidence import salient_terms
from rag.types import Answer, section_title
from rag.lexical import STOPWORDS, english_term

MAX_FOLLOW_UP_WORDS = 12
SHORT_WORDS = 4
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+/_-]*[A-Za-z0-9]|[A-Za-z0-9]|[가-힣]+")
LEAD_WORDS = ("and", "what about", "how about", "same for", "also", "then", "but", "so", "what if",
              "그럼", "그러면", "그렇다면", "그리고", "그런데", "근데", "또", "반면")
LEADS = re.compile(r"^\s*(?:" + "|".join(LEAD_WORDS) + r")(?![\w])", re.IGNORECASE)
POINTERS = frozenset("it its that this those these them they 그 해당 그것 그거 그건 그게 이것 이거 이건 이게 거기".split())
POINTER_PHRASES = re.compile(r"\bwhich (?:one|of them)\b|그\s?중", re.IGNORECASE)  # one of the previous things
YES_NO = re.compile(r"^\s*(?:is|are|does|do|did|can|could|should|will|would|has|have)\b", re.IGNORECASE)
KOREAN_ASKS = re.compile(r"(?:나요|까요|까|니|냐|가요|죠|인가|인지)\s*\??\s*$")
QUESTION = frozenset(
    "what which how why when where who whom whose explain describe compare difference "
    "무엇 뭐 뭔가 뭔데 뭐야 어떻게 왜 언제 어디 어느 누가 몇 차이 설명 비교".split()
)
FUNCTION = frozenset(
    "a an the is are was were be been do does did can could should would will has have of to in on at for and "
    "or but about with by from as it its this that these those they them there then so also same if me you i "
    "please tell more detail details again per what which how why when where who whom whose explain describe "
    "그럼 그러면 그렇다면 그리고 그런데 근데 또 반면 그 이 저 그것 그거 그건 그게 이것 이거 이건 이게 거기 "
    "뭐 뭐야 무엇 어떻게 왜 언제 어디 몇 좀 더 자세히 다시 설명 설명해 설명해줘 알려 알려줘 예시 예를 들어 "
    "해줘 있어 있나 있나요 인가 인가요 경우 경우는".split()
)
PARTICLES = ("에서는", "으로는", "에서", "으로", "이랑", "은요", "는요", "은", "는", "이", "가", "을", "를",
             "의", "에", "로", "도", "만", "과", "와", "랑", "요")


@dataclass(frozen=True)
class Turn:
    """One earlier exchange, as much of it as follow-ups need.

    `topic` is the heading of the first section the answer cited ("" when it
    abstained); `context` is the retrieval context the turn itself used
    (None when it stood alone).
    """

    question: str
    topic: str = ""
    context: str | None = None


def turn_of(answer: Answer) -> Turn:
    """The turn an answer leaves for the next message: its question, the heading its answer came from (none
    when it abstained), and the context it was searched with."""
    topic = section_title(answer.citations[0].chunk.heading_path) if answer.citations and not answer.abstained else ""
    context = answer.retrieval_text[: -len(answer.question)].strip() if answer.retrieval_text.endswith(answer.question) else ""
    return Turn(answer.question, topic, context or None)


def words(text: str) -> list[str]:
    return WORD.findall(text)


def normal(word: str) -> str:
    """Lower case, without a Korean particle, English words as BM25 reads them (`IPs` → `ip`)."""
    if word.isascii():
        return english_term(word)
    word = word.lower()
    for particle in PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= 2:
            return word[: -len(particle)]
    return word


def content_words(text: str) -> list[str]:
    """Normalised words of `text` that carry a subject, in order, without repeats."""
    out = []
    for word in words(text):
        n = normal(word)
        if n not in FUNCTION and word.lower() not in FUNCTION and n not in out and n not in PARTICLES:
            out.append(n)
    return out


def points_back(message: str) -> bool:
    """True when `message` refers to the previous subject ("is it …", "그건 …", "which one …", "그중에 …")."""
    return any(word.lower() in POINTERS for word in words(message)) or bool(POINTER_PHRASES.search(message))


def subject_vocabulary(headings: Sequence[str], most_headings: int = 3) -> frozenset[str]:
    """Heading words specific enough to name a subject: those in at most `most_headings` distinct headings
    ("cluster", "sticky"), not the ones most headings share ("instance", "개요"), nor stop words ("No Reboot",
    "Migration using AMIs": a message saying "no" or "using" names no subject)."""
    counts: dict[str, int] = {}
    for heading in set(headings):
        for word in set(content_words(heading)):
            counts[word] = counts.get(word, 0) + 1
    return frozenset(w for w, n in counts.items() if n <= most_headings and w not in STOPWORDS)


def subjects(text: str, vocabulary: frozenset[str] = frozenset()) -> set[str]:
    """The AWS things `text` names: English names (a capital or a digit) and words of `vocabulary` (the
    notes' specific heading words), normalised. Aspect words ("비용", "risk") name no subject."""
    return {english_term(t) for t in salient_terms(text)} | (set(content_words(text)) & vocabulary)


def is_follow_up(message: str, vocabulary: frozenset[str] = frozenset()) -> bool:
    """True when `message` reads as a continuation of the previous question.

    A short message that names no AWS thing of its own ("그럼 비용은?", "what's the risk?", "몇 계층에서
    동작해?") leans on the previous turn for its subject, whatever question word it has.
    """
    tokens = words(message)
    if not tokens or len(tokens) > MAX_FOLLOW_UP_WORDS or "\n" in message.strip():
        return False
    if LEADS.match(message) or points_back(message) or not content_words(message):
        return True
    if len(tokens) <= SHORT_WORDS * 2 and not subjects(message, vocabulary):
        return True
    asks = (any(normal(t) in QUESTION or t.lower() in QUESTION for t in tokens)
            or bool(YES_NO.match(message)) or bool(KOREAN_ASKS.search(message)))
    return len(tokens) <= SHORT_WORDS and not asks


def _subject(turn: Turn) -> set[str]:
    """The words naming what `turn` was about: its topic heading, and all of a follow-up's own words."""
    subject = set(content_words(turn.topic))
    if turn.context is not None:
        subject |= set(content_words(turn.question))
    return subject


def context_for(message: str, history: Sequence[Turn], vocabulary: frozenset[str] = frozenset()) -> str | None:
    """Earlier conversation text to retrieve `message` with, or None when it stands alone.

    The message itself is always searched whole; the context only adds to it. A previous turn that found
    nothing in the notes (junk, small talk, an uncovered question) lends no context. `vocabulary` holds
    the words that name a subject in these notes (`subject_vocabulary`).
    """
    if not history or not is_follow_up(message, vocabulary) or not history[-1].topic:
        return None
    last = history[-1]
    kept = [w for w in words(f"{last.context or ''} {last.question}")
            if not LEADS.fullmatch(w) and normal(w) not in PARTICLES]
    earlier = subjects(f"{last.context or ''} {last.question} {last.topic}", vocabulary)
    if (subjects(message, vocabulary) - earlier) & vocabulary and not points_back(message):
        subject = _subject(last)  # a new subject the notes head a section with: keep only the previous aspect
        kept = [w for w in kept if normal(w) not in subject]
        if not content_words(" ".join(kept)):
            return None
        while kept[-1].lower() in FUNCTION:  # "How many instances per AZ can a [spread placement group] have"
            kept.pop()
    else:  # the same subject: the previous question and the heading its answer came from
        kept += words(last.topic)
    return " ".join(_dedupe(kept)) or None


def _dedupe(tokens: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for token in tokens:
        key = normal(token)
        if key not in seen:
            seen.add(key)
            out.append(token)
    return out
