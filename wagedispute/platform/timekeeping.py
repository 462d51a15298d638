"""Time-keeping: the district's time zone, its "today" and midnights, and the database's "now".

Timestamps are stored as aware UTC datetimes. People live in the district's zone (the
``TIMEZONE`` setting): its calendar days, its midnights and the times printed for them all come
from here, so a screen, a report and a query never disagree about which day it is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, has_app_context

from wagedispute.platform.config import Settings
from wagedispute.platform.database import db, utcnow

_DEFAULT_ZONE = str(Settings.model_fields["TIMEZONE"].default)


def district_zone() -> ZoneInfo:
    """The district's time zone: the app's ``TIMEZONE`` (outside an app, its default)."""
    name = current_app.config["TIMEZONE"] if has_app_context() else _DEFAULT_ZONE
    # ZoneInfo keeps one instance per key, so this costs a dict lookup.
    return ZoneInfo(name)


def in_district(moment: datetime) -> datetime:
    """An aware moment as the district's wall clock shows it."""
    return moment.astimezone(district_zone())


def district_today(now: datetime | None = None) -> date:
    """The district's calendar date at ``now`` (default: this moment)."""
    return in_district(now or utcnow()).date()


def district_year(now: datetime | None = None) -> int:
    """The district's calendar year at ``now`` (default: this moment)."""
    return district_today(now).year


def district_midnight(day: date) -> datetime:
    """The start of the district's calendar ``day``, as an aware UTC datetime (for queries)."""
    return datetime.combine(day, time(0), district_zone()).astimezone(UTC)


def district_iso(moment: datetime | None) -> str | None:
    """A moment in the district's zone, ISO 8601 with its offset, to the second (APIs)."""
    return in_district(moment).isoformat(timespec="seconds") if moment else None


def district_text(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment printed for people in the district (screens, PDFs, exports); ``—`` if none."""
    return in_district(moment).strftime(fmt) if moment else "—"


def db_now() -> datetime:
    """Now by the database server's clock, as an aware UTC datetime.

    Web and worker processes on different machines then agree on what is overdue.
    """
    session = db.session
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # now() is the transaction's start: every step of one unit of work sees one time.
        value = session.scalar(sa.text("SELECT now()"))
    elif dialect == "sqlite":
        # CURRENT_TIMESTAMP has whole seconds only; the same UTC clock with milliseconds.
        value = session.scalar(sa.text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))
    else:
        value = session.scalar(sa.text("SELECT CURRENT_TIMESTAMP"))
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    # SQLite answers in UTC without an offset.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
