"""轻重缓急: a suggested urgency with its reasons, from the rules file staff can read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from wagedispute.models import Urgency

RULES_PATH = Path(__file__).resolve().parent / "triage_rules.json"

_LEVELS = [Urgency.NORMAL, Urgency.URGENT, Urgency.CRITICAL]


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


def suggest_urgency(
    facts: TriageFacts, rules: dict[str, Any] | None = None
) -> tuple[Urgency, list[str]]:
    """The highest level any signal gives, raised before the Spring Festival, with reasons."""
    rules = rules or load_rules()
    found: list[tuple[Urgency, str]] = []

    level, limit = _threshold(facts.workers_affected, rules["workers_affected"])
    if level:
        found.append((level, f"涉及工人 {facts.workers_affected} 人（≥{limit} 人）"))

    yuan = facts.amount_owed_fen // 100
    level, limit = _threshold(yuan, rules["amount_owed_yuan"])
    if level:
        found.append((level, f"欠薪金额 {yuan:,} 元（≥{limit:,} 元）"))

    months = months_owed(facts.period_start, facts.period_end, facts.today)
    level, limit = _threshold(months, rules["months_owed"])
    if level:
        found.append((level, f"拖欠 {months} 个月（≥{limit} 个月）"))

    text = facts.description or ""
    for name in ("critical", "urgent"):
        hits = [word for word in rules["threat_keywords"].get(name, []) if word in text]
        if hits:
            found.append((Urgency(name), f"描述中出现风险词：{'、'.join(hits)}"))
            break

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
    return _LEVELS[rank], reasons
