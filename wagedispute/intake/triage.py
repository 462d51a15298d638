"""轻重缓急: a suggested urgency with its reasons, from the rules file staff can read.

The description is read for meaning, not for fixed strings: threat and risk language is grouped
into families (self-harm, violence, blocking roads, gathering, higher authorities, media), each
matched through phrases, whole-word verbs (jieba segmentation) and patterns; a negated mention
("不会跳楼") does not count; counts, amounts and months written in Chinese numerals ("三十多个工人",
"八万块", "三个多月") are read with cn2an and weighed like the form's own figures.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import cn2an
import jieba

from wagedispute.models import Urgency

RULES_PATH = Path(__file__).resolve().parent / "triage_rules.json"

_LEVELS = [Urgency.NORMAL, Urgency.URGENT, Urgency.CRITICAL]

# Clauses end at punctuation: a negation or a figure never reaches across one.
_CLAUSE_SPLIT = re.compile(r"[，,。．.！!？?；;：:\n\r、…~～]+")
# A run of digits and Chinese numerals, converted as a whole by cn2an ("十二万五千", "2万5").
_NUMERAL_CHARS = "零〇一二两三四五六七八九十百千万亿"
_NUMERAL_RUN = re.compile(rf"(?:[0-9]+(?:\.[0-9]+)?|[{_NUMERAL_CHARS}])+")
_APPROX = "(?:多|余|来|几)?"
_WORKERS = re.compile(
    rf"(?P<n>[0-9]+){_APPROX}\s*(?:个|名|位|号)?\s*(?:工人|农民工|民工|工友|兄弟|师傅|人)(?!民)"
)
_MONEY = re.compile(
    rf"(?P<n>[0-9]+(?:\.[0-9]+)?){_APPROX}(?P<mult>万|千)?{_APPROX}(?P<unit>块钱|块|元|圆)?"
)
_MONEY_CONTEXT = re.compile(r"欠|拖|工资|工钱|薪|钱|款")
_MONTHS = re.compile(rf"(?P<n>[0-9]+){_APPROX}\s*(?:个)?{_APPROX}\s*(?P<unit>月|年)(?!份)")
_ARREARS_CONTEXT = re.compile(r"欠|拖|没发|未发|没给|没拿|没结|不发|不给|没有发|没有给")


@dataclass(frozen=True)
class TriageFacts:
    """What intake knows about a complaint when it suggests a level."""

    workers_affected: int
    amount_owed_fen: int
    description: str
    today: date
    period_start: date | None = None
    period_end: date | None = None
    # Earlier complaints against the same site or employer within the rules' window.
    repeat_count: int = 0
    # The same worker (matched by keyed hash of mobile or ID) has an open complaint already.
    earlier_unresolved_by_worker: bool = False


@dataclass(frozen=True)
class Signal:
    """One family of risk language found in a description."""

    key: str
    label: str
    level: Urgency
    words: tuple[str, ...]
    clause: str
    negated: bool = False


@dataclass(frozen=True)
class TextFigures:
    """Figures a description states in words: the largest of each kind, 0 when none."""

    workers: int = 0
    amount_yuan: int = 0
    months: int = 0


@cache
def load_rules(path: str = str(RULES_PATH)) -> dict[str, Any]:
    """The triage rules, read once per process from the JSON data file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def months_owed(start: date | None, end: date | None, today: date) -> int:
    """Calendar months touched by the period owed (both ends counted); 0 when unknown."""
    if start is None:
        return 0
    end = end or today
    if end < start:
        return 0
    return (end.year - start.year) * 12 + end.month - start.month + 1


def next_spring_festival(today: date, rules: dict[str, Any] | None = None) -> date | None:
    """The first 春节 (正月初一) on or after ``today`` from the rules' date table."""
    rules = rules or load_rules()
    upcoming = [
        date.fromisoformat(d) for d in rules["spring_festival_dates"] if d >= today.isoformat()
    ]
    return min(upcoming) if upcoming else None


def _threshold(value: int, levels: dict[str, int]) -> tuple[Urgency, int] | tuple[None, None]:
    """The highest level whose threshold ``value`` reaches."""
    for name in ("critical", "urgent"):
        if name in levels and value >= levels[name]:
            return Urgency(name), levels[name]
    return None, None


# --- Reading the description ------------------------------------------------------------------

_tokenizer_lock = threading.Lock()
_tokenizers: dict[int, jieba.Tokenizer] = {}


def _tokenizer(rules: dict[str, Any]) -> jieba.Tokenizer:
    """A jieba tokenizer of our own (not jieba's global one) that keeps the rules' words whole.

    Built on first use: loading jieba's dictionary takes about a second, and most descriptions
    never need it (only a candidate risk word asks for segmentation).
    """
    key = id(rules)
    with _tokenizer_lock:
        tokenizer = _tokenizers.get(key)
        if tokenizer is None:
            logging.getLogger("jieba").setLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            words = {w for s in rules["threat_signals"] for w in s["phrases"]}
            words |= set(rules["negators"])
            for word in sorted(words):
                if len(word) > 1:
                    tokenizer.add_word(word, freq=100_000)
            _tokenizers[key] = tokenizer
    return tokenizer


