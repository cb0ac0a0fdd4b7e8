"""Declared parameters of the answer stages: every threshold and weight, with its reason.

Each stage has one frozen parameter object. Every field carries a one-line
reason and the measurement that chose it, the way `rag/vectorstore.py`
documents its constants. Values are fit on the **dev** split only
(`eval/gold/dev_*`); test figures are never used to choose them. Any field
can be overridden from `rag.toml` in the stage's table:

    [abstain]
    similarity = 0.82

An unknown table or key is an error, as for every other setting.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, replace


class ParamsError(ValueError):
    """A parameter table in rag.toml holds an unknown key or a bad value."""


def param(default, reason: str):
    """A parameter field: its default and why it has that value."""
    return field(default=default, metadata={"reason": reason})


@dataclass(frozen=True)
class AbstainParams:
    """When question mode says the notes do not cover a question."""

    similarity: float = param(0.84, "abstain when the best e5 sentence cosine is below this; bench/calibrate_abstention.py "
                                    "grid search on dev open+oos (recall on oos − 3 × false abstention)")
    unknown_terms: float = param(0.05, "abstain when this share of the question's English names never occurs in the notes; "
                                       "same dev grid search")


@dataclass(frozen=True)
class ComposeParams:
    """How question mode picks sections and lines."""

    lexical_weight: float = param(0.35, "weight of the question's idf-weighted term overlap added to a line's e5 cosine; "
                                        "dev open questions, chosen with the composer (docs/exam_verify.md history)")
    max_topics: int = param(3, "at most this many topic sections per answer; keeps answers short")
    lines_per_topic: int = param(4, "at most this many quoted lines per topic")
    min_line_chars: int = param(15, "shorter lines (labels, fragments) are not quoted on their own")
    heading_weight: float = param(0.15, "bonus when the question names a section's heading; dev open questions")
    rank_bonus: float = param(0.08, "a section's retrieval rank r adds rank_bonus / (1 + r); dev open questions")
    topic_gap: float = param(0.06, "a further topic must score within this of the lead section")
    line_gap: float = param(0.10, "a further line must score within this of the section's best line")
    duplicate_jaccard: float = param(0.5, "a line sharing this share of tokens with a chosen line repeats it")
    candidate_hits: int = param(6, "sections of the top this many hits compete for topics")
    summary_lines: int = param(2, "TL;DR lines taken from the lecture's 정리 block")


@dataclass(frozen=True)
class ExamParams:
    """How exam mode scores options (docs/exam_verify.md)."""

    use_both: float = param(1.0, "weight of the USE cosine between a sentence and 'question + option'; dev 0.659 alone")
    cooccur: float = param(1.0, "weight of the option's own terms in a sentence that holds the question's terms; dev 0.341 alone")
    top5: float = param(1.0, "weight of the option's own terms in the 5 sentences answering the question best; dev 0.568 alone")
    uncertain_margin: float = param(0.35, "a z-score margin below this over the runner-up marks the pick uncertain")
    focus_overlap_weight: float = param(0.35, "question focus: e5 cosine + this × question-term overlap")
    focus_sentences: int = param(5, "sentences that make the question's focus")
    focus_temperature: float = param(20.0, "softmax sharpness over the focus sentences")
    pool_sections: int = param(5, "sentences come from the top this many hit sections")
    pool_lectures: int = param(3, "… and the lectures of the top this many hits")
    min_reason_chars: int = param(20, "a reason line quoted for an option has at least this many characters")

    @property
    def weights(self) -> dict[str, float]:
        return {"use_both": self.use_both, "cooccur": self.cooccur, "top5": self.top5}


@dataclass(frozen=True)
class VerifyParams:
    """How verify mode judges a sentence of a statement."""

    polarity_min_score: float = param(1.0, "a negation on one side only contradicts when the evidence line scores at least "
                                          "this (e5 cosine + lexical); below it the pair is too loose to judge polarity")
    pool_sections: int = param(3, "evidence comes from the top this many hit sections")
    pool_lectures: int = param(2, "… and the lectures of the top this many hits")
    evidence_lines: int = param(3, "the contradiction finder looks at this many best evidence lines")


@dataclass(frozen=True)
class AnswerParams:
    """All answer-stage parameters together, as `rag.toml` tables."""

    abstain: AbstainParams = field(default_factory=AbstainParams)
    compose: ComposeParams = field(default_factory=ComposeParams)
    exam: ExamParams = field(default_factory=ExamParams)
    verify: VerifyParams = field(default_factory=VerifyParams)


TABLES = {f.name: f.default_factory for f in fields(AnswerParams) if f.default_factory is not MISSING}


def params_from_tables(tables: dict) -> AnswerParams:
    """`AnswerParams` with the values of `rag.toml`'s stage tables; unknown names are errors."""
    out = AnswerParams()
    for table, values in tables.items():
        if table not in TABLES:
            raise ParamsError(f"unknown parameter table [{table}]; known tables are {', '.join(TABLES)}")
        if not isinstance(values, dict):
            raise ParamsError(f"[{table}] must be a table of values, e.g. [{table}] then key = value lines")
        current = getattr(out, table)
        known = {f.name: f for f in fields(current)}
        changes = {}
        for key, value in values.items():
            if key not in known:
                raise ParamsError(f"[{table}] has unknown key {key!r}; known keys are {', '.join(known)}")
            kind = type(known[key].default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
                raise ParamsError(f"[{table}] {key} = {value!r} is not a {kind.__name__}")
            changes[key] = kind(value)
        out = replace(out, **{table: replace(current, **changes)})
    return out


def describe(params: AnswerParams) -> list[str]:
    """One line per parameter: `table.key = value  # reason`, for docs and `--help`."""
    lines = []
    for table in TABLES:
        stage = getattr(params, table)
        for f in fields(stage):
            lines.append(f"{table}.{f.name} = {getattr(stage, f.name)!r}  # {f.metadata['reason']}")
    return lines
