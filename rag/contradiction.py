"""The contradiction finder: where a claim disagrees with the note lines that speak of it.

Verify mode (`rag/verify.py`) asks it about each sentence of a statement,
against the sentence's best evidence lines. A claim is contradicted when,
against that evidence:

- a number differs (`10 instances` where the notes say 7개), a spelled-out one
  with its unit included ("a rolling one-hour window" / "24시간을 기준으로");
- a term is swapped for its sibling (`FAMILIES`: cluster/spread/partition,
  system/instance status check, ALB/NLB/GWLB/CLB, stop/terminate/hibernate…);
- it pairs names that a note line keeps in separate clauses ("ALB의 경우 …
  AWSALB이고, CLB의 경우 AWSELB이다" against "for an ALB the cookie is AWSELB");
- it qualifies a thing the opposite way from a note line: several where the
  line allows only one ("multiple patch baselines" / "하나의 패치 베이스라인에만"),
  the same where it says different ones ("the same rack" / "서로 다른 랙");
- it compares two things the other way round ("the Spot price drops below the
  max price" / "max price가 spot price 보다 작아지면");
- it says by hand where a note line says automatically, or the reverse
  ("직접 다시 시작해야 한다" / "자동으로 인스턴스를 다시 시작한다");
- the polarity flips (`cannot`, 않는다, 없다 on one side only) against a line
  that speaks of the negated word (an English claim meets a Korean line's
  denied word through the glossary: "needs SSH access" / "SSH 액세스 권한을
  필요로 하지 않는다");
- it ranks A above B in a quality the notes give B the most of ("온디맨드가
  스팟보다 비용 효율적이다" / "AWS에서 가장 비용 효율적인 인스턴스이다" under Spot);
- it says "only X" where a note line lists X beside another name ("only on
  Linux" / "Linux 및 Windows를 비롯한 여러 가지 운영 체제에서 작동한다");
- it says of one member of a contrast set what the notes say of another: a
  sibling section's lines (`find_contrast`), or a line (with the one after
  it) about a sibling by its own words or the label above its list ("…
  detected by the system status check" / "- 손상된 파일 시스템" under "인스턴스
  상태 확인은 …").

Each finder returns the claim's wrong part, which verify strikes through, and
the note line that shows it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations

from rag.evidence import ScoredUnit, idf_mass, mass_share, salient_terms, subsections
from rag.language import HANGUL, OPPOSITE, negation, qualified
from rag.lexical import expand_query, expanded_terms, tokenize
from rag.params import VerifyParams
from rag.types import section_title

NUMBER = re.compile(r"(?<![A-Za-z0-9.])\d+(?:[.,]\d+)?(?:\s*(?:-|–|~)\s*\d+)?(?:\s*-?\s*(?:%|[A-Za-z가-힣]+))?")
FAMILIES: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("cluster placement", "cluster", "클러스터"), ("spread placement", "spread", "분산 배치"),
     ("partition placement", "partition", "파티션")),
    (("system status", "시스템 상태"), ("instance status", "인스턴스 상태")),
    (("alb", "application load balancer"), ("nlb", "network load balancer"),
     ("gwlb", "gateway load balancer"), ("clb", "classic load balancer")),
    (("one-time", "일회성"), ("persistent", "영구")),
    (("maintain",), ("request type",)),
    (("standard", "표준"), ("advanced", "고급")),
    (("stop", "중지"), ("terminate", "종료"), ("hibernate", "hibernation", "최대 절전")),
    (("ena", "elastic network adapter"), ("efa", "elastic fabric adapter"), ("intel vf", "82599")),
    (("basic monitoring", "기본 모니터링"), ("detailed monitoring", "세부 모니터링", "detailed")),
    (("layer 4", "l4"), ("layer 7", "l7")),
    (("linux",), ("windows",)),
    (("on-demand", "온디맨드"), ("reserved", "예약 인스턴스"), ("spot", "스팟"), ("savings plan",)),
    (("inbound", "인바운드"), ("outbound", "아웃바운드")),
    (("client", "클라이언트"), ("server", "서버")),
    (("awsalb",), ("awselb",), ("awsalbapp",)),
    (("increase", "increases", "accumulate", "증가", "축적"), ("decrease", "decreases", "감소", "줄어")),
)
ONLY = re.compile(r"\bonly\b|만\s", re.IGNORECASE)
# where a note line turns from one thing to another: "ALB의 경우 … AWSALB이고, CLB의 경우 AWSELB이다"
CLAUSE = re.compile(r"\s*[,;]\s*|(?<=[가-힣A-Za-z0-9])(?:이고|이며|이지만|지만|인 반면|반면)\s+")


@lru_cache(maxsize=None)
def _alias_patterns(family) -> tuple[tuple[re.Pattern, ...], ...]:
    """Each member's aliases as whole-word patterns, compiled once per family."""
    return tuple(tuple(re.compile(r"(?<![a-z])" + re.escape(alias) + r"(?![a-z])") for alias in aliases)
                 for aliases in family)


