"""The demo district (盐田区's four streets, their foremen, teams and staff accounts) and a
realistic week of activity played through the real services.

``seed_demo`` creates the people. ``play_demo_week`` then plays seven days of complaints into a
database that holds no case yet: every step (intake, triage, dispatch, accept, progress,
resolution with proof of payment, the worker's confirmation or dispute, rejection, withdrawal,
return, the scheduler's auto-dispatch and breach escalation, letters, daily checks, a channel
import with its alert, weekly packs) is a call to the service that a person or the scheduler
would cause. Services take their time from the database's clock, so the week is told as a story:
one day's steps run at "now", then every timestamp the story wrote is moved one day into the past
before the next day is played. The last day is today. (Deadlines are counted on the working-day
calendar from the moment the demo runs, then moved with the story: played near a weekend, a demo
deadline may fall on a rest day.)
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from PIL import Image, ImageDraw

from wagedispute.access.actors import Actor
from wagedispute.access.binding import issue_binding_code, sign_in_openid
from wagedispute.access.staff import actor_for_staff
from wagedispute.cases.clocks import escalate_breaches
from wagedispute.cases.evidence import store_evidence
from wagedispute.handling.dispatch import auto_dispatch_overdue_critical
from wagedispute.handling.followup import confirm_resolution, dispute_resolution
from wagedispute.handling.foreman import dispatch_case, reject_case, suggested_team_for
from wagedispute.handling.team import (
    ResolutionIn,
    accept_case,
    add_note,
    resolve_case,
    return_case,
    start_work,
)
from wagedispute.intake.complaints import record_subscriptions, withdraw_complaint
from wagedispute.intake.submission import ComplaintIn, submit_complaint
from wagedispute.models import (
    Case,
    CaseEvent,
    Channel,
    Complainant,
    DisposalTeam,
    DisputeGroup,
    Evidence,
    Foreman,
    LetterKind,
    QrCode,
    Role,
    StaffAccount,
    StaffRole,
    Street,
    TeamMember,
)
from wagedispute.platform.database import UTCDateTime, db, unit_of_work
from wagedispute.platform.errors import Conflict
from wagedispute.platform.passwords import hash_password
from wagedispute.platform.timekeeping import db_now, district_today, district_year
from wagedispute.supervision.daily_check import check_case
from wagedispute.supervision.indicators import set_indicator_targets
from wagedispute.supervision.letters import issue_letter, record_reply
from wagedispute.supervision.tasks import run_background_task, start_task

# (code, name, foremen [(name, phone)], teams)
DEMO_STREETS = [
    ("shatoujiao", "沙头角街道", [("张建国", "13800000101"), ("李卫东", "13800000102")], 2),
    ("haishan", "海山街道", [("王志强", "13800000201"), ("陈海燕", "13800000202")], 1),
    ("yantian", "盐田街道", [("刘德明", "13800000301"), ("黄秀兰", "13800000302")], 2),
    ("meisha", "梅沙街道", [("赵永刚", "13800000401"), ("周丽萍", "13800000402")], 1),
]

# Demo sign-ins are printed by seed-demo and make run; they exist only in demo data.
DEMO_STAFF = [
    ("admin", "区信访局管理员", StaffRole.DISTRICT_ADMIN, None, "demo-admin-2026"),
    ("supervisor", "区信访局督查员", StaffRole.DISTRICT_SUPERVISOR, None, "demo-supervisor-2026"),
    ("shatoujiao", "沙头角街道工作人员", StaffRole.STREET_STAFF, "shatoujiao", "demo-street-2026"),
    ("haishan", "海山街道工作人员", StaffRole.STREET_STAFF, "haishan", "demo-street-2026"),
    ("yantian", "盐田街道工作人员", StaffRole.STREET_STAFF, "yantian", "demo-street-2026"),
    ("meisha", "梅沙街道工作人员", StaffRole.STREET_STAFF, "meisha", "demo-street-2026"),
]


@dataclass(frozen=True)
class DemoSignIn:
    """A demo staff account's username and password, for the person trying the system."""

    username: str
    password: str
    role: StaffRole
    label: str


