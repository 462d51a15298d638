"""Cases as bureau staff see them: filtered lists, full detail, and logged reveals of PII."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload, load_only

from wagedispute.access.actors import Actor, case_scope, get_case_for
from wagedispute.cases.clocks import (
    CLOCK_LABELS,
    CLOCK_RULES,
    IN_FORCE_STATES,
    ClockState,
    clock_states,
    overdue_clause,
    overdue_clocks,
)
from wagedispute.cases.lifecycle import StepRequest, apply_transition
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    Complainant,
    DisposalTeam,
    DisputeGroup,
    Evidence,
    Foreman,
    PiiAccessLog,
    Role,
    StaffAccount,
    Street,
    Urgency,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import Conflict, InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_midnight

log = logging.getLogger(__name__)

PAGE_SIZE = 50
# What the search box recognises besides words of a site or employer: a mainland mobile number
# and a resident ID number, both matched through their keyed hashes, never in clear.
MOBILE_RE = re.compile(r"^1\d{10}$")
ID_NUMBER_RE = re.compile(r"^\d{17}[\dXx]$")
PII_SEARCH_LABELS = {"mobile": "手机号", "id_number": "身份证号"}
# Counting stops here: an exact count of a large filtered set costs more than it tells.
COUNT_CAP = 1000

PII_FIELDS = {
    "mobile": ("手机号", "mobile_encrypted"),
    "id_number": ("身份证号", "id_number_encrypted"),
    "name": ("姓名", "name_encrypted"),
}


def urgency_expr() -> sa.ColumnElement[Any]:
    """The urgency in force, in SQL: the confirmed level, else the suggested one."""
    return sa.func.coalesce(Case.urgency_confirmed, Case.urgency_suggested)


@dataclass(frozen=True)
class CaseFilter:
    """What the case list is narrowed to; every field optional."""

    status: CaseStatus | None = None
    open_only: bool = False
    urgency: Urgency | None = None
    street_id: int | None = None
    team_id: int | None = None
    foreman_id: int | None = None
    channel: Channel | None = None
    overdue: bool = False
    flagged: bool = False
    created_from: date | None = None
    created_to: date | None = None
    text: str = ""

    @classmethod
    def from_args(cls, args: Any) -> CaseFilter:
        """Parse query-string arguments; unknown values are refused (422), blanks ignored."""

        def pick(name: str, kind: Any) -> Any:
            raw = (args.get(name) or "").strip()
            if not raw:
                return None
            try:
                return kind(raw)
            except ValueError as exc:
                raise InvalidInput(f"筛选条件“{name}”无效", code="invalid_filter") from exc

        return cls(
            status=pick("status", CaseStatus),
            open_only=args.get("open") == "1",
            urgency=pick("urgency", Urgency),
            street_id=pick("street", int),
            team_id=pick("team", int),
            foreman_id=pick("foreman", int),
            channel=pick("channel", Channel),
            overdue=args.get("overdue") == "1",
            flagged=args.get("flagged") == "1",
            created_from=pick("from", date.fromisoformat),
            created_to=pick("to", date.fromisoformat),
            text=(args.get("q") or "").strip()[:64],
        )

    def where(self, now: datetime) -> list[sa.ColumnElement[bool]]:
        """The SQL conditions of this filter."""
        conds: list[sa.ColumnElement[bool]] = []
        if self.status is not None:
            conds.append(Case.status == self.status)
        if self.open_only:
            conds.append(Case.status.in_(OPEN_STATUSES))
        if self.urgency is not None:
            conds.append(urgency_expr() == self.urgency.value)
        if self.street_id is not None:
            conds.append(Case.street_id == self.street_id)
        if self.team_id is not None:
            conds.append(Case.team_id == self.team_id)
        if self.foreman_id is not None:
            conds.append(Case.foreman_id == self.foreman_id)
        if self.channel is not None:
            conds.append(Case.channel == self.channel)
        if self.overdue:
            conds.append(overdue_clause(now))
        if self.flagged:
            conds.append(Case.flagged_to_bureau.is_(True))
        if self.created_from is not None:
            conds.append(Case.created_at >= district_midnight(self.created_from))
        if self.created_to is not None:
            end = district_midnight(self.created_to + timedelta(days=1))
            conds.append(Case.created_at < end)
        if self.pii_field is not None:
            conds.append(_pii_match(self.pii_field, self.search_text))
        elif self.text:
            pattern = "%" + _escape_like(self.text) + "%"
            conds.append(
                sa.or_(
                    Case.number.ilike(pattern, escape="\\"),
                    Case.site_name.ilike(pattern, escape="\\"),
                    Case.site_address.ilike(pattern, escape="\\"),
                    sa.cast(Case.employers, sa.Text).ilike(pattern, escape="\\"),
                )
            )
        return conds

    @property
    def search_text(self) -> str:
        """The search text without spaces or hyphens a phone number may be written with."""
        return re.sub(r"[\s-]", "", self.text)

    @property
    def pii_field(self) -> str | None:
        """ "mobile" or "id_number" when the search text is one (searched by keyed hash)."""
        if MOBILE_RE.match(self.search_text):
            return "mobile"
        if ID_NUMBER_RE.match(self.search_text):
            return "id_number"
        return None

    def query_args(self) -> dict[str, str]:
        """The filter as query-string arguments (for pagination links)."""
        out = {
            "status": self.status.value if self.status else "",
            "open": "1" if self.open_only else "",
            "urgency": self.urgency.value if self.urgency else "",
            "street": str(self.street_id or ""),
            "team": str(self.team_id or ""),
            "foreman": str(self.foreman_id or ""),
            "channel": self.channel.value if self.channel else "",
            "overdue": "1" if self.overdue else "",
            "flagged": "1" if self.flagged else "",
            "from": self.created_from.isoformat() if self.created_from else "",
            "to": self.created_to.isoformat() if self.created_to else "",
            "q": self.text,
        }
        return {k: v for k, v in out.items() if v}


def _pii_match(field_name: str, value: str) -> sa.ColumnElement[bool]:
    """Cases whose complainant's mobile or ID number has the keyed hash of ``value``."""
    digest = current_app.extensions["wagedispute.pii"].keyed_hash(value)
    column = Complainant.mobile_hash if field_name == "mobile" else Complainant.id_number_hash
    by_person = Case.complainant_id.in_(sa.select(Complainant.id).where(column == digest))
    if field_name == "mobile":
        # The mobile as given on the case itself (a worker may change numbers between cases).
        return sa.or_(Case.complainant_mobile_hash == digest, by_person)
    return by_person


