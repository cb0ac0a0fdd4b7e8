"""Notes errata: note sentences known to contradict AWS documentation.

The user keeps them in `corpus/errata.toml` (quote, optional wrong part,
Korean correction, reference URL). Quotes match after whitespace is
collapsed and Markdown bullets and emphasis are dropped, so reflowing a note
never silently loses an erratum; `unmatched` lists quotes that match no
note line any more, for `rag index` to report.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Sequence

from rag.types import Chunk

ERRATA_FILE = "errata.toml"


class ErrataError(Exception):
    pass


@dataclass(frozen=True)
class Erratum:
    quote: str
    correction: str
    url: str
    wrong: str | None = None

    @cached_property
    def key(self) -> str:
        return normalise(self.quote)

    def repeated_in(self, statement: str) -> bool:
        """A statement repeats this erratum when it says the wrong part (any of it when the whole quote is wrong);
        one about another part of the same note line does not."""
        return not self.wrong or self.wrong in statement


@lru_cache(maxsize=16384)  # every answer matches its candidate note lines, and they recur across questions
def normalise(text: str) -> str:
    text = re.sub(r"^\s*(?:[-*+]|\d+\.)\s+", "", text)
    text = text.replace("**", "").replace("`", "")
    return re.sub(r"\s+", " ", text).strip()


def load_errata(corpus_dir: Path) -> list[Erratum]:
    """Errata from `corpus_dir/errata.toml`; none when the file is absent."""
    path = corpus_dir / ERRATA_FILE
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return [Erratum(quote=e["quote"], correction=e["correction"], url=e.get("url", ""), wrong=e.get("wrong"))
                for e in data.get("erratum", [])]
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise ErrataError(f"{path}: cannot read errata ({type(err).__name__}: {err}); each [[erratum]] needs quote and correction") from None


def matching(text: str, errata: Sequence[Erratum]) -> Erratum | None:
    """The erratum whose quote overlaps this note sentence, if any."""
    norm = normalise(text)
    if len(norm) < 8:
        return None
    for erratum in errata:
        if erratum.key in norm or (len(norm) >= 15 and norm in erratum.key):
            return erratum
    return None


def render_with_errata(text: str, errata: list[Erratum]) -> tuple[str, str | None]:
    """The sentence with its wrong part struck through, and the bold correction, when an erratum applies."""
    erratum = matching(text, errata)
    if erratum is None:
        return text, None
    wrong = erratum.wrong if erratum.wrong and erratum.wrong in text else None
    struck = text.replace(wrong, f"~~{wrong}~~", 1) if wrong else f"~~{text}~~"
    link = f" ({erratum.url})" if erratum.url else ""
    return struck, f"**정정: {erratum.correction}**{link}"


def unmatched(errata: list[Erratum], chunks: list[Chunk]) -> list[Erratum]:
    """Errata whose quote no longer occurs in any note chunk."""
    corpus = " ".join(normalise(line) for c in chunks for line in c.text.split("\n"))
    return [e for e in errata if e.key not in corpus]
