"""The people and places of the scheme: streets, foremen, teams, staff, complainants, QR codes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wagedispute.models.enums import QrStatus, Role, StaffRole
from wagedispute.platform.database import Base, JSONType, UTCDateTime, enum_type, utcnow
from wagedispute.platform.pii import mask_mobile


class Street(Base):
    """A 街道 of the district; disposal teams and street staff belong to one."""

    __tablename__ = "streets"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)


class Foreman(Base):
    """A district-appointed dispute contact (工长) whose QR code workers scan."""

    __tablename__ = "foremen"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    # A public contact: printed on the site's notice board.
    phone: Mapped[str] = mapped_column(sa.String(32))
    street_id: Mapped[int] = mapped_column(sa.ForeignKey("streets.id"), index=True)
    openid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on deactivation, re-binding and sign-out: every bearer token issued before dies.
    token_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    street: Mapped[Street] = relationship()

    @property
    def masked_phone(self) -> str:
        """The phone with its middle digits hidden, for lists."""
        return mask_mobile(self.phone)


class DisposalTeam(Base):
    """A street-level disposal team (处置工作小组) that resolves dispatched cases."""

    __tablename__ = "disposal_teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    street_id: Mapped[int] = mapped_column(sa.ForeignKey("streets.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)

    street: Mapped[Street] = relationship()
    members: Mapped[list[TeamMember]] = relationship(back_populates="team")


class TeamMember(Base):
    """A person on a disposal team, notified through the mini-program."""

    __tablename__ = "team_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("disposal_teams.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    phone: Mapped[str] = mapped_column(sa.String(32))
    openid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on deactivation, re-binding and sign-out: every bearer token issued before dies.
    token_version: Mapped[int] = mapped_column(default=1)

    team: Mapped[DisposalTeam] = relationship(back_populates="members")


class StaffAccount(Base):
    """A bureau staff member who signs in to the console."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(64))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[StaffRole] = mapped_column(enum_type(StaffRole))
    # Street staff see one street; district roles leave this empty.
    street_id: Mapped[int | None] = mapped_column(sa.ForeignKey("streets.id"))
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on sign-out, password change and deactivation: every console session issued before
    # dies (sessions carry the version they were issued with).
    session_version: Mapped[int] = mapped_column(default=1)
    # Set for demo passwords: production mode insists on a new password at the next sign-in.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Complainant(Base):
    """A worker who reports arrears; personal data is stored encrypted with keyed hashes."""

    __tablename__ = "complainants"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Mini-program users have an openid; web-form and phone complainants do not.
    openid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    name_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    mobile_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    mobile_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    mobile_masked: Mapped[str | None] = mapped_column(sa.String(32))
    id_number_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    id_number_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    id_number_masked: Mapped[str | None] = mapped_column(sa.String(32))
    # Bumped on deactivation, re-binding and sign-out: every bearer token issued before dies.
    token_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class QrCode(Base):
    """A foreman's signed, rotatable QR token, optionally bound to one site."""

    __tablename__ = "qr_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # At most 32 characters of WeChat's scene alphabet: the same token is the mini-program scene.
    token: Mapped[str] = mapped_column(sa.String(32), unique=True)
    foreman_id: Mapped[int] = mapped_column(sa.ForeignKey("foremen.id"), index=True)
    site_name: Mapped[str | None] = mapped_column(sa.String(128))
    site_address: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[QrStatus] = mapped_column(enum_type(QrStatus), default=QrStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The mini-program code image, generated once: WeChat rate-limits getwxacodeunlimit.
    wxacode_png: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # The site's 维权信息告示牌 facts, edited in the console: parties, 劳资专管员, pay day.
    notice: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    foreman: Mapped[Foreman] = relationship()


class BindingCode(Base):
    """A one-time code staff issue so a foreman or team member can bind a WeChat account."""

    __tablename__ = "binding_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[Role] = mapped_column(enum_type(Role))
    foreman_id: Mapped[int | None] = mapped_column(sa.ForeignKey("foremen.id"))
    team_member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("team_members.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
