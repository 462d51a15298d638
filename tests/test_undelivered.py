"""No silent messages: what reached nobody is shown to the foreman and the street's console, and
the foreman is warned before dispatching to a team nobody in which WeChat can reach."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.test_console import PASSWORDS, csrf_of, street_case
from tests.test_foreman_api import auth, foreman_token, members_of, street_team
from wagedispute.access.actors import Actor
from wagedispute.handling.foreman import dispatch_case
from wagedispute.models import (
    Complainant,
    Delivery,
    DeliveryState,
    Role,
    SubscriptionConsent,
    Urgency,
)
from wagedispute.platform.database import db


def worker(openid: str) -> Complainant:
    """A mini-program worker with no mobile on file (so no SMS can make up for WeChat)."""
    person = Complainant(openid=openid)
    db.session.add(person)
    db.session.commit()
    return person


def console(app: Any, username: str) -> Any:
    """A client signed in to the console as a demo staff account."""
    client = app.test_client()
    answer = client.post(
        "/console/sign-in",
        data={
            "username": username,
            "password": PASSWORDS[username],
            "csrf_token": csrf_of(client),
        },
    )
    assert answer.status_code == 302
    return client


def reasons(rows: list[dict[str, Any]]) -> set[str]:
    return {row["reason"] for row in rows}


def test_messages_skipped_for_no_consent_not_bound_or_a_wechat_refusal_are_shown_to_the_foreman_and_the_street_console(  # noqa: E501
    client: Any, district: dict[str, Any], make_case: Any, drain: Any, app: Any
) -> None:
    unsubscribed = worker("o-worker-no-consent")
    refusing = worker("refuse-worker")  # the sandbox answers 43101 for it, as WeChat would
    db.session.add(
        SubscriptionConsent(
            openid=refusing.openid, template="case_progress", accepted=True, remaining=5
        )
    )
    db.session.commit()
    first = street_case(make_case, district, "shatoujiao", complainant_id=unsubscribed.id)
    second = street_case(make_case, district, "shatoujiao", complainant_id=refusing.id)
    other_street = street_case(make_case, district, "haishan")
    foreman = first.foreman
    team = street_team(district, first)
    assert all(m.openid is None for m in members_of(team))
    token = foreman_token(client, foreman)

    # Before dispatch: the queue warns that the suggested team cannot be told.
    queue = client.get("/api/v1/foreman/queue", headers=auth(token)).json["cases"]
    warned = [c for c in queue if c["suggested_team"] and c["suggested_team"]["id"] == team.id]
    assert warned and all("无法自动通知" in c["dispatch_warning"] for c in warned)
    detail = client.get(f"/api/v1/foreman/cases/{first.number}", headers=auth(token)).json
    assert "无法自动通知" in detail["dispatch_warning"]

    for case in (first, second, other_street):
        dispatch_case(
            Actor(Role.FOREMAN, case.foreman_id),
            case.number,
            street_team(district, case).id,
            urgency=Urgency.NORMAL,
        )
    drain()
    skipped = db.session.scalars(
        sa.select(Delivery).where(Delivery.state == DeliveryState.SKIPPED)
    ).all()
    assert {"not_bound", "no_consent", "subscription_refused"} <= {d.error for d in skipped}

    # After dispatch: the foreman sees each one, with a reason in Chinese.
    shown = client.get("/api/v1/foreman/undelivered", headers=auth(token)).json["messages"]
    assert {"not_bound", "no_consent", "subscription_refused"} <= reasons(shown)
    assert {row["case_number"] for row in shown} >= {first.number, second.number}
    assert other_street.number not in {row["case_number"] for row in shown}
    assert any(row["reason_label"] == "对方未绑定微信" for row in shown)
    detail = client.get(f"/api/v1/foreman/cases/{second.number}", headers=auth(token)).json
    assert "subscription_refused" in reasons(detail["undelivered"])

    # The street's console lists them on its overview and on the case page; another street not.
    page = console(app, "shatoujiao").get("/console/").get_data(as_text=True)
    for reason in ("not_bound", "no_consent", "subscription_refused"):
        assert f'data-reason="{reason}"' in page
    assert first.number in page and second.number in page
    assert other_street.number not in page
    case_page = console(app, "shatoujiao").get(f"/console/cases/{second.id}").get_data(as_text=True)
    assert 'data-reason="subscription_refused"' in case_page
    haishan = console(app, "haishan").get("/console/").get_data(as_text=True)
    assert first.number not in haishan and second.number not in haishan


def test_a_worker_without_wechat_is_told_by_sms_and_nothing_is_left_undelivered(
    client: Any, district: dict[str, Any], make_case: Any, drain: Any, app: Any
) -> None:
    from wagedispute.messaging import sms

    vault = app.extensions["wagedispute.pii"]
    person = Complainant(
        mobile_encrypted=vault.encrypt("13600136000"), mobile_hash=vault.keyed_hash("13600136000")
    )
    db.session.add(person)
    db.session.commit()
    case = street_case(make_case, district, "shatoujiao", complainant_id=person.id)
    for member in members_of(street_team(district, case)):
        member.openid = f"o-member-{member.id}"
    db.session.commit()
    dispatch_case(
        Actor(Role.FOREMAN, case.foreman_id),
        case.number,
        street_team(district, case).id,
        urgency=Urgency.NORMAL,
    )
    drain()
    sent = [m for m in sms.sandbox_sent() if m["mobile"] == "13600136000"]
    assert len(sent) == 1 and sent[0]["params"] == [case.number, "已分派"]
    worker_rows = db.session.scalars(
        sa.select(Delivery).where(Delivery.recipient_role == Role.COMPLAINANT)
    ).all()
    assert [(d.channel.value, d.state) for d in worker_rows] == [("sms", DeliveryState.SENT)]
    # Running the job again sends nothing more: one send per (event, recipient, template).
    from wagedispute.messaging.notifications import notify_case_step
    from wagedispute.models import Outbox

    for row in db.session.scalars(sa.select(Outbox).where(Outbox.topic == "case_step")):
        notify_case_step(row.id)
    assert len([m for m in sms.sandbox_sent() if m["mobile"] == "13600136000"]) == 1


def test_the_sms_sandbox_page_lists_what_it_recorded_for_staff_only(
    client: Any, app: Any, district: dict[str, Any]
) -> None:
    from wagedispute.messaging import sms

    sms.get_provider().send("13500135000", sms.CASE_PROGRESS, ["YT-2026-000009", "已分派"])
    assert client.get("/dev/sms").status_code in {302, 401, 404}
    page = console(app, "shatoujiao").get("/dev/sms").get_data(as_text=True)
    assert "YT-2026-000009" in page and "已分派" in page
