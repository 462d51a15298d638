"""A complaint costs few round trips to the database: reads first, then the writes together,
one commit, nothing asked twice."""

from __future__ import annotations

from typing import Any

from tests.query_counter import counting
from tests.test_intake import complaint_payload, demo_token, signed_in_complainant
from wagedispute.intake.submission import ComplaintIn, submit_complaint
from wagedispute.models import Channel
from wagedispute.platform.database import db

# Reads: the signed-in complainant, the idempotency key, the database's now, the QR code and
# its foreman, the worker's open cases, the case number (nextval), the group's advisory lock,
# an earlier duplicate, the live group, the calendar's version. Writes: complainant, group,
# case, event, idempotency key, outbox row, and the day's row of the dashboard's daily figures
# (one upsert). 21 before this was tightened.
MAX_STATEMENTS = 18
WRITES = ("INSERT", "UPDATE", "DELETE")


def submit(district: dict[str, Any], key: str, **overrides: Any) -> Any:
    actor = signed_in_complainant(f"o-rt-{key}")
    data = ComplaintIn.model_validate(complaint_payload(qr_token=demo_token(district), **overrides))
    db.session.expunge_all()  # as a request starts: nothing known yet
    with counting(db.engine) as counted:
        result = submit_complaint(
            data, channel=Channel.MINIPROGRAM, actor=actor, idempotency_key=key
        )
    return result, counted


def test_mini_program_complaint_reads_then_writes_in_one_go_with_one_commit(
    app: Any, district: dict[str, Any]
) -> None:
    # The first intake of a year makes the year's number sequence, and a process reads the
    # calendar once: the steady state is the second one.
    submit(district, "rt-warm-up", site_name="另一处工地", mobile="13900139000", employers=[])
    result, counted = submit(district, "rt-1")
    assert result.created
    assert counted.commits == 1
    assert len(counted.statements) <= MAX_STATEMENTS, counted.statements
    # (SQLite takes the number from its counter row, an upsert among the reads.)
    rows = [s for s in counted.statements if "case_number_counters" not in s]
    kinds = [s.lstrip().split(None, 1)[0].upper() for s in rows]
    first_write = next(i for i, kind in enumerate(kinds) if kind in WRITES)
    # No read between the writes: the rows go out together, not one flush per step.
    assert all(kind in WRITES for kind in kinds[first_write:]), kinds
    # complainant updated; the daily figures' upsert is an INSERT … ON CONFLICT
    assert kinds.count("INSERT") == 6 and kinds.count("UPDATE") == 1