@lru_cache(maxsize=16384)  # note lines recur across statements and checks; callers only read the result
def _members(text: str, family) -> dict[int, str]:
    """Which members of a family `text` names, with the alias as written."""
    lowered = text.lower()
    found = {}
    for index, patterns in enumerate(_alias_patterns(family)):
        for pattern in patterns:
            match = pattern.search(lowered)
            if match:  # the whole word as written: "client" in "client-side" is struck as "client-side"
                end = match.end() + len(re.match(r"[A-Za-z0-9-]*", text[match.end():]).group().rstrip("-"))
                found[index] = text[match.start():end]
                break
    return found


SPELLED = {word: str(n) for n, word in
           enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}
SPELLED_SPAN = re.compile(r"\b(" + "|".join(SPELLED) + r")[-\s](?:hour|minute|second|day|week|month|year)s?\b"
                          r"(?:\s+(?!(?:of|in|on|at|to|for|and|or|the|a|an|is|are)\b)[A-Za-z]+)?",
                          re.IGNORECASE)  # "a rolling one-hour window": a number only with its unit (and its noun)


def _numbers(text: str) -> list[tuple[str, set[str]]]:
    """Number phrases of `text` with the bare numbers each holds, a spelled-out one with a unit included."""
    return ([(m.group().strip(), set(re.findall(r"\d+(?:\.\d+)?", m.group()))) for m in NUMBER.finditer(text)]
            + [(m.group(), {SPELLED[m.group(1).lower()]}) for m in SPELLED_SPAN.finditer(text)])


@dataclass(frozen=True)
class Contrast:
    """The claim says of one section what the notes say of its sibling (`A는 …, B는 …`)."""

    span: str  # how the claim names its subject
    subject: tuple  # the section the claim is about
    sibling: tuple  # the sibling section whose note line fits the claim's predicate
    evidence: ScoredUnit  # that line
    fit: float  # idf share of the predicate found in that line
    own_fit: float  # … and the best share found in the subject's own section


def digits(text: str) -> set[str]:
    """The numbers of `text`, not the digits of names (EC2, T3, S3)."""
    return {d for _, found in _numbers(text) for d in found}


def siblings_of(data, key: tuple) -> list[tuple]:
    """Sections under the same lecture or section heading as `key`, itself included: the notes' own contrast
    sets (Cluster / Spread / Partition under Placement Groups). Lectures side by side are no contrast set."""
    parent = key[1][:-1]
    return subsections(data, (key[0], parent)) if len(parent) > 1 else []