def _log_pii_search(actor: Actor, field_name: str, case_ids: list[int], now: datetime) -> None:
    """A search by mobile or ID number is logged like a reveal: one row per case it found."""
    if actor.id is None:
        return
    reason = f"按{PII_SEARCH_LABELS[field_name]}检索案件"
    with unit_of_work():
        for case_id in case_ids:
            db.session.add(
                PiiAccessLog(
                    staff_id=actor.id,
                    case_id=case_id,
                    field=f"search_{field_name}",
                    reason=reason,
                    at=now,
                )
            )
    # Ids only: the searched value must never reach a log.
    log.info("pii search by %s by staff %s found %d cases", field_name, actor.id, len(case_ids))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class CaseRow:
    """One line of the case list."""

    id: int
    number: str
    status: CaseStatus
    urgency: Urgency
    channel: Channel
    street_name: str
    team_name: str | None
    foreman_name: str | None
    site_name: str
    workers_affected: int
    amount_owed_fen: int
    created_at: datetime
    overdue: list[str]
    flagged: bool
    # A suspected duplicate of this earlier case (same worker, same site, within the window).
    duplicate_of_id: int | None = None


@dataclass(frozen=True)
class CasePage:
    """A page of the case list, newest first, with the cursor of the next page."""

    rows: list[CaseRow]
    next_cursor: str | None
    count: int
    count_capped: bool