@dataclass(frozen=True)
class DemoForeman:
    """A demo foreman with the street and the stable token of the QR code on the poster."""

    name: str
    street: str
    token: str


@dataclass(frozen=True)
class DemoSummary:
    """What seed_demo created this time and what the demo district holds."""

    created: int
    sign_ins: list[DemoSignIn]
    qr_tokens: list[tuple[str, str]]


def demo_sign_ins() -> list[DemoSignIn]:
    """The demo staff sign-ins, as seed_demo creates them."""
    return [
        DemoSignIn(username, password, role, display)
        for username, display, role, _street, password in DEMO_STAFF
    ]


def demo_foremen() -> list[DemoForeman]:
    """Every demo foreman with the token of the QR code seed_demo gives them."""
    return [
        DemoForeman(name, street, _demo_token(name))
        for _code, street, foremen, _teams in DEMO_STREETS
        for name, _phone in foremen
    ]


@cache
def _demo_password_hash(password: str) -> str:
    """One argon2 hash per demo password per process: argon2 is slow on purpose."""
    return hash_password(password)


def _demo_token(foreman_name: str) -> str:
    """A stable token per demo foreman, so reseeding keeps printed posters valid."""
    return "demo" + hashlib.sha256(foreman_name.encode()).hexdigest()[:20]


def seed_demo() -> DemoSummary:
    """Create the demo district; a second run finds everything present and changes nothing."""
    created = 0

    def ensure(model: type, lookup: dict, **values: object) -> Any:
        nonlocal created
        row = db.session.scalars(sa.select(model).filter_by(**lookup)).one_or_none()
        if row is None:
            row = model(**lookup, **values)
            db.session.add(row)
            db.session.flush()
            created += 1
        return row

    streets: dict[str, Street] = {}
    with unit_of_work():
        for code, name, foremen, team_count in DEMO_STREETS:
            street = ensure(Street, {"code": code}, name=name)
            streets[code] = street
            for foreman_name, phone in foremen:
                foreman = ensure(Foreman, {"name": foreman_name}, phone=phone, street_id=street.id)
                ensure(QrCode, {"token": _demo_token(foreman_name)}, foreman_id=foreman.id)
            short = name.removesuffix("街道")
            for index in range(1, team_count + 1):
                team = ensure(
                    DisposalTeam, {"name": f"{short}处置工作小组{index}"}, street_id=street.id
                )
                for member in (1, 2):
                    ensure(
                        TeamMember,
                        {"name": f"{short}{index}组队员{member}"},
                        team_id=team.id,
                        phone=f"139{street.id:02d}{index:02d}{member:04d}",
                    )
        for username, display, role, street_code, password in DEMO_STAFF:
            ensure(
                StaffAccount,
                {"username": username},
                display_name=display,
                role=role,
                street_id=streets[street_code].id if street_code else None,
                password_hash=_demo_password_hash(password),
                # A published demo password: production mode insists on a new one at sign-in.
                must_change_password=True,
            )
    return DemoSummary(
        created=created,
        sign_ins=demo_sign_ins(),
        qr_tokens=[(foreman.name, foreman.token) for foreman in demo_foremen()],
    )


# --- The week ---------------------------------------------------------------------------------

WEEK_DAYS = 7


class DemoAlreadyPlayed(Conflict):
    """The database already holds cases: the demo week is played only into an empty one."""

    code = "demo_already_played"
    message = "数据库中已有案件，演示周只在没有案件时播放一次"


@dataclass(frozen=True)
class Step:
    """One thing that happens to a story's case, ``day`` days before today."""

    day: int
    action: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Story:
    """One complaint of the demo week: who reports what, through whom, and what follows."""

    key: str
    foreman: str
    worker: str
    mobile: str
    site: str
    employers: tuple[tuple[str, str], ...]
    workers: int
    amount_yuan: int
    months: int
    description: str
    steps: tuple[Step, ...]
    channel: Channel = Channel.WEB


