"""The case state machine: one table, one service, an audit row for every step."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from wagedispute.access.actors import Actor
from wagedispute.cases.lifecycle import TRANSITIONS, StepRequest, allowed_roles, transition_case
from wagedispute.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Complainant,
    Outbox,
    Outcome,
    Role,
    StaffRole,
    Urgency,
)
from wagedispute.platform.database import db
from wagedispute.platform.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
)


def actors_for(case: Case, district) -> dict[Role, Actor]:
    """One actor per role, each in the case's scope."""
    return {
        Role.COMPLAINANT: Actor(Role.COMPLAINANT, case.complainant_id),
        Role.FOREMAN: Actor(Role.FOREMAN, case.foreman_id),
        Role.TEAM_MEMBER: Actor(Role.TEAM_MEMBER, 1, team_id=case.team_id),
        Role.STAFF: Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_ADMIN),
        Role.SYSTEM: Actor.system(),
    }


def request_for(to_status: CaseStatus, case: Case, district) -> StepRequest:
    """A request that satisfies the step's own requirements."""
    teams = [t for t in district["teams"] if t.street_id == case.street_id] + district["teams"]
    other_team = next(t for t in teams if t.id != case.team_id)
    return StepRequest(
        reason="测试原因",
        team_id=other_team.id,
        urgency=Urgency.URGENT,
        outcome=Outcome.PAID_IN_FULL,
        data={"proof_evidence_ids": [1]},
    )


def status_counts():
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.kind == "status")).all()
    return events


def test_dispatch_appends_one_event_and_one_outbox_row(make_case, district):
    case = make_case()
    team = district["teams"][0]
    foreman = Actor(Role.FOREMAN, case.foreman_id)
    transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        foreman,
        StepRequest(team_id=team.id, urgency=Urgency.URGENT),
    )
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.status == CaseStatus.DISPATCHED
    assert case.team_id == team.id
    assert case.urgency_confirmed == Urgency.URGENT
    events = db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)).all()
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, CaseStatus.RECEIVED),
        (CaseStatus.RECEIVED, CaseStatus.DISPATCHED),
    ]
    assert events[1].actor_role == Role.FOREMAN
    outbox = db.session.scalars(sa.select(Outbox).where(Outbox.case_id == case.id)).all()
    assert len(outbox) == 2


def test_illegal_transition_is_refused_and_changes_nothing(make_case, district):
    case = make_case()
    with pytest.raises(InvalidTransition) as excinfo:
        transition_case(case.id, CaseStatus.CLOSED, Actor.system())
    assert excinfo.value.status == 409
    assert "不能变更" in excinfo.value.message
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.RECEIVED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent)) == 1


def test_role_not_in_table_is_forbidden(make_case, district):
    case = make_case()
    staff = Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_ADMIN)
    request = StepRequest(team_id=district["teams"][0].id, urgency=Urgency.NORMAL)
    with pytest.raises(Forbidden):
        transition_case(case.id, CaseStatus.DISPATCHED, staff, request)
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.RECEIVED


def test_case_outside_scope_is_not_found(make_case, district):
    case = make_case(foreman=district["foremen"][0])
    other_foreman = Actor(Role.FOREMAN, district["foremen"][1].id)
    with pytest.raises(NotFound):
        transition_case(case.id, CaseStatus.REJECTED, other_foreman, StepRequest(reason="重复"))
    other_street = next(s for s in district["streets"].values() if s.id != case.street_id)
    street_staff = Actor(
        Role.STAFF, 9, staff_role=StaffRole.STREET_STAFF, street_id=other_street.id
    )
    with pytest.raises(NotFound):
        transition_case(case.id, CaseStatus.REJECTED, street_staff, StepRequest(reason="重复"))


def test_dispatch_needs_team_and_confirmed_urgency(make_case, district):
    case = make_case()
    foreman = Actor(Role.FOREMAN, case.foreman_id)
    with pytest.raises(InvalidInput) as no_team:
        transition_case(
            case.id, CaseStatus.DISPATCHED, foreman, StepRequest(urgency=Urgency.NORMAL)
        )
    assert no_team.value.code == "team_required"
    with pytest.raises(InvalidInput) as no_urgency:
        transition_case(
            case.id, CaseStatus.DISPATCHED, foreman, StepRequest(team_id=district["teams"][0].id)
        )
    assert no_urgency.value.code == "urgency_required"


