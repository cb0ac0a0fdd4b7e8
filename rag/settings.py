"""One frozen settings object, read from `rag.toml` and overridable by flags.

Every field has a default and a description. An unknown key in the file is
an error that names the key, so a typo never silently does nothing. The
answer stages' thresholds and weights are tables of their own (`[abstain]`,
`[compose]`, `[exam]`, `[verify]`), declared with their reasons in
`rag/params.py`.

Two kinds of setting live here. What the index holds (`indexed_models`, the
chunker) is the *index spec*: changing it rebuilds the index. Everything
else is a default for answering, which a request may override for itself
(`rag.pipeline.AskOptions`) without touching these settings. The optional
LLM writer has its own table, `[writer]` (`WriterSettings`); it holds the
*name* of the environment variable with the API key, never the key.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from rag.notes import ChunkerSettings
from rag.params import TABLES, AnswerParams, ParamsError, params_from_tables


RETRIEVER_KINDS = ("hybrid", "dense", "bm25")
WRITER_KINDS = ("extractive", "openai")
UNSUPPORTED_LINES = ("drop", "mark")


class SettingsError(Exception):
    """The settings file or a flag holds a bad value."""


def _doc(default, description: str):
    return field(default=default, metadata={"description": description})


@dataclass(frozen=True)
class WriterSettings:
    kind: str = _doc("extractive", "extractive (answers are note sentences; no network) or openai (an OpenAI-compatible endpoint)")
    url: str = _doc("", "the endpoint's base URL, e.g. http://127.0.0.1:8080/v1 (…/chat/completions is appended)")
    model: str = _doc("", "the model name sent to the endpoint")
    key_env: str = _doc("", "name of the environment variable holding the API key; empty = no key sent")
    timeout_s: float = _doc(120.0, "give up on the endpoint after this many seconds and answer extractively")
    max_tokens: int = _doc(512, "most tokens the model may write per answer")
    temperature: float = _doc(0.0, "sampling temperature; 0 = the model's most likely text")
    unsupported: str = _doc("drop", "drop a line its citation does not support, or mark it (근거 확인 안 됨)")
    min_lines: int = _doc(2, "answer extractively when fewer supported lines than this survive the check")


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = _doc(Path("corpus"), "folder of Markdown notes to index")
    index_dir: Path = _doc(Path("index"), "folder holding the FAISS index and its manifest")
    embedders: tuple[str, ...] = _doc(("e5",), "dense models to index and fuse; the first also scores sentences")
    option_embedder: str = _doc("use", "dense model that scores exam options; indexed too; empty = the first embedder")
    retriever: str = _doc("hybrid", "hybrid (dense + BM25), dense, or bm25")
    top_k: int = _doc(10, "hits retrieved per question")
    max_tokens: int = _doc(400, "chunk size cap in cl100k tokens")
    rrf_k: int = _doc(60, "reciprocal-rank-fusion constant")
    lexical_weight: float = _doc(1.0, "weight of the BM25 ranking in the fusion")
    max_query_chars: int = _doc(4000, "longer questions are truncated with a notice")
    skip_sections: tuple[str, ...] = _doc(("Custom Instructions",), "top-level sections that are not notes")
    params: AnswerParams = _doc(AnswerParams(), "answer-stage thresholds and weights ([abstain], [compose], [exam], [verify])")
    writer: WriterSettings = _doc(WriterSettings(), "the optional LLM writer, TOML table [writer]")

    @property
    def indexed_models(self) -> tuple[str, ...]:
        """Every dense model the index holds vectors for."""
        return tuple(dict.fromkeys((*self.embedders, self.option_model)))

    @property
    def option_model(self) -> str:
        return self.option_embedder or self.embedders[0]

    @property
    def chunker(self) -> ChunkerSettings:
        return ChunkerSettings(max_tokens=self.max_tokens, skip_sections=self.skip_sections)

    def with_overrides(self, **changes) -> "Settings":
        """A copy with the non-None `changes` applied and type-checked."""
        return _coerce(replace(self, **{k: v for k, v in changes.items() if v is not None}))


def _coerce(settings: Settings) -> Settings:
    values = _coerced_fields(settings)
    if values["retriever"] not in RETRIEVER_KINDS:
        raise SettingsError(f"retriever {values['retriever']!r} is unknown; use one of {', '.join(RETRIEVER_KINDS)}")
    if not values["embedders"]:
        raise SettingsError("embedders is empty; name at least one, e.g. embedders = [\"e5\"]")
    return Settings(**values)


def _coerced_fields(settings) -> dict:
    """Each field of a settings dataclass converted to its default's type; a bad value names the field."""
    values = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        default = f.default
        try:
            if isinstance(default, Path):
                value = Path(value)
            elif isinstance(default, tuple):
                value = tuple(value.split(",")) if isinstance(value, str) else tuple(str(v) for v in value)
            elif isinstance(default, AnswerParams):
                value = value if isinstance(value, AnswerParams) else params_from_tables(value)
            elif isinstance(default, WriterSettings):
                value = writer_settings(value)
            elif isinstance(default, bool):
                value = bool(value)
            elif isinstance(default, (int, float)):
                value = type(default)(value)
        except ParamsError as err:
            raise SettingsError(str(err)) from None
        except (TypeError, ValueError):
            raise SettingsError(f"setting {f.name!r} has a bad value {value!r}; expected {type(default).__name__}") from None
        values[f.name] = value
    return values


def writer_settings(value) -> WriterSettings:
    """`WriterSettings` from a `[writer]` table (or an existing one), checked; unknown keys are errors."""
    if isinstance(value, dict):
        known = {f.name for f in fields(WriterSettings)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise SettingsError(f"unknown writer setting {unknown[0]!r}; known [writer] settings are {', '.join(sorted(known))}")
        value = WriterSettings(**value)
    if not isinstance(value, WriterSettings):
        raise SettingsError(f"writer must be a [writer] table, not {value!r}")
    values = _coerced_fields(value)
    if values["kind"] not in WRITER_KINDS:
        raise SettingsError(f"writer kind {values['kind']!r} is unknown; use {' or '.join(WRITER_KINDS)}")
    if values["unsupported"] not in UNSUPPORTED_LINES:
        raise SettingsError(f"writer unsupported {values['unsupported']!r} is unknown; use drop or mark")
    if values["timeout_s"] <= 0 or values["max_tokens"] < 1 or values["min_lines"] < 1:
        raise SettingsError("writer timeout_s, max_tokens and min_lines must be positive")
    return WriterSettings(**values)


def load_settings(path: Path | None = None) -> Settings:
    """Settings from `path` (default `./rag.toml` when it exists)."""
    path = path or Path("rag.toml")
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SettingsError(f"{path}: not valid TOML ({err}); fix or delete the file") from None
    known = {f.name for f in fields(Settings)} - {"params"}  # `writer` is a table and a known setting
    unknown = sorted(set(data) - known - set(TABLES))
    if unknown:
        raise SettingsError(f"{path}: unknown setting {unknown[0]!r}; known settings are {', '.join(sorted(known))} "
                            f"and the tables [{'], ['.join(TABLES)}]")
    tables = {name: data.pop(name) for name in list(data) if name in TABLES}
    try:
        return Settings().with_overrides(**data, params=params_from_tables(tables))
    except ParamsError as err:
        raise SettingsError(f"{path}: {err}") from None
