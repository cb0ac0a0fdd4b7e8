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
    min_known_mass: float = param(0.75, "abstain when the idf the notes give the question's words (markup stripped) "
                                        "sums below this, in units of a one-chunk word's idf, and it names no AWS term "
                                        "the notes know; dev: junk and small talk <= 0.52, in-scope questions >= 1.0")


@dataclass(frozen=True)
class ComposeParams:
    """How question mode picks blocks (rag/evidence.py)."""

    lexical_weight: float = param(0.35, "weight of the question's idf-weighted term overlap added to a sentence's e5 "
                                        "cosine where sentences are scored (TL;DR lines, exam, verify)")
    candidate_hits: int = param(6, "blocks of the sections of the top this many hits are candidates")
    max_topics: int = param(3, "at most this many topic sections per answer")
    max_blocks: int = param(6, "at most this many quoted blocks per answer; dev CV sweep in bench/fit_ranker.py "
                                 "(evidence quoted 0.655 with 3, 0.736 with 4, 0.80 with 5, 0.827 with 6)")
    keep_ratio: float = param(0.3, "a further block is quoted when its ranker probability is at least this share "
                                   "of the best block's; dev sweep in bench/fit_ranker.py")
    other_lecture_ratio: float = param(0.4, "a block from another lecture than the best block's (and not a compared "
                                            "side) needs at least this share of the best block's probability: no "
                                            "Sticky Sessions line in a Session Manager answer. Dev 5-fold CV (5 seeds): "
                                            "evidence quoted 0.785 from 0 to 0.4, 0.784 at 0.5, 0.782 at 0.6; "
                                            "quoted median 463 -> 458")
    max_answer_chars: int = param(600, "quoted blocks stop adding past this many characters (the answer body "
                                       "median target is 700 with titles and TL;DR)")
    summary_lines: int = param(2, "at most this many TL;DR lines from the lecture's 정리 block, each within summary_floor "
                                  "of the best quoted sentence. Dev: evidence in answer 61/64/35 with one (open EN, "
                                  "KO, follow-ups), 62/65/35 with two or three; body median 643, 671, 699")
    summary_floor: float = param(0.1, "a 정리 line is a TL;DR line only when it scores within this of the answer's best "
                                      "quoted sentence; with none, the best block's best sentence is the TL;DR. Dev "
                                      "(one line): evidence in answer the same from 0.1 to 0.25 and without a floor, one "
                                      "follow-up less at 0.05; 9 of 147 dev TL;DRs changed, most from another topic's "
                                      "정리 line to the answer's own point. With two lines: the same from 0.1 to 0.2, "
                                      "body median 671 at 0.1, 691 at 0.2")


@dataclass(frozen=True)
class ExamParams:
    """How exam mode scores options (docs/exam_verify.md)."""

    use_both: float = param(1.0, "weight of the USE cosine between a sentence and 'question + option'; dev 0.659 alone")
    cooccur: float = param(1.0, "weight of the option's own terms weighted by the question's terms in their clause; dev 0.341 "
                                "alone (measured before the clause)")
    top5: float = param(1.0, "weight of the option's own terms in the 5 sentences answering the question best; dev 0.568 alone")
    ranked: float = param(1.0, "weight of the option's own terms in the 8 blocks question mode ranks best for the "
                               "stem, weighted by their probability; dev 50/75 alone, 54/75 with the other three (51 "
                               "without it); 5-fold CV of a weight grid search 50.8 -> 52.4 of 75")
    ranked_blocks: int = param(8, "blocks that make the `ranked` signal (dev: 51 right with 3 or 5, 54 with 8, 53 "
                                  "with 12, 51 with 20; 8 was the study's first choice)")
    confidence_slope: float = param(4.215, "confidence = logistic(slope × support + bias), Platt-fit on the 87 dev MCQs "
                                           "(bench/fit_exam.py); support is the share of the question's five best "
                                           "sentences that name the pick, a line naming what its section heading "
                                           "names (5-fold CV risk-coverage: 0.88 right at 29% of picks, 0.87 at 35%; "
                                           "on the 75 MCQs before: 0.90 at 40%)")
    confidence_bias: float = param(-0.79, "… its intercept")
    confident: float = param(0.62, "a pick below this confidence is marked 불확실: the lowest threshold at which dev picks "
                                   "above it are right >= 90% (5-fold CV: 32% of picks kept, 0.857 right; the code "
                                   "before this refit, on the same 87: 25% and 0.773)")
    option_min_idf: float = param(1.0, "an option's own tokens below this BM25 idf (인스턴스 0.23, ec2 0.37, instance "
                                       "1.08) do not name it, for the pick, its reasons and its support. Dev: 51/75 "
                                       "right from 0 to 2.0 (50 at 2.5)")
    focus_overlap_weight: float = param(0.35, "question focus: e5 cosine + this × question-term overlap")
    focus_sentences: int = param(5, "sentences that make the question's focus")
    focus_temperature: float = param(20.0, "softmax sharpness over the focus sentences")
    pool_sections: int = param(5, "sentences come from the top this many hit sections")
    pool_lectures: int = param(3, "… and the lectures of the top this many hits")
    min_reason_chars: int = param(20, "a reason line quoted for an option has at least this many characters")

    @property
    def weights(self) -> dict[str, float]:
        return {"use_both": self.use_both, "cooccur": self.cooccur, "top5": self.top5, "ranked": self.ranked}