PAID = "paid_in_full"
STORIES: tuple[Story, ...] = (
    Story(
        "haijing-carpenters",
        "张建国",
        "王小明",
        "13912340001",
        "海景花园二期工地",
        (("总包", "深圳市海景建设有限公司"), ("班组", "老李木工班组")),
        3,
        18_000,
        2,
        "木工班组三人两个月工资未发，包工头说总包没拨款。",
        (
            Step(6, "intake"),
            Step(6, "dispatch"),
            Step(5, "accept"),
            Step(5, "note", {"text": "已电话联系王小明，约总包项目经理周三到场核对工资表"}),
            Step(4, "start"),
            Step(3, "resolve", {"outcome": PAID, "summary": "总包从工资专用账户代发全部欠薪"}),
            Step(2, "confirm", {"score": 5, "comment": "工资已到账，谢谢工长"}),
        ),
    ),
    Story(
        "haijing-rebar",
        "张建国",
        "刘强",
        "13912340002",
        "海景花园二期工地",
        (("总包", "深圳市海景建设有限公司"), ("班组", "钢筋班组")),
        5,
        42_000,
        3,
        "钢筋班组五人三个月工资只发了生活费。",
        (
            Step(5, "intake"),
            Step(5, "dispatch"),
            Step(4, "accept"),
            Step(4, "note", {"text": "已联系工人，核实考勤与实名制记录"}),
            Step(3, "start"),
            Step(
                2,
                "resolve",
                {
                    "outcome": "transferred_inspection",
                    "summary": "总包对分包结算有争议，移交区劳动监察大队立案",
                    "transfer_reference": "盐劳监〔2026〕第118号",
                },
            ),
            Step(1, "confirm", {"score": 4}),
        ),
    ),
    Story(
        "donggang-warehouse",
        "王志强",
        "陈国庆",
        "13912340003",
        "东港码头仓库改造工程",
        (("分包", "深圳市东港劳务有限公司"),),
        6,
        60_000,
        2,
        "仓库改造六名工人两个月工资被拖欠，劳务公司老板失联。",
        (
            Step(6, "intake"),
            Step(5, "dispatch"),
            Step(5, "accept"),
            Step(4, "note", {"text": "约谈劳务公司负责人，承诺分两次支付"}),
            Step(4, "start"),
            Step(
                2,
                "resolve",
                {"outcome": "paid_in_part", "summary": "劳务公司先行支付一半", "share": 2},
            ),
            Step(1, "dispute", {"reason": "只收到一半工资，剩下的说年后再给", "score": 2}),
        ),
    ),
    Story(
        "meishawan-hotel",
        "赵永刚",
        "杨建华",
        "13912340004",
        "梅沙湾酒店装修项目",
        (("总包", "深圳市梅沙装饰工程有限公司"),),
        8,
        96_000,
        2,
        "酒店装修八名油漆工两个月工资未结，工程已完工。",
        (
            Step(5, "intake", {"channel": Channel.PHONE}),
            Step(5, "dispatch"),
            Step(4, "accept"),
            Step(4, "note", {"text": "已与总包财务核对，同意分期支付", "contacted_worker": True}),
            Step(3, "start"),
            Step(2, "resolve", {"outcome": "instalment_plan", "summary": "总包承诺分两期付清"}),
        ),
    ),
    Story(
        "yantian-port-logistics",
        "刘德明",
        "马永亮",
        "13912340005",
        "盐田港物流园三期工地",
        (("总包", "深圳市港城建设集团有限公司"), ("分包", "深圳市鹏达劳务有限公司")),
        35,
        520_000,
        4,
        "三十多名工人四个月没拿到工资，大家扬言要去堵路讨薪。",
        # Nobody triages it: the scheduler dispatches it; the team accepts the next day.
        (Step(4, "intake"), Step(2, "accept")),
    ),
    Story(
        "zhongying-shops",
        "李卫东",
        "何志军",
        "13912340006",
        "中英街商铺翻新工程",
        (("分包", "深圳市沙头角装修队"),),
        4,
        28_000,
        2,
        "装修队四人两个月工资未发，老板说等业主结款。",
        # Dispatched, and nobody accepts it: the accept clock climbs the escalation ladder.
        (Step(6, "intake"), Step(6, "dispatch", {"team": "沙头角处置工作小组2"})),
    ),
    Story(
        "haishan-apartment",
        "陈海燕",
        "孙丽",
        "13912340007",
        "海山花园小区",
        (),
        1,
        0,
        0,
        "我家装修质量有问题，装修公司不肯返工。",
        (
            Step(3, "intake"),
            Step(
                3,
                "reject",
                {"reason": "属消费纠纷，不是欠薪", "referral": "区市场监督管理局（12315）"},
            ),
        ),
    ),
    Story(
        "yantian-school",
        "黄秀兰",
        "周大海",
        "13912340008",
        "盐田区外国语学校扩建工程",
        (("班组", "水电班组"),),
        2,
        9_600,
        1,
        "水电班组两人一个月工资未发。",
        (Step(3, "intake"), Step(2, "withdraw", {"reason": "老板已当面结清工资"})),
    ),
    Story(
        "meisha-villa",
        "周丽萍",
        "郑春生",
        "13912340009",
        "盐田港后方陆域道路工程",
        (("总包", "深圳市路通市政工程有限公司"),),
        3,
        21_000,
        2,
        "道路工程三名工人两个月工资未发。",
        (
            Step(2, "intake"),
            Step(2, "dispatch"),
            Step(1, "return", {"reason": "工地位于盐田街道辖区，请改派盐田街道处置小组"}),
        ),
    ),
    Story(
        "yantian-hospital",
        "刘德明",
        "吴建平",
        "13912340010",
        "盐田人民医院住院楼工地",
        (("总包", "深圳市康建建设有限公司"),),
        6,
        54_000,
        2,
        "外墙班组六人两个月工资未发。",
        (Step(1, "intake"), Step(1, "dispatch"), Step(0, "accept")),
    ),
    Story(
        "shatoujiao-school",
        "李卫东",
        "林志勇",
        "13912340011",
        "沙头角中学运动场改造",
        (("分包", "深圳市绿茵体育设施有限公司"),),
        4,
        32_000,
        2,
        "运动场改造四名工人两个月工资未发。",
        (
            Step(2, "intake"),
            Step(2, "dispatch"),
            Step(1, "accept"),
            Step(
                1, "note", {"text": "已到工地与项目经理见面，核对工资表", "contacted_worker": True}
            ),
            Step(1, "start"),
        ),
    ),
    Story(
        "haishan-metro",
        "王志强",
        "黄伟",
        "13912340012",
        "地铁8号线海山站附属工程",
        (("分包", "深圳市隧通劳务有限公司"),),
        2,
        15_000,
        1,
        "两人一个月工资未发。",
        (Step(0, "intake"),),
    ),
    Story(
        "meishawan-hotel-2",
        "赵永刚",
        "杨小军",
        "13912340013",
        "梅沙湾酒店装修项目",
        (("总包", "深圳市梅沙装饰工程有限公司"),),
        3,
        27_000,
        2,
        "同一酒店装修项目的木工也有三人没拿到工资。",
        (Step(0, "intake", {"channel": Channel.MINIPROGRAM}),),
    ),
)

