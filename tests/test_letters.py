"""The letter ladder: suggestions, drafting, numbering, scope, replies and the printable PDF."""

from __future__ import annotations

import subprocess
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from wagedispute.access.actors import Actor
from wagedispute.cases.numbering import format_letter_number
from wagedispute.models import (
    CaseEvent,
    Letter,
    LetterKind,
    LetterStatus,
    Role,
    StaffAccount,
    Urgency,
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


def red_pixels(image: Image.Image) -> int:
    """How many pixels of an RGB image are the red of a 公文's 版头."""
    raw = image.tobytes()
    return sum(
        1 for i in range(0, len(raw), 3) if raw[i] > 180 and raw[i + 1] < 80 and raw[i + 2] < 80
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


def test_ladder_first_letter_is_a_reminder_even_for_a_disputed_or_late_case(make_case, staff):
    now = utcnow()
    near = clocked(make_case(), dispatch_due_at=now + timedelta(hours=5))
    breached = clocked(make_case(), dispatch_due_at=now - timedelta(days=2, hours=1))
    twice = clocked(make_case(), dispatch_due_at=now - timedelta(days=5), escalation_level=2)
    disputed = clocked(make_case(), dispatch_due_at=now + timedelta(days=5), flagged_to_bureau=True)
    clocked(make_case(), dispatch_due_at=now + timedelta(days=3))  # nothing due yet

    found = {s.case.id: s for s in letters.suggest_letters(staff("admin"), now=now)}

    assert {cid: s.kind for cid, s in found.items()} == {
        near.id: LetterKind.REMINDER,
        breached.id: LetterKind.REMINDER,
        twice.id: LetterKind.REMINDER,
        disputed.id: LetterKind.REMINDER,
    }
    assert "超期3天" in found[breached.id].reason
    assert "异议" in found[disputed.id].reason
    # Drafting without a kind takes the ladder's rung: no accountability letter for a first dispute.
    draft = letters.draft_letter(staff("admin"), disputed.id, now=now)
    assert draft.kind == LetterKind.REMINDER
    assert "群体性事件" not in draft.body
    skipping = letters.draft_letter(staff("admin"), disputed.id, LetterKind.ACCOUNTABILITY, now=now)
    assert "越过了一级" in skipping.warning


def test_ladder_climbs_one_rung_when_the_letter_below_goes_unanswered(make_case, staff):
    admin = staff("admin")
    now = utcnow()
    case = clocked(make_case(), dispatch_due_at=now - timedelta(days=3), escalation_level=2)
    reminder = letters.issue_letter(admin, case.id, LetterKind.REMINDER, now=now)
    # While the reply period runs nothing more is proposed.
    assert letters.suggest_letters(admin, now=now + timedelta(days=1)) == []

    after_reminder = now + timedelta(days=12)
    [step] = letters.suggest_letters(admin, now=after_reminder)
    assert step.kind == LetterKind.SUPERVISION
    assert reminder.number in step.reason and "逾期未回复" in step.reason

    supervision = letters.issue_letter(admin, case.id, LetterKind.SUPERVISION, now=after_reminder)
    assert reminder.number in supervision.body and "至今未回复" in supervision.body
    after_supervision = after_reminder + timedelta(days=12)
    [step] = letters.suggest_letters(admin, now=after_supervision)
    assert step.kind == LetterKind.ACCOUNTABILITY


def test_ladder_proposes_a_phone_supervision_for_a_clock_shorter_than_a_working_day(
    make_case, staff
):
    admin = staff("admin")
    now = utcnow()
    case = make_case(urgency_confirmed=Urgency.CRITICAL)
    case = clocked(case, dispatch_due_at=now + timedelta(minutes=40))

    [step] = letters.suggest_letters(admin, now=now)

    assert step.by_phone and "电话督办" in step.reason
    draft = letters.draft_letter(admin, case.id, LetterKind.REMINDER, now=now)
    assert "电话督办" in draft.warning
    event = letters.record_phone_supervision(
        admin, case.id, "已电话督促沙头角街道，答复1小时内分派"
    )
    assert event.data["phone_supervision"] is True
    assert event.worker_visible is False


def test_reply_period_is_cut_to_fit_a_running_clock(make_case, staff):
    now = utcnow()
    case = clocked(make_case(), dispatch_due_at=now + timedelta(hours=20))
    draft = letters.draft_letter(staff("admin"), case.id, LetterKind.REMINDER, now=now)
    standard = letters.working_date_after(district_today(now), 3)
    assert draft.reply_due_on < standard
    assert draft.reply_due_on <= letters.working_date_after(district_today(now), 1)


def test_letter_wording_names_group_risk_only_when_triage_found_it(make_case, staff):
    calm = make_case()
    risky = make_case()
    risky.urgency_reasons = ["聚集、围堵、拉横幅（特急）：“明天叫上工友去堵门”，风险词：叫上工友"]
    db.session.commit()

    calm_body = letters.draft_letter(staff("admin"), calm.id, LetterKind.REMINDER).body
    risky_body = letters.draft_letter(staff("admin"), risky.id, LetterKind.REMINDER).body

    assert "群体性事件" not in calm_body
    assert "聚集、围堵、拉横幅" in risky_body and "存在引发群体性事件的风险" in risky_body


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
    for fact in (case.number, "海景花园二期工地", "深圳市海景建设有限公司", "3名", "12,000.00元"):
        assert fact in letter.body
    assert "超期2天" in letter.body
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


def test_letter_pdf_is_an_official_document_with_red_masthead_number_addressee_and_date(
    make_case, staff, tmp_path
):
    case = make_case(employers=[{"role": "总包", "name": "深圳市海景建设有限公司"}])
    letter = letters.issue_letter(staff("admin"), case.id, LetterKind.SUPERVISION)

    pdf = letters.letter_pdf(letter)

    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout.replace("\n", "")
    issued = district_today()
    for fact in (
        "盐田区信访局",  # 发文机关标志 and 署名
        letter.number,  # 发文字号
        "沙头角街道办事处：",  # 主送机关
        f"{issued.year}年{issued.month}月{issued.day}日",  # 成文日期
        "附件：案件基本情况表",  # 附件说明
        "督办函",
        case.number,
        "海景花园二期工地",
        "深圳市海景建设有限公司",
    ):
        assert fact in text
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    # The serif CJK TrueType font (AR PL UMing) is embedded as a subset.
    assert any("UMing" in line and " yes yes " in line for line in fonts.splitlines())
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(path), str(tmp_path / "p")],
        check=True,
    )
    page = Image.open(next(tmp_path.glob("p*.png"))).convert("RGB")
    width, height = page.size
    band = page.crop((0, 0, width, height // 4))
    rest = page.crop((0, height // 4, width, height))
    assert red_pixels(band) > 100  # the red 发文机关标志 and rule sit in the top band
    assert red_pixels(rest) == 0


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