@dataclass(frozen=True)
class VerifyParams:
    """How verify mode judges a sentence of a statement."""

    polarity_min_score: float = param(1.0, "a negation on one side only contradicts when the evidence line scores at least "
                                          "this (e5 cosine + lexical); below it the pair is too loose to judge polarity")
    pool_sections: int = param(3, "evidence comes from the top this many hit sections")
    pool_lectures: int = param(2, "… and the lectures of the top this many hits")
    wide_lines: int = param(20, "the checks that read past the best evidence lines read this many best pool lines: a "
                                "claim's \"only X\" against a line listing X beside another name (dev, 84 statements: "
                                "false caught 17 -> 18 of 35 at 3 or 5 lines, 19 at 10, 20 at 20 and 40), and a family "
                                "member's predicate in a line about a sibling (then 24 -> 24 at 3, 25 from 5 to 20), and "
                                "a quality the notes give B the most of (\"가장 비용 효율적\"); no true statement lost")
    evidence_lines: int = param(3, "the contradiction finder and the support test look at this many best evidence lines")
    support_coverage: float = param(0.8, "'supported' needs a note sentence holding at least this idf-weighted share of the "
                                         "claim's key terms (glossary translations count); bench/fit_verify.py grid on dev "
                                         "(106 statements, leave-one-out: 25/44 true confirmed, 4/45 false, 0/17 not "
                                         "covered; with every term weighing the same: 24, 6 and 1)")
    contrast_min_fit: float = param(0.35, "a sibling section's line must hold this idf share of the claim's predicate to "
                                          "contradict it in meaning (rag.contradiction.find_contrast). Dev grid (84 statements, "
                                          "fit 0.3-0.5 x margin 0.1-0.25): false caught 21 of 35 from 0.3 to 0.35 at margins "
                                          "0.1-0.2, 20 at 0.4, 19 at 0.5; no true statement contradicted anywhere on the grid")
    contrast_margin: float = param(0.2, "… and this much more than the best line of the section the claim names")
    supported_precision: float = param(0.844, "confidence of a 'true' verdict: its smoothed precision (r+1)/(n+2) on dev, "
                                              "26/30 (bench/fit_verify.py on 106 statements, in-sample; 25/29 before the "
                                              "idf-weighted coverage, 17/20 in the fit before that round)")
    contradicted_precision: float = param(0.971, "confidence of a 'false' verdict: its smoothed precision on dev, 33/33 "
                                                 "(31/31 after the sibling-section guard, 0.970; 12/15 in the fit "
                                                 "before this round, on fewer statements and rules)")
    confident: float = param(0.7, "a verdict whose confidence is below this is marked 불확실")
    support_margin: float = param(0.0225, "… or, whatever its terms, a note sentence whose e5 cosine with the claim leads "
                                        "every other pool sentence by this much (a paraphrase of one line, not a topic); "
                                        "same dev fit")
    support_similarity: float = param(0.92, "… and at least this e5 cosine with the claim; same dev fit (0.94 with every "
                                            "term weighing the same). Below either, a sentence the notes neither support "
                                            "nor contradict is 'not covered'")


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
