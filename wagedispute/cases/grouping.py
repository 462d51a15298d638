"""Group cases about the same site or employer into one dispute with live totals.

A complaint by the same mobile about the same site within the window is a suggested duplicate:
it is linked to the earlier case (``Case.duplicate_of_id``) and adds no workers or money to the
group; a worker who complains twice counts once among the group's complainants.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from wagedispute.models import Case, Complainant, DisputeGroup

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


def find_duplicate(
    session: Session, site_name: str | None, mobile_hash: str, since: datetime
) -> Case | None:
    """The earliest case since ``since`` by the same mobile about the same (normalised) site."""
    site = normalise_name(site_name or "")
    if not site:
        return None
    earlier = session.scalars(
        sa.select(Case)
        .join(Complainant, Case.complainant_id == Complainant.id)
        .where(
            Complainant.mobile_hash == mobile_hash,
            Case.created_at >= since,
            Case.duplicate_of_id.is_(None),
        )
        .order_by(Case.created_at, Case.id)
    )
    for candidate in earlier:
        if normalise_name(candidate.site_name) == site:
            return candidate
    return None


def group_totals(session: Session, group_id: int) -> tuple[int, int, int, int]:
    """(cases, distinct complainants, workers, fen) of a group from its member cases: duplicates
    add no workers or money, and a complainant is counted once by mobile."""
    original = Case.duplicate_of_id.is_(None)
    who = sa.func.coalesce(Complainant.mobile_hash, sa.cast(Case.id, sa.String))
    count, people, workers, amount = session.execute(
        sa.select(
            sa.func.count(Case.id),
            sa.func.count(sa.distinct(who)),
            sa.func.coalesce(sa.func.sum(sa.case((original, Case.workers_affected), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((original, Case.amount_owed_fen), else_=0)), 0),
        )
        .select_from(Case)
        .outerjoin(Complainant, Case.complainant_id == Complainant.id)
        .where(Case.group_id == group_id)
    ).one()
    # PostgreSQL's SUM is numeric: keep the columns (and JSON event data) integers.
    return int(count), int(people), int(workers), int(amount)


def _known_complainant(session: Session, group_id: int | None, mobile_hash: str | None) -> bool:
    if group_id is None or not mobile_hash:
        return False
    stmt = (
        sa.select(Case.id)
        .join(Complainant, Case.complainant_id == Complainant.id)
        .where(Case.group_id == group_id, Complainant.mobile_hash == mobile_hash)
        .limit(1)
    )
    return session.scalar(stmt) is not None


def assign_group(
    session: Session,
    case: Case,
    now: datetime,
    window_days: int,
    *,
    mobile_hash: str | None = None,
) -> DisputeGroup:
    """Join the case to the live group of its strongest matching key, or start one; the group's
    totals change in the caller's transaction (its row locked on PostgreSQL). With the worker's
    ``mobile_hash``, a repeat about the same site is linked as a duplicate of the earlier case
    and joins that case's group without adding to its totals."""
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
    duplicate_of = (
        find_duplicate(session, case.site_name, mobile_hash, since) if mobile_hash else None
    )
    if duplicate_of is not None:
        case.duplicate_of_id = duplicate_of.id
        if duplicate_of.group_id is not None:
            group = session.get(DisputeGroup, duplicate_of.group_id, with_for_update=postgres)
    if keys and group is None:
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
            complainants_total=0,
            workers_total=0,
            amount_total_fen=0,
            created_at=now,
        )
        session.add(group)
    repeat_complainant = _known_complainant(session, group.id, mobile_hash)
    group.case_count = (group.case_count or 0) + 1
    if not repeat_complainant:
        group.complainants_total = (group.complainants_total or 0) + 1
    if case.duplicate_of_id is None:
        group.workers_total = (group.workers_total or 0) + case.workers_affected
        group.amount_total_fen = (group.amount_total_fen or 0) + case.amount_owed_fen
    group.last_case_at = now
    case.group = group  # written with the case, in the caller's flush
    return group


def _title(case: Case) -> str:
    """A readable group name: the first employer, else the site."""
    for employer in case.employers or []:
        if employer.get("name"):
            return str(employer["name"])[:160]
    return (case.site_name or "未命名工地")[:160]