# A channel import of this week (渠道, 工地, 单位, 街道, 人数, 金额（元）, 摘要): two records about
# a site our own foremen have cases from, so the early-warning scan raises an alert.
IMPORT_ROWS = (
    (
        "信访",
        "海景花园二期工地",
        "深圳市海景建设有限公司",
        "沙头角",
        12,
        150_000,
        "反映总包拖欠多个班组工资",
    ),
    (
        "12345/民意速办",
        "海景花园二期工地",
        "深圳市海景建设有限公司",
        "沙头角",
        3,
        30_000,
        "来电反映木工班组欠薪",
    ),
    (
        "人民网",
        "盐田港物流园三期工地",
        "深圳市鹏达劳务有限公司",
        "盐田",
        20,
        300_000,
        "留言反映劳务公司拖欠四个月工资",
    ),
)

DEMO_TARGETS = {
    "on_time_rate": 95.0,
    "closure_rate": 90.0,
    "satisfaction": 4.5,
    "money_recovered": 5_000_000.0,
    "workers_helped": 800.0,
}


@dataclass
class WeekSummary:
    """What the demo week left behind, counted for the person who ran it."""

    cases: dict[str, str] = field(default_factory=dict)
    letters: list[str] = field(default_factory=list)
    escalated: int = 0
    auto_dispatched: int = 0
    tasks: list[int] = field(default_factory=list)


