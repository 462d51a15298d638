"""Group cases about the same site or employer into one dispute with live totals."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from wagedispute.models import Case, DisputeGroup

DEFAULT_WINDOW_DAYS = 90

# Longest first, so "有限责任公司" is dropped whole rather than leaving "责任".
_COMPANY_SUFFIXES = sorted(
    [
        "股份有限公司",
        "有限责任公司",
        "有限公司",
        "集团公司",
        "集团",
        "分公司",
        "公司",
        "工程队",
    ],
    key=len,
    reverse=True,
)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_name(name: str) -> str:
    """A matching key for a company or site name: half-width, no spaces or punctuation,
    lower case, and legal-form suffixes such as 有限公司 dropped."""
    text = unicodedata.normalize("NFKC", name or "")
    text = _NON_WORD.sub("", text).lower()
    changed = True
    while changed:
        changed = False
        for suffix in _COMPANY_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                changed = True
                break
    return text


def match_keys(site_name: str | None, employers: Iterable[dict[str, Any]]) -> list[str]:
    """Candidate group keys, strongest first: credit codes, then employer names, then the site."""
    employers = list(employers)
    keys: list[str] = []
    for employer in employers:
        if employer.get("uscc"):
            keys.append(f"uscc:{employer['uscc'].upper()}")
    for employer in employers:
        name = normalise_name(employer.get("name") or "")
        if name:
            keys.append(f"employer:{name}")
    site = normalise_name(site_name or "")
    if site:
        keys.append(f"site:{site}")
    return list(dict.fromkeys(keys))


def assign_group(session: Session, case: Case, now: datetime, window_days: int) -> DisputeGroup:
    """Join the case to the live group of its strongest matching key, or start one; the group's
    totals change in the caller's transaction (its row locked on PostgreSQL)."""
    keys = match_keys(case.site_name, case.employers or [])
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres and keys:
        # Two first complaints about one site must not start two groups: serialise on the keys,
        # in a fixed (sorted) order so that two transactions never wait on each other crosswise.
        session.execute(
            sa.text(
                "SELECT pg_advisory_xact_lock(hashtextextended(k, 0))"
                " FROM unnest(CAST(:keys AS text[])) AS k"
            ),
            {"keys": sorted(keys)},
        )
    since = now - timedelta(days=window_days)
    group = None
    if keys:
        stmt = (
            sa.select(DisputeGroup)
            .where(DisputeGroup.match_key.in_(keys), DisputeGroup.last_case_at >= since)
            .order_by(DisputeGroup.last_case_at.desc())
        )
        if postgres:
            stmt = stmt.with_for_update()
        candidates = list(session.scalars(stmt))
        order = {key: index for index, key in enumerate(keys)}
        candidates.sort(key=lambda g: order.get(g.match_key, len(order)))
        group = candidates[0] if candidates else None
    if group is None:
        group = DisputeGroup(
            match_key=keys[0] if keys else f"case:{uuid.uuid4().hex}",
            title=_title(case),
            street_id=case.street_id,
            case_count=0,
            workers_total=0,
            amount_total_fen=0,
            created_at=now,
        )
        session.add(group)
    group.case_count = (group.case_count or 0) + 1
    group.workers_total = (group.workers_total or 0) + case.workers_affected
    group.amount_total_fen = (group.amount_total_fen or 0) + case.amount_owed_fen
    group.last_case_at = now
    session.flush()
    case.group_id = group.id
    return group


def _title(case: Case) -> str:
    """A readable group name: the first employer, else the site."""
    for employer in case.employers or []:
        if employer.get("name"):
            return str(employer["name"])[:160]
    return (case.site_name or "未命名工地")[:160]
