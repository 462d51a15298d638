"""Numbers people see: case numbers ``YT-2026-000123`` and letter numbers ``盐信督〔2026〕12号``.

Both come from one per-(prefix, year) sequence helper, safe under concurrent writers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from wagedispute.models import CaseNumberCounter, LetterKind, LetterNumberCounter
from wagedispute.platform.timekeeping import district_year

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}

# The counter tables, one row per (prefix, year) each: the same shape, the same helper.
Counter = type[CaseNumberCounter] | type[LetterNumberCounter]


def next_in_sequence(session: Session, counter: Counter, prefix: str, year: int) -> int:
    """Take the next value of a (prefix, year) sequence inside the caller's transaction.

    An upsert that increments and returns the counter holds the row lock until the caller
    commits, so concurrent writers never share a value, and a rollback gives its value back.
    """
    insert = _INSERTS[session.get_bind().dialect.name]
    stmt = (
        insert(counter)
        .values(prefix=prefix, year=year, value=1)
        .on_conflict_do_update(
            index_elements=["prefix", "year"],
            set_={"value": counter.value + 1},
        )
        .returning(counter.value)
    )
    return session.execute(stmt).scalar_one()


def next_case_number(session: Session, prefix: str, now: datetime) -> str:
    """The next public case number of the district's year of ``now``."""
    year = district_year(now)
    value = next_in_sequence(session, CaseNumberCounter, prefix, year)
    return f"{prefix}-{year}-{value:06d}"


def format_letter_number(kind: LetterKind, year: int, sequence: int) -> str:
    """盐信督〔2026〕12号."""
    return f"{kind.number_prefix}〔{year}〕{sequence}号"


def next_letter_number(session: Session, kind: LetterKind, year: int) -> tuple[int, str]:
    """The next number of the year for a kind of letter: its sequence and its printed form."""
    sequence = next_in_sequence(session, LetterNumberCounter, kind.number_prefix, year)
    return sequence, format_letter_number(kind, year, sequence)