class _Week:
    """The cast of the demo week (actors looked up by name) and the cases it has opened."""

    def __init__(self) -> None:
        self.numbers: dict[str, str] = {}
        self.access: dict[str, Actor] = {}
        foremen = db.session.scalars(sa.select(Foreman)).all()
        self.foremen = {f.name: f for f in foremen}
        self.teams = {t.name: t for t in db.session.scalars(sa.select(DisposalTeam))}
        staff = db.session.scalars(sa.select(StaffAccount)).all()
        self.staff = {account.username: actor_for_staff(account) for account in staff}

    def foreman(self, name: str) -> Actor:
        foreman = self.foremen[name]
        return Actor(Role.FOREMAN, foreman.id, street_id=foreman.street_id)

    def member_of(self, case: Case) -> Actor:
        member = db.session.scalars(
            sa.select(TeamMember).where(TeamMember.team_id == case.team_id).order_by(TeamMember.id)
        ).first()
        return Actor(Role.TEAM_MEMBER, member.id, team_id=case.team_id, street_id=case.street_id)

    def case(self, story: Story) -> Case:
        return db.session.scalars(
            sa.select(Case).where(Case.number == self.numbers[story.key])
        ).one()


def _complaint(story: Story, today: date) -> ComplaintIn:
    start = today - timedelta(days=30 * story.months) if story.months else None
    return ComplaintIn(
        name=story.worker,
        mobile=story.mobile,
        site_name=story.site,
        employers=[{"role": role, "name": name} for role, name in story.employers],
        workers_affected=story.workers,
        amount_owed_fen=story.amount_yuan * 100,
        period_start=start,
        period_end=today - timedelta(days=7) if start else None,
        description=story.description,
        qr_token=_demo_token(story.foreman),
    )


def _proof_png(text_seed: str) -> bytes:
    """A small image standing in for a photo of a bank transfer slip."""
    image = Image.new("RGB", (360, 220), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 350, 210), outline=(30, 90, 160), width=3)
    digest = hashlib.sha256(text_seed.encode()).digest()
    for row in range(6):
        width = 120 + digest[row] % 200
        draw.rectangle((30, 40 + row * 26, 30 + width, 52 + row * 26), fill=(200, 210, 225))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _sign_in_worker(story: Story) -> Actor:
    """A mini-program worker (a complainant with a WeChat openid) who accepts progress messages."""
    with unit_of_work():
        complainant = Complainant(openid=f"demo-worker-{story.key}")
        db.session.add(complainant)
        db.session.flush()
    actor = Actor(Role.COMPLAINANT, complainant.id)
    record_subscriptions(actor, accepted=["case_progress"], rejected=[])
    return actor


def _bind_wechat() -> None:
    """Every foreman and team member binds WeChat with a one-time code, as they would once
    appointed, so the demo's notifications reach the sandbox instead of piling up unsent."""
    people = [
        ("foreman", f.id) for f in db.session.scalars(sa.select(Foreman).order_by(Foreman.id))
    ]
    people += [
        ("member", m.id) for m in db.session.scalars(sa.select(TeamMember).order_by(TeamMember.id))
    ]
    for kind, person_id in people:
        if kind == "foreman":
            issued = issue_binding_code(foreman_id=person_id)
        else:
            issued = issue_binding_code(team_member_id=person_id)
        sign_in_openid(f"demo-{kind}-{person_id}", issued.code)