def warm_up(rules: dict[str, Any] | None = None) -> None:
    """Load jieba's dictionary now (about a second) rather than in the first request needing it:
    for a process's start-up (a gunicorn or RQ worker), never at import."""
    _tokenizer(rules or load_rules()).initialize()


def normalise_text(text: str) -> str:
    """NFKC (full-width digits and punctuation), no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


def clauses(text: str) -> list[str]:
    """The description cut into clauses at punctuation."""
    return [c for c in _CLAUSE_SPLIT.split(normalise_text(text)) if c]


_vague: dict[int, tuple[dict[str, Any], re.Pattern[str]]] = {}


def _vague_expression(rules: dict[str, Any]) -> re.Pattern[str]:
    """The rules' vague amounts as one expression, longest first."""
    cached = _vague.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    words = sorted(rules["vague_numbers"], key=len, reverse=True)
    # "十多" is vague on its own, but part of a figure in "二十多万".
    expression = re.compile(
        rf"(?<![{_NUMERAL_CHARS}0-9])(?:{'|'.join(re.escape(w) for w in words)})"
    )
    _vague[id(rules)] = (rules, expression)
    return expression


def arabic_numerals(clause: str, rules: dict[str, Any] | None = None) -> str:
    """The clause with Chinese numerals as digits ("三十多个工人" → "30多个工人").

    Vague amounts ("几十", "上百") become the smallest value they can mean; a run cn2an cannot
    read ("万一", "第一") stays as it was.
    """
    rules = rules or load_rules()
    vague = rules["vague_numbers"]
    clause = _vague_expression(rules).sub(lambda m: str(vague[m.group(0)]), clause)

    def convert(match: re.Match[str]) -> str:
        run = match.group(0)
        # A trailing 万/千 stays a word, so "12万多" and "二十多万" read alike: 12万, 20多万.
        unit = run[-1] if len(run) > 1 and run[-1] in "万千" else ""
        if unit and any(c in run[:-1] for c in {"万": "万亿", "千": "千万亿"}[unit]):
            unit = ""  # "十二万五千": the 千 belongs inside the figure
        digits = run[: len(run) - len(unit)]
        if re.fullmatch(r"[0-9.]+", digits):
            return run
        try:
            value = cn2an.cn2an(digits, "smart")
        except ValueError:
            return run
        return (str(int(value)) if float(value).is_integer() else str(value)) + unit

    return _NUMERAL_RUN.sub(convert, clause)


def text_figures(text: str, rules: dict[str, Any] | None = None) -> TextFigures:
    """Workers, amount (yuan) and months owed that the description states, in any numerals."""
    rules = rules or load_rules()
    workers = amount = months = 0
    for clause in clauses(text):
        plain = arabic_numerals(clause, rules)
        for m in _WORKERS.finditer(plain):
            workers = max(workers, int(m.group("n")))
        if _MONEY_CONTEXT.search(plain):
            for m in _MONEY.finditer(plain):
                if not (m.group("mult") or m.group("unit")):
                    continue
                scale = {"万": 10_000, "千": 1_000}.get(m.group("mult") or "", 1)
                amount = max(amount, int(float(m.group("n")) * scale))
        if _ARREARS_CONTEXT.search(plain):
            for m in _MONTHS.finditer(plain):
                n = int(m.group("n"))
                months = max(months, n * 12 if m.group("unit") == "年" else n)
    return TextFigures(workers, amount, months)


def _negated(tokens: list[tuple[str, int, int]], start: int, rules: dict[str, Any]) -> bool:
    """Whether a negator stands right before the word at ``start`` (helper words skipped)."""
    negators = set(rules["negators"])
    skip = set(rules["negation_skip"])
    before = [t for t in tokens if t[2] <= start]
    for word, _, _ in reversed(before[-6:]):
        if word in negators:
            return True
        if word not in skip:
            return False
    return False


@dataclass(frozen=True)
class _Matcher:
    """A family's phrases and patterns as one compiled expression (read once per rules)."""

    signal: dict[str, Any]
    expression: re.Pattern[str] | None
    verbs: frozenset[str]


_matchers: dict[int, tuple[dict[str, Any], list[_Matcher]]] = {}


def _family_matchers(rules: dict[str, Any]) -> list[_Matcher]:
    """Each family's matcher; phrases longest first, so the fullest wording is quoted."""
    cached = _matchers.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    matchers = []
    for signal in rules["threat_signals"]:
        phrases = sorted(signal["phrases"], key=len, reverse=True)
        parts = [re.escape(p) for p in phrases] + [f"(?:{p})" for p in signal["patterns"]]
        # A lookahead finds overlapping mentions ("不想活" inside "不想活了").
        expression = re.compile(f"(?=({'|'.join(parts)}))") if parts else None
        matchers.append(_Matcher(signal, expression, frozenset(signal["tokens"])))
    _matchers[id(rules)] = (rules, matchers)
    return matchers