def find_contrast(claim: str, sections: list[tuple], data, idf: dict[str, float],
                  params: VerifyParams = VerifyParams()) -> Contrast | None:
    """A contradiction in meaning: the claim names section S, but its predicate is what a sibling of S says.

    "A spread placement group puts its instances on the same rack" names Spread Placement Group; with the
    family words taken out, "same rack" fits the Cluster sibling's lines better than Spread's own.
    """
    claim_tokens = set(expanded_terms(claim))
    for key in sections:
        family = siblings_of(data, key)
        if len(family) < 2:
            continue
        headings = {k: set(expanded_terms(k[1][-1])) for k in family}
        parent = set(expanded_terms(key[1][-2]))  # the parent's words that several members repeat are family
        # words too: "로드 밸런서" names no one of "로드 밸런서의 메트릭" and "Load Balancer Access Log"
        shared = set.intersection(*headings.values()) | {
            t for t in parent if sum(t in words for words in headings.values()) > 1}
        share = {k: len((headings[k] - shared) & claim_tokens) / max(len(headings[k] - shared), 1) for k in family}
        ranked = sorted(family, key=lambda k: -share[k])
        if share[ranked[0]] == 0 or share[ranked[0]] == share[ranked[1]]:
            continue  # the claim names no member of this family, or no single one
        subject = ranked[0]
        predicate = [t for t in claim_tokens - set().union(*headings.values()) if t in idf]
        if not predicate:
            return None
        mass = idf_mass(predicate, idf)
        fits = {}
        for k in family:
            units = [i for chunk in data.chunks_by_section[k] for i in data.units_by_chunk.get(chunk.chunk_id, [])]
            scored = [(mass_share(mass, data.unit_tokens[i]), i) for i in units]
            fits[k] = max(scored, default=(0.0, -1))
        sibling = max((k for k in family if k != subject), key=lambda k: fits[k][0])
        fit, own = fits[sibling][0], fits[subject][0]
        naming = (headings[subject] - shared) & claim_tokens
        if naming & set(expanded_terms(data.units[fits[sibling][1]].text)):
            return None  # the sibling's line names the claim's subject too: it speaks of both, or the claim is its copy
        if fit >= params.contrast_min_fit and fit >= own + params.contrast_margin:
            index = fits[sibling][1]
            unit = data.units[index]
            alias = _alias(claim, headings[subject] - shared)
            evidence = ScoredUnit(index, fit, data.chunk_by_id[unit.chunk_id], unit.line, unit.text)
            return Contrast(alias or claim, subject, sibling, evidence, fit, own)
        return None
    return None


def _alias(claim: str, tokens: set[str]) -> str | None:
    """The words of `claim` that name a section, from the first to the last of its distinctive tokens."""
    words = list(re.finditer(r"\S+", claim))
    hits = [m for m in words if expanded_terms(m.group()) & tokens]
    if not hits:
        return None
    return claim[hits[0].start():hits[-1].end()].strip(".,;:()")


def find_swapped_pair(sentence: str, evidence: list[ScoredUnit]) -> tuple[str, ScoredUnit] | None:
    """A claim that pairs names a note line keeps in separate clauses: the line says "A … X, B … Y" and the
    claim says A with Y. Returns the claim's word for Y and the line. Each clause must name something the claim
    does not (X, B), so a claim that restates both pairs, or one of them, is no contradiction."""
    said = set(salient_terms(sentence))
    for unit in evidence:
        clauses = [c for c in CLAUSE.split(unit.text) if c.strip()]
        names = [set(salient_terms(c)) for c in clauses]
        for i, j in permutations(range(len(clauses)), 2):
            own_i, own_j = names[i] - names[j], names[j] - names[i]
            first, second = own_i & said, own_j & said
            if first and second and own_i - said and own_j - said:
                word = next(iter(sorted(second)))
                found = re.search(re.escape(word), sentence, re.IGNORECASE)
                return (found.group() if found else word), unit
    return None


LESS, MORE = "<", ">"
DETERMINER = r"(?:(?:the|a|an|your|my|our|its|their)\s+)?"
OPERAND_WORD = (r"(?!(?:you|your|that|which|who|the|a|an|and|or|is|are|it|when|if|then"
                r"|drops?|falls?|goes|becomes?|gets?|rises?|exceeds?)\b)[A-Za-z가-힣][\w.-]*")