def _play(week: _Week, story: Story, step: Step, today: date) -> None:
    """Run one step of a story through the service a person would cause."""
    args = step.args
    if step.action == "intake":
        channel = args.get("channel", story.channel)
        actor = None
        if channel == Channel.PHONE:
            actor = week.foreman(story.foreman)
        elif channel == Channel.MINIPROGRAM:
            actor = _sign_in_worker(story)
        result = submit_complaint(
            _complaint(story, today), channel=channel, actor=actor, idempotency_key=None
        )
        week.numbers[story.key] = result.number
        return
    number = week.numbers[story.key]
    case = week.case(story)
    foreman = week.foreman(story.foreman)
    worker = Actor(Role.COMPLAINANT, case.complainant_id)
    match step.action:
        case "dispatch":
            team = week.teams.get(args.get("team", "")) or suggested_team_for(foreman, number)
            dispatch_case(foreman, number, team.id)
        case "accept":
            accept_case(week.member_of(case), number)
        case "note":
            add_note(
                week.member_of(case),
                number,
                args["text"],
                worker_visible=True,
                contacted_worker=args.get("contacted_worker", True),
            )
        case "start":
            start_work(week.member_of(case), number)
        case "resolve":
            _resolve(week, story, case, args, today)
        case "confirm":
            confirm_resolution(worker, number, score=args.get("score"), comment=args.get("comment"))
        case "dispute":
            dispute_resolution(worker, number, args["reason"], score=args.get("score"))
        case "reject":
            reject_case(foreman, number, args["reason"], args.get("referral"))
        case "withdraw":
            withdraw_complaint(worker, number, args.get("reason"))
        case "return":
            return_case(week.member_of(case), number, args["reason"])
        case _:
            raise ValueError(f"unknown demo step {step.action}")


def _resolve(week: _Week, story: Story, case: Case, args: dict[str, Any], today: date) -> None:
    member = week.member_of(case)
    number = case.number
    outcome = args["outcome"]
    total = story.amount_yuan * 100
    body: dict[str, Any] = {"outcome": outcome, "summary": args.get("summary", "")}
    if outcome in {"paid_in_full", "paid_in_part"}:
        proof = store_evidence(case.id, member, _proof_png(number))
        paid = total // args.get("share", 1)
        each = paid // story.workers
        body["proof_evidence_ids"] = [proof.id]
        body["payments"] = [
            {"worker": story.worker if i == 0 else f"工友{i + 1}", "amount_fen": each}
            for i in range(story.workers)
        ]
    if outcome == "instalment_plan":
        body["instalments"] = [
            {"due_date": (today + timedelta(days=14)).isoformat(), "amount_fen": total // 2},
            {
                "due_date": (today + timedelta(days=45)).isoformat(),
                "amount_fen": total - total // 2,
            },
        ]
    if "transfer_reference" in args:
        body["transfer_reference"] = args["transfer_reference"]
    resolve_case(member, number, ResolutionIn.model_validate(body))


# Every timestamp column the story writes on these tables moves back with the story's clock.
_STORY_MODELS = (Case, CaseEvent, Evidence, DisputeGroup, Complainant)


def _move_into_past(case_ids: Iterable[int], delta: timedelta) -> None:
    """Move what the story wrote about these cases ``delta`` into the past (one commit)."""
    ids = list(case_ids)
    if not ids:
        return
    with unit_of_work():
        cases = db.session.scalars(sa.select(Case).where(Case.id.in_(ids))).all()
        related = {
            Case: cases,
            CaseEvent: db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id.in_(ids))),
            Evidence: db.session.scalars(sa.select(Evidence).where(Evidence.case_id.in_(ids))),
            DisputeGroup: db.session.scalars(
                sa.select(DisputeGroup).where(
                    DisputeGroup.id.in_({c.group_id for c in cases if c.group_id})
                )
            ),
            Complainant: db.session.scalars(
                sa.select(Complainant).where(Complainant.id.in_({c.complainant_id for c in cases}))
            ),
        }
        for model in _STORY_MODELS:
            columns = [
                column.key
                for column in sa.inspect(model).columns
                if isinstance(column.type, UTCDateTime)
            ]
            for row in list(related[model]):
                for name in columns:
                    value = getattr(row, name)
                    if value is not None:
                        setattr(row, name, value - delta)
                if model is CaseEvent and isinstance(row.data, dict) and "due_at" in row.data:
                    # A breach event names the deadline it saw: it moves with the case's clocks.
                    due = datetime.fromisoformat(row.data["due_at"]) - delta
                    row.data = {**row.data, "due_at": due.isoformat()}


