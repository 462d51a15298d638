"""The demo district: 盐田区's four streets, their foremen, teams and staff accounts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa

from wagedispute.models import (
    DisposalTeam,
    Foreman,
    QrCode,
    StaffAccount,
    StaffRole,
    Street,
    TeamMember,
)
from wagedispute.platform.database import db
from wagedispute.platform.passwords import hash_password

# (code, name, foremen [(name, phone)], teams)
DEMO_STREETS = [
    ("shatoujiao", "沙头角街道", [("张建国", "13800000101"), ("李卫东", "13800000102")], 2),
    ("haishan", "海山街道", [("王志强", "13800000201"), ("陈海燕", "13800000202")], 1),
    ("yantian", "盐田街道", [("刘德明", "13800000301"), ("黄秀兰", "13800000302")], 2),
    ("meisha", "梅沙街道", [("赵永刚", "13800000401"), ("周丽萍", "13800000402")], 1),
]

# Demo sign-ins are printed by seed-demo; they exist only in demo data.
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


@dataclass(frozen=True)
class DemoSummary:
    """What seed_demo created this time and what the demo district holds."""

    created: int
    sign_ins: list[DemoSignIn]
    qr_tokens: list[tuple[str, str]]


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

    def ensure(model: type, lookup: dict, **values: object) -> object:
        nonlocal created
        row = db.session.scalars(sa.select(model).filter_by(**lookup)).one_or_none()
        if row is None:
            row = model(**lookup, **values)
            db.session.add(row)
            db.session.flush()
            created += 1
        return row

    streets: dict[str, Street] = {}
    qr_tokens: list[tuple[str, str]] = []
    for code, name, foremen, team_count in DEMO_STREETS:
        street = ensure(Street, {"code": code}, name=name)
        streets[code] = street
        for foreman_name, phone in foremen:
            foreman = ensure(Foreman, {"name": foreman_name}, phone=phone, street_id=street.id)
            token = _demo_token(foreman_name)
            ensure(QrCode, {"token": token}, foreman_id=foreman.id)
            qr_tokens.append((foreman_name, token))
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
    sign_ins = []
    for username, display, role, street_code, password in DEMO_STAFF:
        existing = db.session.scalars(
            sa.select(StaffAccount).filter_by(username=username)
        ).one_or_none()
        if existing is None:
            db.session.add(
                StaffAccount(
                    username=username,
                    display_name=display,
                    role=role,
                    street_id=streets[street_code].id if street_code else None,
                    password_hash=_demo_password_hash(password),
                )
            )
            created += 1
        sign_ins.append(DemoSignIn(username, password, role))
    db.session.commit()
    return DemoSummary(created=created, sign_ins=sign_ins, qr_tokens=qr_tokens)