OPERAND = DETERMINER + r"(?P<{0}>" + OPERAND_WORD + r"(?:\s+" + OPERAND_WORD + r"){{0,2}})"
# "A drops below B", "A exceeds B"; "A가 B보다 작아지면", "A가 B를 초과하면", "A가 B 미만이면"
COMPARISONS = (
    re.compile(OPERAND.format("a") + r"\s+(?P<rel>(?:(?:drops?|falls?|goes|is|are|becomes?|gets?|rises?)\s+)?"
               r"(?:below|under|lower than|less than|above|over|higher than|more than|greater than)|exceeds?)\s+"
               + OPERAND.format("b") + r"(?=[\s,.;]|$)", re.IGNORECASE),
    re.compile(OPERAND.format("a") + r"(?:가|이|는|은)\s+" + OPERAND.format("b")
               + r"\s*(?P<rel>보다\s*(?:작|낮|적|크|높|많)\S*|(?:를|을)\s*(?:초과|넘)\S*|\s*(?:미만|이하|이상|초과)\S*)"),
)
LOWER = re.compile(r"below|under|lower|less|작|낮|적|미만|이하", re.IGNORECASE)


def comparisons(text: str) -> list[tuple[str, str, str, str]]:
    """(left operand, right operand, < or >, the relation as written) for each comparison in `text`."""
    found = []
    for pattern in COMPARISONS:
        for m in pattern.finditer(text):
            found.append((m.group("a"), m.group("b"), LESS if LOWER.search(m.group("rel")) else MORE, m.group("rel")))
    return found


# "A are more P than B", "A is cheaper than B"; "A가 B보다 (더) P"
OUTRANKS = (
    re.compile(DETERMINER + r"(?P<a>" + OPERAND_WORD + r"(?:\s+" + OPERAND_WORD + r"){0,2})\s+(?:is|are)\s+"
               r"(?P<p>more\s+[\w-]+|[a-z]+er)\s+than\s+" + OPERAND.format("b"), re.IGNORECASE),
    re.compile(r"(?P<a>[^\s,]+(?:\s+[^\s,]+)?)(?:가|이|는|은)\s+(?P<b>[^\s,]+(?:\s+[^\s,]+)?)\s*보다\s+(?:더\s+)?"
               r"(?P<p>[^\s.,]+(?:\s+[^\s.,]+)?)"),
)
SUPERLATIVE = re.compile(r"가장\s+(?P<p>[^\s.,]+(?:\s+[^\s.,]+)?)|\bthe\s+(?:most\s+)?(?P<q>[\w-]+)", re.IGNORECASE)


def find_outranked(sentence: str, evidence: list[ScoredUnit]) -> tuple[str, ScoredUnit] | None:
    """A claim that ranks A above B in a quality the notes give B the most of: "온디맨드 인스턴스가 스팟 인스턴스보다
    비용 효율적이다" against "AWS에서 가장 비용 효율적인 인스턴스이다" under Spot Instance. The superlative's subject
    is what its line or heading names; the quality must share a term with the claim's. Returns the claim's
    comparison."""
    def alike(x: str, y: str) -> float:
        tx = expanded_terms(x)
        return len(tx & expanded_terms(y)) / len(tx) if tx else 0.0

    for pattern in OUTRANKS:
        for claim in pattern.finditer(sentence):
            quality = expanded_terms(re.sub(r"^more\s+", "", claim.group("p"), flags=re.IGNORECASE))
            for unit in evidence:
                for top in SUPERLATIVE.finditer(unit.text):
                    said = top.group("p") or top.group("q") or ""
                    if not (HANGUL.search(said) or top.group(0).lower().startswith("the most")):
                        continue  # "the X" alone is no superlative
                    subject = f"{section_title(unit.chunk.heading_path)} {unit.text[:top.start()]}"
                    if (quality & expanded_terms(said) and alike(claim.group("b"), subject) >= 0.5
                            and alike(claim.group("a"), subject) < 0.5):
                        return claim.group().strip(" ."), unit
    return None


