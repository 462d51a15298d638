"""What the bureau console records: reveals of personal data and the annual indicator targets."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wagedispute.platform.database import Base, UTCDateTime, utcnow


class PiiAccessLog(Base):
    """One explicit reveal of a case's personal data by a staff member, with the stated reason."""

    __tablename__ = "pii_access_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_accounts.id"), index=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    # "mobile", "id_number" or "name".
    field: Mapped[str] = mapped_column(sa.String(32))
    reason: Mapped[str] = mapped_column(sa.String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IndicatorTarget(Base):
    """The annual target value of one indicator, for the district or one street."""

    __tablename__ = "indicator_targets"
    __table_args__ = (sa.UniqueConstraint("year", "indicator", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column()
    # A key of wagedispute.supervision.indicators.INDICATORS, e.g. "on_time_rate".
    indicator: Mapped[str] = mapped_column(sa.String(48))
    # "district" or "street:<street id>".
    scope: Mapped[str] = mapped_column(sa.String(32), default="district")
    # In the indicator's own unit: per cent for rates, yuan for money, a count, or a 1-5 score.
    value: Mapped[float] = mapped_column(sa.Numeric(16, 2, asdecimal=False))
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_accounts.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DailyFigures(Base):
    """The dashboard's period figures of one street on one district-local day, kept current.

    Each case adds to the day it was received and to the day of its latest resolution, and each
    rating to the day it was given (``wagedispute.cases.figures`` writes the changes in the same
    flush as the case or the rating, so the rows always equal the cases they count). Summing
    the days of a year or a week gives the figures ``period_figures`` computes from the cases,
    without reading the cases.
    """

    __tablename__ = "daily_figures"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    street_id: Mapped[int] = mapped_column(sa.ForeignKey("streets.id"), primary_key=True)
    # A day's figures are spread over a few rows that readers add up: concurrent intakes of one
    # street and day each lock one of them, not all the same row, until they commit.
    shard: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, default=0)
    received: Mapped[int] = mapped_column(default=0)
    received_closed: Mapped[int] = mapped_column(default=0)
    received_excluded: Mapped[int] = mapped_column(default=0)
    resolved: Mapped[int] = mapped_column(default=0)
    resolved_with_due: Mapped[int] = mapped_column(default=0)
    resolved_on_time: Mapped[int] = mapped_column(default=0)
    recovered_fen: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    workers_helped: Mapped[int] = mapped_column(default=0)
    rating_total: Mapped[int] = mapped_column(default=0)
    ratings: Mapped[int] = mapped_column(default=0)
