"""Numbers people see: case numbers ``YT-2026-000123`` and letter numbers ``盐信督〔2026〕12号``.

Both come from one per-(prefix, year) sequence helper, safe under concurrent writers. Letter
numbers are gapless (a counter row, locked until the commit). Case numbers, which every intake
takes, come on PostgreSQL from a database sequence per (prefix, year): ``nextval`` locks nothing,
so concurrent intakes never wait on each other; a rolled-back intake leaves a gap (allowed),
never a duplicate. SQLite (one writer at a time anyway) keeps the counter row.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from wagedispute.models import CaseNumberCounter, LetterKind, LetterNumberCounter
from wagedispute.platform.database import upsert_insert
from wagedispute.platform.timekeeping import district_year

log = logging.getLogger(__name__)

# The counter tables, one row per (prefix, year) each: the same shape, the same helper.
Counter = type[CaseNumberCounter] | type[LetterNumberCounter]


def next_in_sequence(session: Session, counter: Counter, prefix: str, year: int) -> int:
    """Take the next value of a (prefix, year) sequence inside the caller's transaction.

    An upsert that increments and returns the counter holds the row lock until the caller
    commits, so concurrent writers never share a value, and a rollback gives its value back.
    """
    insert = upsert_insert(session)
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


def next_unlocked_in_sequence(session: Session, counter: Counter, prefix: str, year: int) -> int:
    """Take the next value of a (prefix, year) sequence without holding a lock until the commit.

    On PostgreSQL: ``nextval`` of a database sequence made for the (prefix, year) on first use
    (starting after the counter row's value, owned by the counter table so that emptying it
    restarts the sequence). Values are never shared; a rollback leaves a gap. Elsewhere: the
    counter row (``next_in_sequence``).
    """
    if session.get_bind().dialect.name != "postgresql":
        return next_in_sequence(session, counter, prefix, year)
    name = f"{counter.__tablename__}_{prefix.encode().hex()}_{year}"
    # CASE evaluates nextval only when the sequence exists: a missing one answers NULL rather
    # than aborting the caller's transaction.
    take = sa.text(
        "SELECT CASE WHEN to_regclass(:name) IS NOT NULL THEN nextval(:name) END"
    ).bindparams(name=name)
    value = session.execute(take).scalar_one()
    if value is None:
        _create_sequence(session, counter, name, prefix, year)
        # This transaction still sees the catalogue as it began; taking a (harmless) lock on the
        # counter table makes PostgreSQL read the changes, the new sequence included.
        session.execute(sa.text(f'LOCK TABLE "{counter.__tablename__}" IN ACCESS SHARE MODE'))
        value = session.execute(take).scalar_one()
    return int(value)


def _create_sequence(session: Session, counter: Counter, name: str, prefix: str, year: int) -> None:
    """Make the (prefix, year) sequence in a transaction of its own (committed at once, so that
    concurrent intakes see it); a concurrent creator winning the race is fine."""
    table = counter.__table__
    with session.get_bind().engine.connect() as connection:
        start = connection.execute(
            sa.select(table.c.value).where(table.c.prefix == prefix, table.c.year == year)
        ).scalar_one_or_none()
        try:
            connection.exec_driver_sql(
                f'CREATE SEQUENCE IF NOT EXISTS "{name}" START WITH {int(start or 0) + 1}'
                f' OWNED BY "{table.name}".value'
            )
            connection.commit()
        except DBAPIError:
            connection.rollback()
            log.info("sequence %s was created concurrently", name)


def next_case_number(session: Session, prefix: str, now: datetime) -> str:
    """The next public case number of the district's year of ``now`` (unique; may leave gaps)."""
    year = district_year(now)
    value = next_unlocked_in_sequence(session, CaseNumberCounter, prefix, year)
    return f"{prefix}-{year}-{value:06d}"


def format_letter_number(kind: LetterKind, year: int, sequence: int) -> str:
    """盐信督〔2026〕12号."""
    return f"{kind.number_prefix}〔{year}〕{sequence}号"


def next_letter_number(session: Session, kind: LetterKind, year: int) -> tuple[int, str]:
    """The next number of the year for a kind of letter: its sequence and its printed form."""
    sequence = next_in_sequence(session, LetterNumberCounter, kind.number_prefix, year)
    return sequence, format_letter_number(kind, year, sequence)