def find_reversed_comparison(sentence: str, evidence: list[ScoredUnit]) -> tuple[str, ScoredUnit] | None:
    """A claim that compares two things the other way round from a note line: "the Spot price drops below the
    max price" against "max price가 spot price 보다 작아지면". The operands are matched by their terms (glossary
    translations count): each of one pairing at least half alike, and that pairing clearly ahead of the other.
    Returns the claim's relation."""
    def overlap(x: str, y: str) -> float:
        tx, ty = expanded_terms(x), expanded_terms(y)
        return len(tx & ty) / len(tx | ty) if tx | ty else 0.0

    for a, b, relation, written in comparisons(sentence):
        for unit in evidence:
            for la, lb, line_relation, _ in comparisons(unit.text):
                straight = (overlap(a, la), overlap(b, lb))
                crossed = (overlap(a, lb), overlap(b, la))
                if max(min(straight), min(crossed)) < 0.5 or abs(sum(straight) - sum(crossed)) < 0.5:
                    continue  # the operands are not the same two things, or cannot be told apart
                same_order = sum(straight) > sum(crossed)
                if (relation == line_relation) != same_order:
                    return written, unit
    return None


# how a thing happens: by itself, or by the user's hand; the words after the marker say what happens
AUTOMATIC = re.compile(r"\b(?:automatically|automatic)\b|자동으로|자동", re.IGNORECASE)
MANUAL = re.compile(r"\b(?:manually|manual|by hand|yourself)\b|수동으로|수동|(?:사용자가\s*)?직접", re.IGNORECASE)


MIN_PREDICATE = 3  # a claim's own words besides the family's names and numbers: at least this many to place it
CONTEXT_LINES = 8  # how far back a note line's context is looked for: the label above its list
BULLET_LINE = re.compile(r"^(\s*)(?:[-*+]|\d+\.)\s+")


def member_context(unit: ScoredUnit, family) -> dict[int, str]:
    """The members of `family` a note line speaks of: those it names, else those its parent names (the nearest
    line above it in its chunk that is not a sibling item of the same list: "인스턴스 상태 확인은 …" above
    "- 손상된 파일 시스템"), else its heading. Sibling items name their own members, not the line's."""
    named = _members(unit.text, family)
    if named:
        return named
    lines = unit.chunk.text.split("\n")
    position = unit.line - unit.chunk.line_start
    if 0 <= position < len(lines):
        item = BULLET_LINE.match(lines[position])
        for above in reversed(lines[max(0, position - CONTEXT_LINES):position]):
            sibling = BULLET_LINE.match(above)
            if item and sibling and len(sibling.group(1)) >= len(item.group(1)):
                continue  # an item of the same list (or deeper)
            named = _members(above, family)
            if named:
                return named
    return _members(section_title(unit.chunk.heading_path), family)


def with_next_line(unit: ScoredUnit, data) -> list[str]:
    """The tokens of a note line and of the line right after it in its chunk: a claim often says two adjacent
    lines in one sentence ("… overview는 personal health dashboard에서 …, 이 대시보드는 …")."""
    rows = [i for i in data.units_by_chunk.get(unit.chunk.chunk_id, [])
            if data.units[i].line in (unit.line, unit.line + 1)]
    return [t for i in [unit.index, *rows] for t in data.unit_tokens[i]]


def find_misplaced_member(sentence: str, evidence: list[ScoredUnit], data, idf: dict[str, float],
                          params: VerifyParams = VerifyParams()) -> tuple[str, ScoredUnit] | None:
    """The claim says of one member of a family what the notes say of another: the line that best holds the
    claim's predicate (its words without the family's names) speaks of a sibling, by its own words or by the
    label above it, and clearly better (`contrast_margin`) than any line about the claim's own member. "Memory
    exhaustion and a corrupted file system … are detected by the system status check" against "- 손상된 파일
    시스템" under "인스턴스 상태 확인은 …"."""
    words, terms = tokenize(sentence), expanded_terms(sentence)
    spans: list[list[str]] = []  # each evidence line's tokens with the next line's, read once for every family
    for family in FAMILIES:
        said = _members(sentence, family)
        if not said:
            continue
        names = {t for aliases in family for alias in aliases for t in expanded_terms(alias)}
        predicate = [t for t in terms if t not in names and t in idf]
        if len({t for t in words if t not in names and not t.isdigit()}) < MIN_PREDICATE:
            continue  # "… up to 7 partitions per AZ": a 7 and an AZ fit any line that has them
        mass = idf_mass(predicate, idf)
        spans = spans or [with_next_line(u, data) for u in evidence]
        fits = sorted(((mass_share(mass, span), k, u) for k, (span, u) in enumerate(zip(spans, evidence))),
                      key=lambda f: (-f[0], f[1]))
        if not fits or fits[0][0] < params.contrast_min_fit:
            continue
        fit, _, unit = fits[0]
        if _members(unit.text, family) and set(said) & set(_members(section_title(unit.chunk.heading_path), family)):
            continue  # a line of the claim's own section that names a sibling in passing ("중지하지 않거나")
        noted = member_context(unit, family)
        own = max((f for f, _, u in fits if set(said) & set(member_context(u, family))), default=0.0)
        if noted and not set(said) & set(noted) and fit >= own + params.contrast_margin:
            return next(iter(said.values())), unit  # the claim's own member's lines hold its words clearly less
    return None