def encode_cursor(created_at: datetime, case_id: int) -> str:
    """The keyset position after a row: its creation time (µs since epoch) and id."""
    micros = int(created_at.timestamp() * 1_000_000)
    return f"{micros}.{case_id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Undo ``encode_cursor``; a malformed cursor is refused (422)."""
    try:
        micros, case_id = cursor.split(".", 1)
        return datetime.fromtimestamp(int(micros) / 1_000_000, UTC), int(case_id)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidInput("分页参数无效", code="invalid_cursor") from exc


def list_cases(
    actor: Actor,
    flt: CaseFilter,
    *,
    cursor: str | None = None,
    page_size: int = PAGE_SIZE,
    now: datetime | None = None,
) -> CasePage:
    """The cases the actor may see that match the filter, newest first, by keyset pages."""
    now = now or utcnow()
    conds = [case_scope(actor), *flt.where(now)]
    stmt = (
        sa.select(
            Case.id,
            Case.number,
            Case.status,
            Case.urgency_confirmed,
            Case.urgency_suggested,
            Case.channel,
            Case.site_name,
            Case.workers_affected,
            Case.amount_owed_fen,
            Case.created_at,
            Case.flagged_to_bureau,
            Case.duplicate_of_id,
            Case.clock_paused_at,
            Case.dispatch_due_at,
            Case.accept_due_at,
            Case.contact_due_at,
            Case.resolve_due_at,
            Case.first_contact_at,
            Case.dispatched_at,
            Case.accepted_at,
            Case.resolved_at,
            Street.name.label("street_name"),
            DisposalTeam.name.label("team_name"),
            Foreman.name.label("foreman_name"),
        )
        .join(Street, Street.id == Case.street_id)
        .outerjoin(DisposalTeam, DisposalTeam.id == Case.team_id)
        .outerjoin(Foreman, Foreman.id == Case.foreman_id)
        .where(*conds)
    )
    if cursor:
        after_at, after_id = decode_cursor(cursor)
        stmt = stmt.where(
            sa.or_(
                Case.created_at < after_at,
                sa.and_(Case.created_at == after_at, Case.id < after_id),
            )
        )
    stmt = stmt.order_by(Case.created_at.desc(), Case.id.desc()).limit(page_size + 1)
    rows = db.session.execute(stmt).all()
    more = len(rows) > page_size
    rows = rows[:page_size]
    count_stmt = sa.select(sa.func.count()).select_from(
        sa.select(Case.id).where(*conds).limit(COUNT_CAP + 1).subquery()
    )
    count = db.session.execute(count_stmt).scalar_one()
    out = [_row(r, now) for r in rows]
    if flt.pii_field is not None:
        if actor.role != Role.STAFF:
            raise NotFound()
        _log_pii_search(actor, flt.pii_field, [r.id for r in rows], now)
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more else None
    return CasePage(
        rows=out,
        next_cursor=next_cursor,
        count=min(count, COUNT_CAP),
        count_capped=count > COUNT_CAP,
    )


def _row(r: Any, now: datetime) -> CaseRow:
    shadow = Case(
        status=r.status,
        clock_paused_at=r.clock_paused_at,
        dispatch_due_at=r.dispatch_due_at,
        accept_due_at=r.accept_due_at,
        contact_due_at=r.contact_due_at,
        resolve_due_at=r.resolve_due_at,
        first_contact_at=r.first_contact_at,
        dispatched_at=r.dispatched_at,
        accepted_at=r.accepted_at,
        resolved_at=r.resolved_at,
    )
    return CaseRow(
        id=r.id,
        number=r.number,
        status=r.status,
        urgency=r.urgency_confirmed or r.urgency_suggested,
        channel=r.channel,
        street_name=r.street_name,
        team_name=r.team_name,
        foreman_name=r.foreman_name,
        site_name=r.site_name,
        workers_affected=r.workers_affected,
        amount_owed_fen=r.amount_owed_fen,
        created_at=r.created_at,
        overdue=overdue_clocks(shadow, now),
        flagged=r.flagged_to_bureau,
        duplicate_of_id=r.duplicate_of_id,
    )


@dataclass(frozen=True)
class EvidenceItem:
    """An evidence file's description (not its bytes)."""

    id: int
    content_type: str
    size_bytes: int
    uploaded_by_role: Role
    created_at: datetime


