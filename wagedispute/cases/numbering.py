"""Public case numbers ``YT-2026-000123``: a per-year counter safe under concurrent intake."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from wagedispute.models import CaseNumberCounter

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def next_case_number(session: Session, prefix: str, now: datetime, timezone: str) -> str:
    """Take the next number of the year inside the caller's transaction.

    An upsert that increments and returns the counter holds the row lock until the caller
    commits, so concurrent intakes never share a number, and a rolled-back intake gives its
    number back.
    """
    year = now.astimezone(ZoneInfo(timezone)).year
    insert = _INSERTS[session.get_bind().dialect.name]
    stmt = (
        insert(CaseNumberCounter)
        .values(prefix=prefix, year=year, value=1)
        .on_conflict_do_update(
            index_elements=["prefix", "year"],
            set_={"value": CaseNumberCounter.value + 1},
        )
        .returning(CaseNumberCounter.value)
    )
    value = session.execute(stmt).scalar_one()
    return f"{prefix}-{year}-{value:06d}"