def find_mode_clash(sentence: str, evidence: list[ScoredUnit]) -> tuple[str, ScoredUnit] | None:
    """The claim says a thing happens by hand where a note line says it happens automatically, or the reverse:
    "사용자가 인스턴스를 직접 다시 시작해야 한다" against "자동으로 인스턴스를 다시 시작한다". The words after
    each marker must share a term (the same action), and a line that says both modes clashes with neither.
    Returns the claim's marker with the words after it."""
    def acts(text: str, marker: re.Pattern) -> list[tuple[str, set[str]]]:
        out = []
        for m in marker.finditer(text):
            after = " ".join(text[m.end():].split()[:3])
            out.append((f"{m.group()} {after}".strip(" .,"), set(expanded_terms(after))))
        return out

    for said_mode, other_mode in ((MANUAL, AUTOMATIC), (AUTOMATIC, MANUAL)):
        claimed = acts(sentence, said_mode)
        if not claimed or other_mode.search(sentence):
            continue
        for unit in evidence:
            if said_mode.search(unit.text):
                continue
            for _, noted in acts(unit.text, other_mode):
                for phrase, terms in claimed:
                    if terms & noted:
                        return phrase, unit
    return None


def find_qualifier_clash(sentence: str, evidence: list[ScoredUnit]) -> tuple[str, ScoredUnit] | None:
    """The claim qualifies a thing the opposite way from a note line: several where the line allows only one
    ("multiple patch baselines" against "하나의 패치 베이스라인에만"), the same where it says different ones
    ("the same rack" against "서로 다른 랙"), or the reverse. The two nouns must be the same thing: the terms of
    one (glossary translations count) all among the other's, so "patch groups" never matches "패치
    베이스라인". A line that says both ("여러 계정 … 하나의 계정에서") clashes with neither. Returns the claim's
    qualified phrase and the line."""
    def nouns(text: str) -> list[tuple[str, str, frozenset[str]]]:
        return [(quality, phrase, expanded_terms(noun)) for quality, phrase, noun in qualified(text)]

    def same_thing(terms: frozenset[str], other: frozenset[str]) -> bool:
        return bool(terms and other) and (terms <= other or other <= terms)

    claimed = nouns(sentence)
    for unit in evidence:
        noted = nouns(unit.text) if claimed else []
        for quality, phrase, terms in claimed:
            says_too = any(q == quality and same_thing(terms, t) for q, _, t in noted)
            if not says_too and any(q == OPPOSITE[quality] and same_thing(terms, t) for q, _, t in noted):
                return phrase, unit
    return None


# "only X" in a claim: English "only (on) X …" up to a clause break, Korean "X (인스턴스)에서만/에만/만"
WORD = r"[A-Za-z0-9/-]+(?:\.[A-Za-z0-9/-]+)*"  # m5.large, T2/T3, not a sentence's full stop
ONLY_SCOPE = re.compile(r"\bonly\b(?:\s+" + WORD + r"){1,6}?(?=[,.;]|\s+(?:but|while|when|so|because)\b|$)"
                        r"|[A-Za-z](?:" + WORD + r")?(?:\s+[가-힣]+?)?(?:에서만|에만|(?<!뿐)만)(?=[\s.,]|$)", re.IGNORECASE)