@dataclass(frozen=True)
class Clock:
    """One SLA clock of a case: its state (``clocks.clock_state``), due time and when met."""

    key: str
    label: str
    state: ClockState
    due_at: datetime | None
    met_at: datetime | None

    @property
    def overdue(self) -> bool:
        """Breached: in force, running and past its due time."""
        return self.state == ClockState.BREACHED

    @property
    def in_force(self) -> bool:
        """Ticking or paused in the case's status (a pause would hold it)."""
        return self.state in IN_FORCE_STATES

    @property
    def met_late(self) -> bool:
        """Met after its due time."""
        return (
            self.state == ClockState.MET
            and self.met_at is not None
            and self.due_at is not None
            and self.met_at > self.due_at
        )


# When each clock's step was last done.
MET_AT = {
    "dispatch": "dispatched_at",
    "accept": "accepted_at",
    "contact": "first_contact_at",
    "resolve": "resolved_at",
}


def case_clocks(case: Case, now: datetime) -> list[Clock]:
    """The four clocks of a loaded case as the detail page shows them."""
    return [
        Clock(
            name,
            CLOCK_LABELS[name],
            state,
            CLOCK_RULES[name].due(case),
            getattr(case, MET_AT[name]) if state == ClockState.MET else None,
        )
        for name, state in clock_states(case, now).items()
    ]


@dataclass
class CaseDetail:
    """Everything the console shows about one case."""

    case: Case
    events: list[CaseEvent]
    evidence: list[EvidenceItem]
    clocks: list[Clock]
    group: DisputeGroup | None
    group_cases: list[Case]
    reveals: list[tuple[PiiAccessLog, str]]
    staff_names: dict[int, str] = field(default_factory=dict)
    team_names: dict[int, str] = field(default_factory=dict)


def bureau_case_detail(actor: Actor, case_id: int, *, now: datetime | None = None) -> CaseDetail:
    """One case in the actor's scope with its timeline, group, evidence, clocks and reveals."""
    now = now or utcnow()
    case = get_case_for(actor, case_id)
    db.session.refresh(case)
    events = list(
        db.session.scalars(
            sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        )
    )
    evidence = [
        EvidenceItem(e.id, e.content_type, e.size_bytes, e.uploaded_by_role, e.created_at)
        for e in db.session.scalars(
            sa.select(Evidence)
            .options(
                load_only(
                    Evidence.id,
                    Evidence.content_type,
                    Evidence.size_bytes,
                    Evidence.uploaded_by_role,
                    Evidence.created_at,
                )
            )
            .where(Evidence.case_id == case.id)
            .order_by(Evidence.id)
        )
    ]
    clocks = case_clocks(case, now)
    group_cases: list[Case] = []
    if case.group_id is not None:
        group_cases = list(
            db.session.scalars(
                sa.select(Case)
                .options(joinedload(Case.street))
                .where(Case.group_id == case.group_id, Case.id != case.id, case_scope(actor))
                .order_by(Case.created_at)
                .limit(200)
            )
        )
    reveal_rows = db.session.execute(
        sa.select(PiiAccessLog, StaffAccount.display_name)
        .join(StaffAccount, StaffAccount.id == PiiAccessLog.staff_id)
        .where(PiiAccessLog.case_id == case.id)
        .order_by(PiiAccessLog.id.desc())
        .limit(50)
    ).all()
    staff_ids = {e.actor_id for e in events if e.actor_role == Role.STAFF and e.actor_id}
    staff_names = (
        dict(
            db.session.execute(
                sa.select(StaffAccount.id, StaffAccount.display_name).where(
                    StaffAccount.id.in_(staff_ids)
                )
            ).all()
        )
        if staff_ids
        else {}
    )
    team_ids = {
        tid
        for e in events
        for tid in ((e.data or {}).get("team_id"), (e.data or {}).get("previous_team_id"))
        if isinstance(tid, int)
    }
    team_names = (
        dict(
            db.session.execute(
                sa.select(DisposalTeam.id, DisposalTeam.name).where(DisposalTeam.id.in_(team_ids))
            ).all()
        )
        if team_ids
        else {}
    )
    return CaseDetail(
        case=case,
        events=events,
        evidence=evidence,
        clocks=clocks,
        group=case.group,
        group_cases=group_cases,
        reveals=[(log_row, name) for log_row, name in reveal_rows],
        staff_names=staff_names,
        team_names=team_names,
    )