def play_demo_week() -> WeekSummary:
    """Play the demo week into a database without cases; refused once any case exists."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Case)):
        raise DemoAlreadyPlayed()
    seed_demo()
    _bind_wechat()
    week = _Week()
    summary = WeekSummary()
    for day in range(WEEK_DAYS - 1, -1, -1):
        today = district_today(db_now())
        for story in STORIES:
            for step in story.steps:
                if step.day == day:
                    _play(week, story, step, today)
        # The scheduler's periodic jobs, as they would have run at the end of that day.
        summary.auto_dispatched += len(auto_dispatch_overdue_critical())
        summary.escalated += len(escalate_breaches())
        db.session.rollback()
        if day:
            ids = db.session.scalars(
                sa.select(Case.id).where(Case.number.in_(list(week.numbers.values())))
            ).all()
            _move_into_past(ids, timedelta(days=1))
    _supervise(week, summary)
    db.session.expire_all()
    for number in week.numbers.values():
        summary.cases[number] = db.session.scalars(
            sa.select(Case.status).where(Case.number == number)
        ).one()
    return summary


def _supervise(week: _Week, summary: WeekSummary) -> None:
    """Today's work at the bureau: targets, daily checks, letters, an import, weekly packs."""
    admin = week.staff["admin"]
    supervisor = week.staff["supervisor"]
    set_indicator_targets(admin, year=district_year(), values=dict(DEMO_TARGETS))
    by_key = {story.key: week.case(story) for story in STORIES}
    for key in ("haijing-carpenters", "yantian-hospital", "haishan-apartment"):
        check_case(supervisor, by_key[key].id, "已电话回访，情况属实")
    letters = [
        ("zhongying-shops", LetterKind.SUPERVISION),
        ("donggang-warehouse", LetterKind.ACCOUNTABILITY),
        ("shatoujiao-school", LetterKind.REMINDER),
    ]
    for key, kind in letters:
        letter = issue_letter(supervisor, by_key[key].id, kind)
        summary.letters.append(letter.number)
        if kind == LetterKind.REMINDER:
            street = week.staff["shatoujiao"]
            record_reply(street, letter.id, "已督促处置小组本周内办结，并向工人反馈进展。")
    today = district_today()
    rows = [
        "渠道,收到日期,工地名称,用工单位名称,统一社会信用代码,所属街道,涉及人数,欠薪金额（元）,反映内容摘要"
    ]
    for offset, (channel, site, employer, street, workers, yuan, text) in enumerate(IMPORT_ROWS):
        received = today - timedelta(days=1 + offset)
        rows.append(
            f"{channel},{received.isoformat()},{site},{employer},,{street},{workers},{yuan},{text}"
        )
    upload = ("\n".join(rows) + "\n").encode("utf-8")
    tasks = [start_task(admin, "import", upload=upload, upload_filename="本周其他渠道线索.csv")]
    monday = today - timedelta(days=today.weekday())
    for week_start in (monday - timedelta(days=7), monday):
        tasks.append(start_task(admin, "weekly_packs", {"week_start": week_start.isoformat()}))
    for task in tasks:
        # What the maintenance worker does with the task's outbox row, done here at once.
        run_background_task(task.id)
        summary.tasks.append(task.id)