NAME = re.compile(r"[A-Za-z](?:" + WORD + ")?")
SCOPE_WORDS = frozenset("only on in with for to the a an and or of".split())
# a note line listing names together: "Linux 및 Windows", "EC2 인스턴스뿐만 아니라 S3, DynamoDB", "Linux, MacOS"
LISTED_WITH = r"(?:\s*[가-힣]*)?\s*(?:및|와|과|,|뿐만\s+아니라|말고도|외에도|\band\b|\bor\b|as\s+well\s+as)\s*"


def _find_name(name: str, text: str) -> re.Match | None:
    """`name` in `text` as a whole name ("m5.large", not the "m5" of it), in any case."""
    return re.search(r"(?<![\w.-])" + re.escape(name) + r"(?![\w.-])", text, re.IGNORECASE)


def find_wider_scope(sentence: str, evidence: list[ScoredUnit]) -> tuple[str, ScoredUnit] | None:
    """A claim that says "only X" against a note line that lists X beside another name: "Hibernate works only
    on Linux instances" / "Linux 및 Windows를 비롯한 여러 가지 운영 체제에서 작동한다". A line that itself says
    "X만" agrees with the claim. Returns the "only" phrase and the line."""
    for scope in ONLY_SCOPE.finditer(sentence):
        rest = sentence[:scope.start()] + sentence[scope.end():]
        named = {w.lower() for w in NAME.findall(scope.group())} - SCOPE_WORDS
        named = {x for x in named if not _find_name(x, rest)}
        for unit in evidence:
            text = unit.text
            for x in named:
                own = _find_name(x, text)
                if own is None or re.match(r"\s*[가-힣]*(?:에서만|에만|(?<!뿐)만)(?=[\s.,]|$)|\s+only\b", text[own.end():]):
                    continue
                after = re.match(LISTED_WITH + "(" + NAME.pattern + ")", text[own.end():])
                before = re.search("(" + NAME.pattern + ")" + LISTED_WITH + "$", text[:own.start()])
                others = {m.group(1).lower() for m in (after, before) if m} - named
                if others:
                    return scope.group().strip(), unit
    return None


def find_contradiction(sentence: str, evidence: list[ScoredUnit],
                       params: VerifyParams = VerifyParams()) -> tuple[str, ScoredUnit] | None:
    """The wrong part of `sentence` and the note sentence that shows it, if they disagree."""
    if not evidence:
        return None
    best = evidence[0]
    holder = next((u for u in evidence[:2] if _numbers(u.text)), None)  # the best sentence that has numbers
    evidence_numbers = set().union(*(n for _, n in _numbers(holder.text))) if holder else set()
    for phrase, numbers in _numbers(sentence):
        if evidence_numbers and not numbers & evidence_numbers:
            return phrase, holder
    for family in FAMILIES:
        said = _members(sentence, family)
        if len(said) != 1:
            continue  # a swap names one member; a claim that lists several swaps none
        noted = member_context(best, family)  # its own words, else the label above its list, else its heading
        about = set(_members(section_title(best.chunk.heading_path), family))  # the section the line sits in
        if noted and not set(said) & set(noted) and not set(said) & about:
            return next(iter(said.values())), best
        if noted and set(noted) - set(said) and ONLY.search(sentence):
            alias = next(iter(said.values()))
            only = re.search(r"only\s+(?:\w+\s+){0,3}?" + re.escape(alias), sentence, re.IGNORECASE)
            return (only.group() if only else alias), best
    clash = (find_swapped_pair(sentence, evidence[:2]) or find_qualifier_clash(sentence, evidence[:2])
             or find_reversed_comparison(sentence, evidence[:2]) or find_mode_clash(sentence, evidence[:2]))
    if clash:
        return clash
    stated, noted_negation = negation(sentence), negation(best.text)
    if bool(stated) != bool(noted_negation) and best.score >= params.polarity_min_score:
        if stated:
            return (with_verb(stated, sentence), best) if line_speaks_of(negated_word(stated, sentence), best) else None
        stem = re.sub(r"(지는|지|되지|하지).*$", "", noted_negation or "")
        if len(stem) >= 2 and stem in sentence:
            start = sentence.index(stem)
            prefix = sentence[:start].rstrip().rsplit(" ", 1)
            begin = len(prefix[0]) + 1 if len(prefix) > 1 else 0
            end = sentence.find(" ", start + len(stem))
            return sentence[begin:end if end > 0 else len(sentence)].strip(" ."), best
        if not HANGUL.search(sentence):  # an English claim: the word the line denies, through the glossary
            denied = expanded_terms(negated_word(noted_negation, best.text))
            for word in re.finditer(r"[A-Za-z][A-Za-z-]*", sentence):
                if expanded_terms(word.group()) & denied:
                    found = re.match(r"[A-Za-z-]+(?:\s+(?!" + CLAUSE_WORD + r")[A-Za-z0-9-]+){0,2}",
                                     sentence[word.start():], re.IGNORECASE)
                    return found.group(), best
    return None


