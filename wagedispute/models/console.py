"""What the bureau console records: reveals of personal data and the annual indicator targets."""

from __future__ import annotations

from datetime import datetime

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
