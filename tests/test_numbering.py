"""Public case numbers are unique per year, even under concurrent intake (consecutive unless an
intake rolls back: on PostgreSQL its number is then a gap, never reused)."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from wagedispute.cases.numbering import next_case_number
from wagedispute.models import CaseNumberCounter
from wagedispute.platform.database import db


def test_number_has_district_year_and_six_digits(app):
    number = next_case_number(db.session, "YT", datetime(2026, 3, 1, tzinfo=UTC))
    db.session.commit()
    assert number == "YT-2026-000001"
    assert re.fullmatch(r"YT-\d{4}-\d{6}", number)


def test_year_follows_china_time_not_utc(app):
    # 2026-12-31 17:00 UTC is already 2027-01-01 01:00 in Shanghai.
    number = next_case_number(db.session, "YT", datetime(2026, 12, 31, 17, tzinfo=UTC))
    db.session.commit()
    assert number == "YT-2027-000001"


def test_rolled_back_intake_never_shares_its_number(app):
    now = datetime(2026, 5, 1, tzinfo=UTC)
    first = next_case_number(db.session, "YT", now)
    db.session.rollback()
    again = next_case_number(db.session, "YT", now)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # The sequence does not wait for commits: the rolled-back number is left as a gap.
        assert (first, again) == ("YT-2026-000001", "YT-2026-000002")
    else:
        assert first == again == "YT-2026-000001"


def test_concurrent_intakes_never_share_a_number(app):
    now = datetime(2026, 6, 1, tzinfo=UTC)
    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(12)

    def take() -> None:
        with app.app_context():
            try:
                barrier.wait()
                numbers.append(next_case_number(db.session, "YT", now))
                db.session.commit()
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=take) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(numbers) == [f"YT-2026-{n:06d}" for n in range(1, 13)]
    if db.engine.dialect.name == "sqlite":
        counter = db.session.scalars(sa.select(CaseNumberCounter)).one()
        assert counter.value == 12
