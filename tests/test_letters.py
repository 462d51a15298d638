"""The letter ladder: suggestions, drafting, numbering, scope, replies and the printable PDF."""

from __future__ import annotations

import subprocess
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from wagedispute.access.actors import Actor
from wagedispute.cases.numbering import format_letter_number
from wagedispute.models import (
    CaseEvent,
    Letter,
    LetterKind,
    LetterStatus,
    Role,
    StaffAccount,
)
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.errors import Forbidden, NotFound
from wagedispute.platform.timekeeping import district_today
from wagedispute.supervision import letters


@pytest.fixture
def staff(district):
    """Staff actors by demo username."""

    def actor(username: str) -> Actor:
        account = db.session.scalars(sa.select(StaffAccount).filter_by(username=username)).one()
        return Actor(Role.STAFF, account.id, street_id=account.street_id, staff_role=account.role)

    return actor


def foreman_of(district, street_code: str):
    return next(
        f for f in district["foremen"] if f.street_id == district["streets"][street_code].id
    )


def clocked(case, **fields):
    """Set clock fields after intake (intake computes its own deadlines)."""
    for name, value in fields.items():
        setattr(case, name, value)
    db.session.commit()
    return case


def test_letter_numbers_follow_kind_and_year():
    assert format_letter_number(LetterKind.SUPERVISION, 2026, 12) == "盐信督〔2026〕12号"
    assert format_letter_number(LetterKind.REMINDER, 2026, 1) == "盐信提〔2026〕1号"
    assert format_letter_number(LetterKind.ACCOUNTABILITY, 2027, 3) == "盐信问〔2027〕3号"


def test_reply_deadline_counts_working_days_across_national_day():
    # 2026-09-30 (Wed); 10/1-10/7 holiday; 10/8, 10/9 and the make-up Saturday 10/10 work.
    assert letters.working_date_after(date(2026, 9, 30), 3) == date(2026, 10, 10)


def test_ladder_suggests_reminder_supervision_and_accountability(make_case, staff):
    now = utcnow()
    near = clocked(make_case(), dispatch_due_at=now + timedelta(hours=5))
    breached = clocked(make_case(), dispatch_due_at=now - timedelta(days=2, hours=1))
    twice = clocked(make_case(), dispatch_due_at=now - timedelta(days=5), escalation_level=2)
    disputed = clocked(make_case(), dispatch_due_at=now + timedelta(days=5), flagged_to_bureau=True)
    clocked(make_case(), dispatch_due_at=now + timedelta(days=3))  # nothing due yet

    found = {s.case.id: s for s in letters.suggest_letters(staff("admin"), now=now)}

    assert {cid: s.kind for cid, s in found.items()} == {
        near.id: LetterKind.REMINDER,
        breached.id: LetterKind.SUPERVISION,
        twice.id: LetterKind.ACCOUNTABILITY,
        disputed.id: LetterKind.ACCOUNTABILITY,
    }
    assert "超期3天" in found[breached.id].reason


def test_issuing_numbers_records_an_internal_event_and_silences_the_suggestion(make_case, staff):
    now = utcnow()
    case = clocked(
        make_case(employers=[{"role": "总包", "name": "深圳市海景建设有限公司"}]),
        dispatch_due_at=now - timedelta(hours=30),
    )
    admin = staff("admin")

    letter = letters.issue_letter(admin, case.id, LetterKind.SUPERVISION, now=now)

    year = district_today(now).year
    assert letter.number == f"盐信督〔{year}〕1号"
    assert letter.addressee == "沙头角街道办事处"  # no team yet: the street's office
    assert letter.status == LetterStatus.AWAITING_REPLY
    assert letter.reply_due_on > district_today(now)
    for fact in (case.number, "海景花园二期工地", "深圳市海景建设有限公司", "3人", "12,000.00元"):
        assert fact in letter.body
    assert "已超期2天" in letter.body
    event = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "letter")
    ).one()
    assert event.worker_visible is False
    assert event.data["number"] == letter.number
    assert letters.suggest_letters(admin, now=now) == []
    second = letters.issue_letter(admin, case.id, LetterKind.SUPERVISION, now=now)
    assert second.number == f"盐信督〔{year}〕2号"


def test_street_staff_cannot_see_issue_or_answer_other_streets_letters(make_case, staff, district):
    other = make_case(foreman=foreman_of(district, "haishan"))
    own = make_case(foreman=foreman_of(district, "shatoujiao"))
    admin = staff("admin")
    theirs = letters.issue_letter(admin, other.id, LetterKind.REMINDER)
    mine = letters.issue_letter(admin, own.id, LetterKind.REMINDER)
    street = staff("shatoujiao")

    with pytest.raises(NotFound):
        letters.get_letter_for(street, theirs.id)
    with pytest.raises(NotFound):
        letters.record_reply(street, theirs.id, "已处理")
    with pytest.raises(NotFound):
        letters.issue_letter(street, other.id, LetterKind.REMINDER)
    with pytest.raises(Forbidden):  # street staff answer letters; the bureau issues them
        letters.issue_letter(street, own.id, LetterKind.REMINDER)
    assert [x.id for x in letters.list_letters(street)] == [mine.id]
    db.session.expire_all()
    assert db.session.get(Letter, theirs.id).status == LetterStatus.AWAITING_REPLY


def test_reply_is_recorded_once_and_late_replies_are_marked_overdue(make_case, staff):
    admin = staff("admin")
    now = utcnow()
    answered = letters.issue_letter(admin, make_case().id, LetterKind.REMINDER, now=now)
    silent = letters.issue_letter(admin, make_case().id, LetterKind.REMINDER, now=now)

    letters.record_reply(staff("shatoujiao"), answered.id, "已督促处置小组当日联系工人")
    assert letters.mark_overdue_replies(now=now + timedelta(days=30)) == 1

    db.session.expire_all()
    assert db.session.get(Letter, answered.id).status == LetterStatus.REPLIED
    assert db.session.get(Letter, silent.id).status == LetterStatus.REPLY_OVERDUE
    kinds = db.session.scalars(
        sa.select(CaseEvent.kind).where(CaseEvent.case_id == answered.case_id)
    ).all()
    assert "letter_reply" in kinds


def test_letter_pdf_embeds_the_font_and_carries_number_and_facts(make_case, staff, tmp_path):
    case = make_case(employers=[{"role": "总包", "name": "深圳市海景建设有限公司"}])
    letter = letters.issue_letter(staff("admin"), case.id, LetterKind.SUPERVISION)

    pdf = letters.letter_pdf(letter)

    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    for fact in (
        "督办函",
        letter.number,
        case.number,
        "海景花园二期工地",
        "深圳市海景建设有限公司",
    ):
        assert fact in text.replace("\n", "")
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    # The CJK TrueType font is embedded as a subset ("emb sub" both yes).
    assert any("TrueType" in line and " yes yes " in line for line in fonts.splitlines())


def test_concurrent_letters_get_unique_consecutive_numbers(app, make_case, staff):
    case_ids = [make_case().id for _ in range(8)]
    admin = staff("admin")
    # SQLite has one writer: the test's own session must not hold the lock the threads wait for.
    db.session.rollback()
    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(case_ids))

    def issue(case_id: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                numbers.append(letters.issue_letter(admin, case_id, LetterKind.SUPERVISION).number)
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=issue, args=(case_id,)) for case_id in case_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    year = district_today().year
    assert sorted(numbers, key=lambda n: int(n.split("〕")[1][:-1])) == [
        f"盐信督〔{year}〕{n}号" for n in range(1, len(case_ids) + 1)
    ]
