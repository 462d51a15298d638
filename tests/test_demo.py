"""The demo district seeds once and a second run changes nothing."""

from __future__ import annotations

import sqlalchemy as sa

from wagedispute.dev.demo import seed_demo
from wagedispute.models import DisposalTeam, Foreman, QrCode, StaffAccount, Street, TeamMember
from wagedispute.platform.database import db
from wagedispute.platform.passwords import verify_password

COUNTED = (Street, Foreman, DisposalTeam, TeamMember, StaffAccount, QrCode)


def counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in COUNTED
    }


def test_seed_demo_builds_yantian_and_is_idempotent(app):
    first = seed_demo()
    after_first = counts()
    names = set(db.session.scalars(sa.select(Street.name)))
    assert names == {"沙头角街道", "海山街道", "盐田街道", "梅沙街道"}
    assert after_first["Foreman"] == 8
    assert 4 <= after_first["DisposalTeam"] <= 8
    assert first.created > 0
    second = seed_demo()
    assert second.created == 0
    assert counts() == after_first


def test_demo_sign_ins_work(app):
    summary = seed_demo()
    for sign_in in summary.sign_ins:
        account = db.session.scalars(
            sa.select(StaffAccount).filter_by(username=sign_in.username)
        ).one()
        assert verify_password(account.password_hash, sign_in.password)
        assert not verify_password(account.password_hash, sign_in.password + "x")


def test_seed_demo_command_prints_sign_ins_and_qr_links(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "admin / demo-admin-2026" in result.output
    assert "https://wage.example.test/q/demo" in result.output
