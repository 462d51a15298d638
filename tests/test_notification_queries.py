"""A notification job asks the database a handful of things, not one per step of its work."""

from __future__ import annotations

from types import SimpleNamespace

import sqlalchemy as sa

from tests.query_counter import counting
from tests.test_outbox import bound_team, dispatch, team_messages  # noqa: F401
from wagedispute.jobs import run_outbox
from wagedispute.models import Complainant, Delivery, DeliveryState, Outbox, SubscriptionConsent
from wagedispute.platform.database import db

# outbox row; event + case + complainant; team; deliveries (one INSERT); claim (one SELECT FOR
# UPDATE); per delivery: its "sent" UPDATE, and a re-claim after each commit but the first;
# the row marked done.
TEAM_OF_TWO_STATEMENTS = 9


def pending_row_for(case_id: int) -> int:
    return db.session.scalar(
        sa.select(Outbox.id).where(Outbox.case_id == case_id).order_by(Outbox.id.desc())
    )


def test_dispatch_notification_job_runs_a_handful_of_statements(make_case, bound_team):  # noqa: F811
    case = make_case()
    dispatch(case, bound_team)
    row_id = pending_row_for(case.id)
    team = SimpleNamespace(id=bound_team.id)
    db.session.commit()
    db.session.expunge_all()  # the job starts as a worker would, knowing nothing
    with counting(db.engine) as counted:
        run_outbox(row_id)
    assert len(team_messages(team)) == 2
    assert len(counted.statements) <= TEAM_OF_TWO_STATEMENTS, counted.statements
    inserts = [
        s for s in counted.statements if s.lstrip().upper().startswith("INSERT INTO DELIVERIES")
    ]
    assert len(inserts) == 1  # the deliveries of one event are written together


def test_worker_with_consent_reads_the_consent_once_and_adds_one_send(
    app,
    make_case,
    bound_team,  # noqa: F811
    monkeypatch,
):
    monkeypatch.setitem(app.config, "WECHAT_TEMPLATE_IDS", "case_progress=TPL-P")
    worker = Complainant(openid="o-worker-q")
    db.session.add(worker)
    db.session.add(SubscriptionConsent(openid="o-worker-q", template="TPL-P", accepted=True))
    db.session.commit()
    case = make_case(complainant_id=worker.id)
    dispatch(case, bound_team)
    case_id = case.id
    row_id = pending_row_for(case_id)
    db.session.commit()
    db.session.expunge_all()
    with counting(db.engine) as counted:
        run_outbox(row_id)
    states = db.session.scalars(sa.select(Delivery.state).where(Delivery.case_id == case_id))
    assert sorted(states) == [DeliveryState.SENT] * 3
    # A third delivery adds its re-claim and "sent" UPDATE, and the consent's one read and use.
    assert len(counted.statements) <= TEAM_OF_TWO_STATEMENTS + 4, counted.statements
    consent_reads = [s for s in counted.statements if "FROM subscription_consents" in s]
    assert len(consent_reads) == 1
