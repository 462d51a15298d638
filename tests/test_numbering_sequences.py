"""On PostgreSQL, case numbers come from a sequence per (prefix, year): intakes do not wait on
each other for a number, and the sequence continues where the counter row left off."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask_migrate import upgrade

from tests.conftest import dispose
from wagedispute import create_app
from wagedispute.cases.numbering import next_case_number
from wagedispute.models import CaseNumberCounter
from wagedispute.platform.database import db


@pytest.fixture
def postgres_app(create_postgres_database, redis_url) -> Iterator[Flask]:
    """The core app on a fresh PostgreSQL database (sequences are PostgreSQL's; SQLite keeps
    the counter row, tested in test_numbering.py)."""
    app = create_app(
        {
            "DATABASE_URL": create_postgres_database(),
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret-key-not-for-production",
        }
    )
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
    dispose(app)


def test_a_second_intake_takes_a_number_while_the_first_is_still_open(postgres_app):
    now = datetime(2026, 7, 1, tzinfo=UTC)
    first = next_case_number(db.session, "YT", now)  # this transaction stays open
    taken: list[str] = []

    def second() -> None:
        with postgres_app.app_context():
            try:
                taken.append(next_case_number(db.session, "YT", now))
                db.session.commit()
            finally:
                db.session.remove()

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=10)  # with a locked counter row it would wait for the first commit
    assert not thread.is_alive()
    db.session.commit()
    assert (first, taken) == ("YT-2026-000001", ["YT-2026-000002"])


def test_sequence_continues_after_the_counter_rows_value(postgres_app):
    db.session.add(CaseNumberCounter(prefix="YT", year=2031, value=41))
    db.session.commit()
    number = next_case_number(db.session, "YT", datetime(2031, 3, 1, tzinfo=UTC))
    db.session.commit()
    assert number == "YT-2031-000042"