def get_evidence_for(actor: Actor, case_id: int, evidence_id: int) -> Evidence:
    """An evidence file of a case in the actor's scope (404 otherwise)."""
    get_case_for(actor, case_id)
    item = db.session.scalars(
        sa.select(Evidence).where(Evidence.id == evidence_id, Evidence.case_id == case_id)
    ).one_or_none()
    if item is None:
        raise NotFound()
    return item


def merge_duplicate(actor: Actor, case_id: int) -> Case:
    """Confirm a suspected duplicate: close it as merged into the earlier case it repeats."""
    if actor.role != Role.STAFF:
        raise NotFound()
    with unit_of_work():
        case = get_case_for(actor, case_id)
        if case.duplicate_of_id is None:
            raise Conflict("该案件未被标记为疑似重复", code="not_a_duplicate")
        original = db.session.get(Case, case.duplicate_of_id)
        assert original is not None  # a foreign key
        case = apply_transition(
            case.id,
            CaseStatus.REJECTED,
            actor,
            StepRequest(reason=f"与案件{original.number}重复，已并入该案件办理"),
        )
    log.info("case %s merged into %s by staff %s", case.id, case.duplicate_of_id, actor.id)
    return case


def reveal_pii(actor: Actor, case_id: int, field_name: str, reason: str) -> str:
    """Decrypt one personal-data field of a case's complainant, logging who, why and when."""
    if actor.role != Role.STAFF or actor.id is None:
        raise NotFound()
    if field_name not in PII_FIELDS:
        raise InvalidInput("无效的查看项目", code="invalid_pii_field")
    reason = reason.strip()
    if len(reason) < 2:
        raise InvalidInput("请填写查看理由", code="reason_required")
    case = get_case_for(actor, case_id)
    complainant = db.session.get(Complainant, case.complainant_id) if case.complainant_id else None
    # Name and mobile as given on this very case; older cases (before per-case copies) and the
    # ID number fall back to the complainant's record.
    ciphertext = getattr(case, "complainant_" + PII_FIELDS[field_name][1], None)
    if not ciphertext and complainant is not None:
        ciphertext = getattr(complainant, PII_FIELDS[field_name][1], None)
    if not ciphertext:
        raise NotFound("该案件没有登记此项个人信息", code="pii_absent")
    value = current_app.extensions["wagedispute.pii"].decrypt(ciphertext)
    db.session.add(
        PiiAccessLog(
            staff_id=actor.id, case_id=case.id, field=field_name, reason=reason[:255], at=utcnow()
        )
    )
    db.session.commit()
    # Ids only: the value itself must never reach a log.
    log.info("pii %s of case %s revealed by staff %s", field_name, case.id, actor.id)
    return value


@dataclass(frozen=True)
class FilterChoices:
    """The options of the list's filter selects, limited to the actor's scope."""

    streets: list[Street]
    teams: list[DisposalTeam]
    foremen: list[Foreman]


def filter_choices(actor: Actor) -> FilterChoices:
    """Streets, teams and foremen the actor may filter by."""
    streets = sa.select(Street).order_by(Street.id)
    teams = sa.select(DisposalTeam).order_by(DisposalTeam.street_id, DisposalTeam.id)
    foremen = sa.select(Foreman).order_by(Foreman.street_id, Foreman.id)
    if actor.street_id is not None:
        streets = streets.where(Street.id == actor.street_id)
        teams = teams.where(DisposalTeam.street_id == actor.street_id)
        foremen = foremen.where(Foreman.street_id == actor.street_id)
    return FilterChoices(
        streets=list(db.session.scalars(streets)),
        teams=list(db.session.scalars(teams)),
        foremen=list(db.session.scalars(foremen)),
    )
