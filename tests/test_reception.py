"""周四大接访: booking a slot, the reception record on the timeline and clocks, the daily check."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from tests.test_console import PASSWORDS, csrf_of, post
from tests.test_followup import worker
from tests.test_foreman_api import auth
from wagedispute.access.actors import Actor
from wagedispute.cases.clocks import is_working_day
from wagedispute.cases.lifecycle import StepRequest, transition_case
from wagedispute.models import (
    Case,
    CaseEvent,
    CaseStatus,
    EventKind,
    ReceptionRecord,
    ReceptionSlot,
    Role,
    StaffAccount,
    StaffRole,
    Urgency,
)
from wagedispute.platform.database import db, utcnow
from wagedispute.platform.errors import Conflict, InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_today, district_zone
from wagedispute.supervision import reception


@pytest.fixture
def sign_in(app, district):
    """A new client signed in as a demo staff account."""

    def sign(username: str):
        client = app.test_client()
        data = {
            "username": username,
            "password": PASSWORDS[username],
            "csrf_token": csrf_of(client),
        }
        assert client.post("/console/sign-in", data=data).status_code == 302
        return client

    return sign


def next_thursday() -> date:
    """The first working Thursday after today."""
    day = district_today() + timedelta(days=1)
    while day.weekday() != 3 or not is_working_day(day):
        day += timedelta(days=1)
    return day


def staff_actor(username: str) -> Actor:
    account = db.session.scalars(sa.select(StaffAccount).filter_by(username=username)).one()
    return Actor(Role.STAFF, account.id, street_id=account.street_id, staff_role=account.role)


def announce(client, day: date) -> int:
    """Announce a reception day from the console; returns its id."""
    answer = post(
        client,
        "/console/reception/days",
        {
            "day": day.isoformat(),
            "leader_name": "王明",
            "leader_title": "区信访局局长",
            "place": "盐田区信访局一楼接访大厅",
            "first_slot": "09:00",
            "last_slot_end": "11:00",
            "slot_minutes": "30",
        },
        page="/console/reception",
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return int(answer.headers["Location"].rsplit("/", 1)[1])


def test_reception_booking_to_timeline_to_daily_check(client, sign_in, make_case):
    complainant, token = worker()
    case = make_case(complainant_id=complainant.id)
    admin = sign_in("admin")
    thursday = next_thursday()
    day_id = announce(admin, thursday)

    # The worker sees the free slots and books the first one for their own case.
    slots = client.get("/api/v1/reception/slots", headers=auth(token)).json["slots"]
    assert len(slots) == 4 and slots[0]["leader"] == "区信访局局长 王明"
    answer = client.post(
        f"/api/v1/complaints/{case.number}/reception",
        json={"slot_id": slots[0]["id"], "note": "想当面反映总包不露面"},
        headers=auth(token),
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["booked"] is True
    day_page = admin.get(f"/console/reception/days/{day_id}").get_data(as_text=True)
    assert case.number in day_page and "想当面反映总包不露面" in day_page

    # At the reception, staff write down who received and what was promised by when.
    answer = post(
        admin,
        f"/console/reception/days/{day_id}/records",
        {
            # A booked slot names its case: no number to type.
            "slot_id": str(slots[0]["id"]),
            "case_number": "",
            "received_by": "区信访局局长 王明",
            "visitors": "工人代表3人",
            "summary": "工人反映总包拖欠三个月工资，现场联系总包项目经理。",
            "promise": "责成总包单位支付全部欠薪",
            "promise_working_days": "1",
        },
        page=f"/console/reception/days/{day_id}",
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    record = db.session.scalars(sa.select(ReceptionRecord)).one()
    due = record.promise_due_at.astimezone(district_zone())
    assert due.time() == time(18, 0) and due.date() > thursday and is_working_day(due.date())

    # The record is on the worker's own timeline.
    timeline = client.get(f"/api/v1/complaints/{case.number}", headers=auth(token)).json
    messages = [item["message"] for item in timeline["timeline"]]
    assert any("已预约周四大接访" in m for m in messages)
    assert any("周四大接访" in m and "责成总包单位支付全部欠薪" in m for m in messages)

    # The daily check lists the promise when it falls due, overdue once its time has passed.
    actor = staff_actor("shatoujiao")
    assert reception.promises_due(actor, now=utcnow()) == []
    on_the_day = datetime.combine(thursday, time(17, 0), district_zone())
    (soon,) = reception.promises_due(actor, now=on_the_day)
    assert soon.record.id == record.id and not soon.overdue
    record.promise_due_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    street = sign_in("shatoujiao")
    daily = street.get("/console/daily").get_data(as_text=True)
    assert "接访承诺到期（1）" in daily and "已逾期" in daily and case.number in daily

    # Marking it kept takes it off the list and tells the worker.
    answer = post(
        street,
        f"/console/reception/records/{record.id}/kept",
        {"note": "总包已于当日支付", "back": "daily"},
        page="/console/daily",
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/console/daily")
    assert "接访承诺到期（0）" in street.get("/console/daily").get_data(as_text=True)
    kinds = [e.kind for e in db.session.scalars(sa.select(CaseEvent).filter_by(case_id=case.id))]
    assert kinds.count(EventKind.RECEPTION_PROMISE_KEPT) == 1


def test_a_reception_promise_to_settle_bounds_the_resolve_clock(app, district, make_case):
    # A normal case: 15 working days to resolve, longer than any promise below.
    case = make_case()
    team = next(t for t in district["teams"] if t.street_id == case.street_id)
    transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, case.foreman_id),
        StepRequest(team_id=team.id, urgency=Urgency.NORMAL),
    )
    before = db.session.get(Case, case.id).resolve_due_at
    admin = staff_actor("admin")
    thursday = next_thursday()
    day = reception.create_reception_day(
        admin,
        thursday,
        leader_name="王明",
        leader_title="区信访局局长",
        place="接访大厅",
        first_slot=time(9),
        last_slot_end=time(10),
        slot_minutes=30,
    )
    reception.record_reception(
        admin,
        day.id,
        case.number,
        reception.ReceptionInput(
            received_by="王明",
            visitors="工人2人",
            summary="现场接待",
            promise="两个工作日内结清",
            promise_working_days=2,
            promise_settles_case=True,
        ),
        now=datetime.combine(thursday, time(9, 30), district_zone()),
    )
    db.session.expire_all()
    after = db.session.get(Case, case.id)
    record = db.session.scalars(sa.select(ReceptionRecord)).one()
    assert after.first_contact_at is not None
    assert before is not None and record.promise_due_at < before
    assert after.resolve_due_at == record.promise_due_at
    event = db.session.scalars(
        sa.select(CaseEvent).filter_by(case_id=case.id, kind=EventKind.RECEPTION)
    ).one()
    assert event.data["resolve_due_to"] == record.promise_due_at.isoformat()


def test_one_slot_booked_twice_at_once_goes_to_one_case(app, district, make_case):
    admin = staff_actor("admin")
    day = reception.create_reception_day(
        admin,
        next_thursday(),
        leader_name="王明",
        leader_title="局长",
        place="接访大厅",
        first_slot=time(9),
        last_slot_end=time(9, 30),
        slot_minutes=30,
    )
    slot_id = day.slots[0].id
    cases = [make_case().id for _ in range(4)]
    outcomes: list[str] = []
    # The test's own session lets go of the database (SQLite: one writer at a time).
    db.session.rollback()

    def book(case_id: int) -> None:
        with app.app_context():
            try:
                reception.book_slot(admin, slot_id, case_id)
                outcomes.append("booked")
            except Conflict as exc:
                outcomes.append(exc.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=book, args=(case_id,)) for case_id in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["booked"] + ["reception_slot_taken"] * 3
    db.session.expire_all()
    slot = db.session.get(ReceptionSlot, slot_id)
    booked = db.session.scalars(
        sa.select(CaseEvent).filter_by(kind=EventKind.RECEPTION_BOOKED)
    ).all()
    assert [e.case_id for e in booked] == [slot.case_id]


def test_a_worker_cannot_book_for_someone_elses_case(client, app, district, make_case):
    owner, _ = worker("o-owner")
    _, stranger_token = worker("o-stranger")
    case = make_case(complainant_id=owner.id)
    day = reception.create_reception_day(
        staff_actor("admin"),
        next_thursday(),
        leader_name="王明",
        leader_title="局长",
        place="接访大厅",
        first_slot=time(9),
        last_slot_end=time(9, 30),
        slot_minutes=30,
    )
    answer = client.post(
        f"/api/v1/complaints/{case.number}/reception",
        json={"slot_id": day.slots[0].id},
        headers=auth(stranger_token),
    )
    assert answer.status_code == 404
    assert db.session.get(ReceptionSlot, day.slots[0].id).case_id is None


def test_reception_days_are_working_thursdays_set_by_district_roles(app, district):
    admin = staff_actor("admin")
    thursday = next_thursday()
    kwargs = dict(
        leader_name="王明",
        leader_title="局长",
        place="接访大厅",
        first_slot=time(9),
        last_slot_end=time(10),
        slot_minutes=30,
    )
    with pytest.raises(InvalidInput) as refused:
        reception.create_reception_day(admin, thursday + timedelta(days=1), **kwargs)
    assert refused.value.code == "reception_not_thursday"
    street = Actor(Role.STAFF, admin.id, street_id=1, staff_role=StaffRole.STREET_STAFF)
    with pytest.raises(NotFound):
        reception.create_reception_day(street, thursday, **kwargs)
    # 2026's National Day week: Thursday 1 October is a holiday.
    assert not is_working_day(date(2026, 10, 1))


def test_a_worker_cancels_their_booking_and_the_slot_is_free_again(
    client, app, district, make_case
):
    complainant, token = worker()
    case = make_case(complainant_id=complainant.id)
    day = reception.create_reception_day(
        staff_actor("admin"),
        next_thursday(),
        leader_name="王明",
        leader_title="局长",
        place="接访大厅",
        first_slot=time(9),
        last_slot_end=time(9, 30),
        slot_minutes=30,
    )
    slot_id = day.slots[0].id
    url = f"/api/v1/complaints/{case.number}/reception"
    assert client.post(url, json={"slot_id": slot_id}, headers=auth(token)).status_code == 200
    assert client.get("/api/v1/reception/slots", headers=auth(token)).json["slots"] == []
    answer = client.post(f"{url}/cancel", json={"slot_id": slot_id}, headers=auth(token))
    assert answer.status_code == 200 and answer.json["booked"] is False
    slots = client.get("/api/v1/reception/slots", headers=auth(token)).json["slots"]
    assert [s["id"] for s in slots] == [slot_id]
    timeline = client.get(f"/api/v1/complaints/{case.number}", headers=auth(token)).json
    assert any("已取消周四大接访预约" in item["message"] for item in timeline["timeline"])
