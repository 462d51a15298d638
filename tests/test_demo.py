"""The demo district seeds once; the demo week fills every state and every console page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from wagedispute.dev.demo import DemoAlreadyPlayed, demo_sign_ins, play_demo_week, seed_demo
from wagedispute.models import (
    Alert,
    BackgroundTask,
    Case,
    CaseEvent,
    CaseStatus,
    ChannelRecord,
    DisposalTeam,
    Foreman,
    Letter,
    QrCode,
    StaffAccount,
    Street,
    TeamMember,
    WeeklyPack,
)
from wagedispute.platform.database import db
from wagedispute.platform.passwords import verify_password
from wagedispute.platform.timekeeping import db_now

COUNTED = (Street, Foreman, DisposalTeam, TeamMember, StaffAccount, QrCode)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in COUNTED
    }


def count(model: type, *where: sa.ColumnElement[bool]) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


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
    assert summary.sign_ins == demo_sign_ins()
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


def test_demo_week_puts_cases_in_every_status_over_seven_days(app):
    summary = play_demo_week()
    statuses = set(db.session.scalars(sa.select(Case.status)))
    assert statuses == set(CaseStatus)
    assert set(summary.cases.values()) == set(CaseStatus)
    now = db_now()
    oldest = db.session.scalar(sa.select(sa.func.min(Case.created_at)))
    assert timedelta(days=5) < now - oldest < timedelta(days=7)
    assert db.session.scalar(sa.select(sa.func.max(CaseEvent.created_at))) <= now
    # The scheduler's part: a critical lead left untriaged was dispatched by the system, and a
    # dispatch nobody accepted for days climbed the escalation ladder to the bureau.
    assert summary.auto_dispatched == 1
    assert count(CaseEvent, CaseEvent.kind == "breach") >= 3
    unaccepted = db.session.scalars(
        sa.select(Case).where(Case.escalation_level >= 3, Case.status == CaseStatus.DISPATCHED)
    ).one()
    breaches = db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == unaccepted.id, CaseEvent.kind == "breach")
    ).all()
    assert [e.data["level"] for e in breaches] == [1, 2, 3]
    # Each breach names the deadline the case carries, moved into the past with it.
    assert {datetime.fromisoformat(e.data["due_at"]) for e in breaches} == {
        unaccepted.accept_due_at
    }
    assert all(e.created_at > unaccepted.accept_due_at for e in breaches)
    # A paid resolution carries its proof, and the dispute reopened and flagged the case.
    closed_paid = db.session.scalars(
        sa.select(Case).where(Case.status == CaseStatus.CLOSED, Case.resolved_at.is_not(None))
    ).all()
    assert any(case.outcome_data.get("proof_evidence_ids") for case in closed_paid)
    reopened = db.session.scalars(sa.select(Case).where(Case.status == CaseStatus.REOPENED)).one()
    assert reopened.flagged_to_bureau
    # The bureau's part: letters of each rank, an import that raised an alert, weekly packs.
    assert len(summary.letters) == 3 and count(Letter) == 3
    assert count(ChannelRecord) == 3 and count(Alert) >= 1
    assert count(WeeklyPack) >= 4
    assert {t.status.value for t in db.session.scalars(sa.select(BackgroundTask))} == {"done"}
    # Foremen and team members bound WeChat with their one-time codes: messages can reach them.
    assert count(Foreman, Foreman.openid.is_(None)) == 0
    assert count(TeamMember, TeamMember.openid.is_(None)) == 0


def test_demo_week_is_played_once(app):
    play_demo_week()
    cases = count(Case)
    with pytest.raises(DemoAlreadyPlayed):
        play_demo_week()
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["demo-week"])
    assert refused.exit_code == 1 and "已有案件" in refused.output
    skipped = runner.invoke(args=["demo-week", "--if-empty"])
    assert skipped.exit_code == 0, skipped.output
    assert count(Case) == cases


def test_demo_week_command_reports_what_it_played(app):
    result = app.test_cli_runner().invoke(args=["demo-week"])
    assert result.exit_code == 0, result.output
    assert f"演示周已播放：{count(Case)} 件案件" in result.output
    assert "已重新打开 1 件" in result.output


def test_every_console_page_shows_the_demo_week(app):
    play_demo_week()
    client = app.test_client()
    page = client.get("/console/sign-in").get_data(as_text=True)
    signed_in = client.post(
        "/console/sign-in",
        data={
            "username": "admin",
            "password": "demo-admin-2026",
            "csrf_token": CSRF.search(page).group(1),
        },
    )
    assert signed_in.status_code == 302
    reopened = db.session.scalars(sa.select(Case).where(Case.status == CaseStatus.REOPENED)).one()
    letter = db.session.scalars(sa.select(Letter).order_by(Letter.id)).first()
    pack = db.session.scalars(sa.select(WeeklyPack).order_by(WeeklyPack.id)).first()
    task = db.session.scalars(sa.select(BackgroundTask).order_by(BackgroundTask.id)).first()
    # Each page with something the demo week put there.
    expected = {
        "/console/": ["追回欠薪", "沙头角街道", "梅沙街道"],
        "/console/cases": [reopened.number, "梅沙湾酒店装修项目", "不予受理", "已撤回"],
        f"/console/cases/{reopened.id}": ["东港码头仓库改造工程", "只收到一半工资"],
        "/console/daily": ["盐田港物流园三期工地"],
        "/console/weekly": ["沙头角街道"],
        f"/console/weekly/{pack.id}": [pack.street.name],
        "/console/letters": [letter.number],
        f"/console/letters/{letter.id}": [letter.number, letter.addressee],
        "/console/warnings": ["海景花园二期工地", "信访"],
        f"/console/tasks/{task.id}": ["导入3条"],
        "/console/targets": ["95"],
        "/console/manage": ["张建国", "梅沙处置工作小组1"],
        "/console/exports": ["导出"],
    }
    for path, texts in expected.items():
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        for text in texts:
            assert text in body, f"{path} lacks {text}"
