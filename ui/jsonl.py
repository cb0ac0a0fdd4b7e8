"""Reading JSON Lines the page is given or keeps: each non-blank line, parsed or with its problem."""
from __future__ import annotations

import json
from typing import Iterator


def records(text: str) -> Iterator[tuple[int, object, str | None]]:
    """(line number, record, None) for each parsed line, (line number, None, problem) for one that is not JSON."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), None
        except json.JSONDecodeError as err:
            yield number, None, f"not valid JSON ({err.msg})"