AUXILIARY_VERBS = ("하지", "되지", "있지")  # "필요로 하지 않는다": the word denied is the one before


def negated_word(stated: str, sentence: str) -> str:
    """The word a negation denies: "guaranteed" in "not guaranteed", "보장하지" in "보장하지 않는다", and for a
    bare "없다" the word before it ("손실이 없다")."""
    words = stated.split()
    if re.match(r"[A-Za-z]", stated):  # "not X", "cannot X", "never X": the word after the negation
        after = sentence[sentence.find(stated) + len(stated):].split()
        return words[-1] if len(words) > 1 else (after[0] if after else stated)
    if len(words) > 1 and not re.match(r"(?:지|수)[는도가]?\b", words[0]) and words[0] not in AUXILIARY_VERBS:
        return words[0]
    before = sentence[:sentence.find(stated)].split()
    return before[-1] if before else stated


def line_speaks_of(word: str, unit: ScoredUnit) -> bool:
    """The evidence line (or its heading) holds the negated word, in either language: only then does the
    statement's negation contradict it, rather than say something the line is silent on. An English word the
    glossary cannot put into Korean cannot be checked against a Korean line, so it is given the benefit."""
    if not HANGUL.search(word) and expand_query(word) == word and HANGUL.search(unit.text):
        return True
    return bool(expanded_terms(word) & expanded_terms(f"{section_title(unit.chunk.heading_path)} {unit.text}"))


AUXILIARY = r"(?:(?:does|do|did|is|are|was|were|will|would|should|has|have|had)\s+)?"
CLAUSE_WORD = (r"(?:when|if|because|and|or|but|so|to|in|on|for|of|at|by|with|from|unless|until|while|after|before"
               r"|a|an|the|its|their|your)\b")


def with_verb(span: str, sentence: str) -> str:
    """A negation struck with what it negates, which is what is wrong: a Korean "수 없다" with its verb
    ("포함시킬 수 없다"), a Korean "A가 아니라 B에" whole, an English one with its auxiliary and up to two words
    of its object ("does not launch replacement instances", not the clause or the article after it)."""
    if span.startswith("수"):
        pattern = r"[가-힣]+\s+" + re.escape(span)
    elif span.startswith(("아니라", "아니고")):  # "A가 아니라 B에": the contrast, each side with its English name
        name = r"(?:[A-Za-z0-9-]+\s+)*"
        pattern = name + r"\S+\s+" + re.escape(span) + r"\s+" + name + r"\S*[가-힣]\S*"
    elif re.match(r"[A-Za-z]", span):
        pattern = AUXILIARY + re.escape(span) + r"(?:\s+(?!" + CLAUSE_WORD + r")[A-Za-z0-9-]+){0,2}"
    else:
        return span
    found = re.search(pattern, sentence, re.IGNORECASE)
    return found.group() if found else span


def names_sibling(claim: str, line: str) -> bool:
    """`line` names another member of a family the claim names, and not the claim's own ("NLB … X-Forwarded-For"
    against an ALB line): close in meaning, but about its sibling."""
    for family in FAMILIES:
        said, seen = _members(claim, family), _members(line, family)
        if said and seen and not set(said) & set(seen):
            return True
    return False
