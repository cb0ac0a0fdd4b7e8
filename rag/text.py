"""Text normalisation, applied to questions and notes alike, and the check for a question with no content.

`normalise` makes text that looks the same compare the same:
- Unicode NFC, so Korean pasted in decomposed form (macOS file names and
  some editors write 배치 as the jamo ㅂㅐㅊㅣ) equals the composed form;
- zero-width characters (U+200B..U+200D, U+2060, U+FEFF, soft hyphen) and
  bidirectional marks (U+200E/F, U+202A..U+202E, U+2066..U+2069, U+061C)
  are removed: "spr\\u200bead" is "spread";
- odd spaces (no-break, en/em/thin, ideographic, U+2028/U+2029 separators,
  NEL) become a plain space.

`has_content` is the floor under answering: a question whose lexical
tokens hold no word (".", "!!!", "1", "a", "ㅋㅋㅋ") has nothing to look up,
so the assistant abstains instead of quoting whatever is nearest. Markup is
no question either: pasted tags with a word or two between them
("<script>alert(1)</script>") hold nothing to look up.
"""
from __future__ import annotations

import re
import unicodedata

from rag.lexical import HANGUL, tokenize

INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u061c\ufeff]")
TAG = re.compile(r"</?[A-Za-z][^<>]*>")  # an HTML or XML tag
ODD_SPACE = re.compile("[\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


def normalise(text: str) -> str:
    """`text` in NFC, without invisible characters, with every odd space a plain space."""
    return ODD_SPACE.sub(" ", INVISIBLE.sub("", unicodedata.normalize("NFC", text)))


def is_word(token: str) -> bool:
    """A lexical token that can name something: Korean, or two or more characters that are not all digits."""
    return bool(HANGUL.search(token)) or (len(token) > 1 and not token.replace(".", "").isdigit())


def has_content(question: str) -> bool:
    """Whether the question holds at least one word to look up (laughter jamo, digits and punctuation do not count),
    and at least two besides its tags when it holds markup."""
    text = TAG.sub(" ", question)
    return sum(is_word(token) for token in tokenize(text)) >= (2 if text != question else 1)