def _hits_in_clause(clause: str, matcher: _Matcher, rules: dict[str, Any]) -> list[tuple[str, int]]:
    """(word, position) of each phrase, whole-word verb or pattern of a family in a clause."""
    hits = []
    if matcher.expression is not None:
        hits += [(m.group(1), m.start()) for m in matcher.expression.finditer(clause)]
    verbs = [v for v in matcher.verbs if v in clause]
    if verbs:
        for word, start, _ in _tokenizer(rules).tokenize(clause):
            if word in verbs:
                hits.append((word, start))
    return hits


def find_signals(text: str, rules: dict[str, Any] | None = None) -> list[Signal]:
    """Each family of risk language in the description, or its negated mention."""
    rules = rules or load_rules()
    found: list[Signal] = []
    parts = clauses(text)
    for matcher in _family_matchers(rules):
        signal = matcher.signal
        asserted: list[tuple[str, str]] = []
        denied: list[tuple[str, str]] = []
        for clause in parts:
            hits = _hits_in_clause(clause, matcher, rules)
            if not hits:
                continue
            tokens: list[tuple[str, int, int]] | None = None
            for word, start in hits:
                negated = False
                # Segmentation is needed only where a negator could stand before the word.
                if any(n in clause[:start] for n in rules["negators"]):
                    if tokens is None:
                        tokens = list(_tokenizer(rules).tokenize(clause))
                    negated = _negated(tokens, start, rules)
                (denied if negated else asserted).append((word, clause))
        chosen, negated = (asserted, False) if asserted else (denied, True)
        if chosen:
            words = tuple(dict.fromkeys(word for word, _ in chosen))
            found.append(
                Signal(
                    signal["key"],
                    signal["label"],
                    Urgency(signal["level"]),
                    words,
                    chosen[0][1],
                    negated,
                )
            )
    return found


def _quote(clause: str, limit: int = 30) -> str:
    return clause if len(clause) <= limit else clause[: limit - 1] + "…"


def suggest_urgency(
    facts: TriageFacts, rules: dict[str, Any] | None = None
) -> tuple[Urgency, list[str]]:
    """The highest level any signal gives, raised before the Spring Festival, with reasons."""
    rules = rules or load_rules()
    found: list[tuple[Urgency, str]] = []
    notes: list[str] = []
    stated = text_figures(facts.description, rules)

    level, limit = _threshold(facts.workers_affected, rules["workers_affected"])
    if level:
        found.append((level, f"涉及工人 {facts.workers_affected} 人（≥{limit} 人）"))
    elif stated.workers > facts.workers_affected:
        level, limit = _threshold(stated.workers, rules["workers_affected"])
        if level:
            found.append((level, f"情况说明提到约 {stated.workers} 名工人（≥{limit} 人）"))

    yuan = facts.amount_owed_fen // 100
    level, limit = _threshold(yuan, rules["amount_owed_yuan"])
    if level:
        found.append((level, f"欠薪金额 {yuan:,} 元（≥{limit:,} 元）"))
    elif stated.amount_yuan > yuan:
        level, limit = _threshold(stated.amount_yuan, rules["amount_owed_yuan"])
        if level:
            found.append((level, f"情况说明提到欠薪约 {stated.amount_yuan:,} 元（≥{limit:,} 元）"))

    months = months_owed(facts.period_start, facts.period_end, facts.today)
    level, limit = _threshold(months, rules["months_owed"])
    if level:
        found.append((level, f"拖欠 {months} 个月（≥{limit} 个月）"))
    elif stated.months > months:
        level, limit = _threshold(stated.months, rules["months_owed"])
        if level:
            found.append((level, f"情况说明提到拖欠约 {stated.months} 个月（≥{limit} 个月）"))

    for signal in find_signals(facts.description, rules):
        words = "、".join(signal.words)
        if signal.negated:
            notes.append(f"“{_quote(signal.clause)}”为否定表述（{words}），未计为{signal.label}")
            continue
        found.append(
            (
                signal.level,
                f"{signal.label}（{signal.level.label}）：“{_quote(signal.clause)}”，"
                f"风险词：{words}",
            )
        )

    repeat = rules["repeat_complaints"]
    level, limit = _threshold(facts.repeat_count, repeat)
    if level:
        found.append(
            (
                level,
                f"同一工地或用人单位 {repeat['window_days']} 天内已有 {facts.repeat_count} 宗投诉",
            )
        )

    if facts.earlier_unresolved_by_worker:
        found.append(
            (Urgency(rules["earlier_unresolved_by_same_worker"]), "该工人此前的投诉尚未解决")
        )

    rank = max((_LEVELS.index(level) for level, _ in found), default=0)
    reasons = [reason for _, reason in found]

    festival = next_spring_festival(facts.today, rules)
    window = rules["spring_festival"]["window_days"]
    if festival is not None and (festival - facts.today).days <= window:
        days = (festival - facts.today).days
        rank = min(rank + rules["spring_festival"]["raise_levels"], len(_LEVELS) - 1)
        reasons.append(f"距春节还有 {days} 天（春节前 {window} 天内，风险上升）")

    if not reasons:
        reasons.append("未发现紧急信号")
    return _LEVELS[rank], reasons + notes