def test_paid_outcome_needs_proof(make_case, district):
    case = make_case()
    team = district["teams"][0]
    transition_case(
        case.id,
        CaseStatus.DISPATCHED,
        Actor(Role.FOREMAN, case.foreman_id),
        StepRequest(team_id=team.id, urgency=Urgency.NORMAL),
    )
    member = Actor(Role.TEAM_MEMBER, 1, team_id=team.id)
    transition_case(case.id, CaseStatus.ACCEPTED, member)
    with pytest.raises(InvalidInput) as excinfo:
        transition_case(
            case.id, CaseStatus.RESOLVED, member, StepRequest(outcome=Outcome.PAID_IN_FULL)
        )
    assert excinfo.value.code == "proof_required"
    transition_case(
        case.id, CaseStatus.RESOLVED, member, StepRequest(outcome=Outcome.UNSUBSTANTIATED)
    )


class CaseLifecycleMachine(RuleBasedStateMachine):
    """Random steps by random roles: the table is the only way a status changes."""

    def __init__(self, make_case, district, reached: set) -> None:
        super().__init__()
        self.reached = reached
        self.district = district
        complainant = Complainant(openid=None)
        db.session.add(complainant)
        db.session.commit()
        self.case = make_case(complainant_id=complainant.id)
        self.expected_status = CaseStatus.RECEIVED
        self.status_changes = 1  # creation

    @rule(
        to_status=st.sampled_from(list(CaseStatus)),
        role=st.sampled_from(
            [Role.COMPLAINANT, Role.FOREMAN, Role.TEAM_MEMBER, Role.STAFF, Role.SYSTEM]
        ),
        complete=st.booleans(),
    )
    def step(self, to_status: CaseStatus, role: Role, complete: bool) -> None:
        case = db.session.get(Case, self.case.id)
        actor = actors_for(case, self.district)[role]
        request = request_for(to_status, case, self.district) if complete else StepRequest()
        before = case.status
        try:
            transition_case(case.id, to_status, actor, request)
        except DomainError:
            db.session.expire_all()
            assert db.session.get(Case, self.case.id).status == before
            return
        assert role in allowed_roles(before, to_status)
        self.reached.add((before, to_status))
        self.expected_status = to_status
        self.status_changes += 1

    @rule(data=st.data())
    def legal_step(self, data: st.DataObject) -> None:
        """Take a step the table allows from here, so walks reach deep states too."""
        current = db.session.get(Case, self.case.id).status
        options = sorted(
            (to, role)
            for (frm, to), roles in TRANSITIONS.items()
            if frm == current
            for role in roles
            if role != Role.IMPORT
        )
        if options:
            to_status, role = data.draw(st.sampled_from(options))
            self.step(to_status, role, complete=True)

    @invariant()
    def every_status_change_has_exactly_one_event(self) -> None:
        db.session.expire_all()
        case = db.session.get(Case, self.case.id)
        assert case.status == self.expected_status
        events = db.session.scalars(
            sa.select(CaseEvent)
            .where(CaseEvent.case_id == case.id, CaseEvent.kind == "status")
            .order_by(CaseEvent.id)
        ).all()
        assert len(events) == self.status_changes
        # The events chain from creation to the current status, each step in the table.
        previous = None
        for event in events:
            assert event.from_status == previous
            assert (event.from_status, event.to_status) in TRANSITIONS
            assert event.actor_role in TRANSITIONS[(event.from_status, event.to_status)]
            previous = event.to_status
        assert previous == case.status


def test_random_action_sequences_follow_the_table(make_case, district):
    reached: set = set()
    run_state_machine_as_test(
        lambda: CaseLifecycleMachine(make_case, district, reached),
        settings=settings(
            max_examples=30,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
    # The random walk really moved through the machine, not just bounced off refusals.
    assert len(reached) >= 8, reached
