"""What the fault scenarios do to the stack: open and dispatch cases through the services (as a
foreman's dispatch does), and submit complaints over HTTP as the mini-program does."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask

from tests.fault.history import Submission

COMPLAINT = {
    "name": "王小明",
    "mobile": "13800138000",
    "site_name": "海景花园二期工地",
    "site_address": "深圳市盐田区海山街道海景路 1 号",
    "employers": [{"role": "班组", "name": "李师傅木工班组"}],
    "workers_affected": 3,
    "amount_owed_fen": 1_800_000,
    "description": "木工班组三人两个月工资未发",
}


@dataclass(frozen=True)
class Assignment:
    """A foreman and a team of the same street: who dispatches a case, and to whom."""

    foreman_id: int
    team_id: int
    street_id: int


def assignments(app: Flask) -> list[Assignment]:
    """Every demo foreman paired with an active team of the foreman's street."""
    from wagedispute.models import DisposalTeam, Foreman
    from wagedispute.platform.database import db

    with app.app_context():
        teams = db.session.scalars(sa.select(DisposalTeam).where(DisposalTeam.active)).all()
        by_street = {t.street_id: t.id for t in sorted(teams, key=lambda t: t.id)}
        foremen = db.session.scalars(sa.select(Foreman).order_by(Foreman.id)).all()
        pairs = [Assignment(f.id, by_street[f.street_id], f.street_id) for f in foremen]
        db.session.remove()
    return pairs


def open_cases(app: Flask, count: int) -> list[tuple[int, Assignment]]:
    """Open ``count`` cases as phone intakes, one commit each; (case id, its assignment)."""
    from wagedispute.access.actors import Actor
    from wagedispute.cases.lifecycle import open_case
    from wagedispute.cases.numbering import next_case_number
    from wagedispute.models import Case, Channel, Role
    from wagedispute.platform.database import db, utcnow

    pairs = assignments(app)
    opened: list[tuple[int, Assignment]] = []
    with app.app_context():
        for index in range(count):
            pair = pairs[index % len(pairs)]
            case = Case(
                channel=Channel.PHONE,
                foreman_id=pair.foreman_id,
                street_id=pair.street_id,
                site_name="海景花园二期工地",
                workers_affected=3,
                amount_owed_fen=1_200_000,
                description="拖欠三个月工资",
            )
            case.number = next_case_number(db.session, "YT", utcnow())
            open_case(case, Actor(Role.FOREMAN, pair.foreman_id))
            db.session.commit()
            opened.append((case.id, pair))
        db.session.remove()
    return opened


def dispatch(app: Flask, case_id: int, pair: Assignment) -> None:
    """The foreman's dispatch: one ``transition_case`` commit (outbox row included)."""
    from wagedispute.access.actors import Actor
    from wagedispute.cases.lifecycle import StepRequest, transition_case
    from wagedispute.models import CaseStatus, Role, Urgency
    from wagedispute.platform.database import db

    with app.app_context():
        try:
            transition_case(
                case_id,
                CaseStatus.DISPATCHED,
                Actor(Role.FOREMAN, pair.foreman_id),
                StepRequest(team_id=pair.team_id, urgency=Urgency.URGENT),
            )
        finally:
            db.session.remove()


def qr_tokens(app: Flask) -> list[str]:
    """The demo foremen's QR tokens (a complaint names its foreman through one)."""
    from wagedispute.models import QrCode
    from wagedispute.platform.database import db

    with app.app_context():
        tokens = list(db.session.scalars(sa.select(QrCode.token).order_by(QrCode.id)))
        db.session.remove()
    return tokens


def sign_in(base_url: str, openid: str) -> str:
    """A complainant's bearer token from the sandbox's ``wx.login`` code."""
    response = requests.post(
        base_url + "/api/v1/session", json={"code": f"sandbox:{openid}"}, timeout=15
    )
    response.raise_for_status()
    return response.json()["token"]


def submit(
    base_url: str, token: str, key: str, body: dict[str, Any], session: requests.Session
) -> Submission:
    """POST one complaint; what the client saw, with its latency (errors recorded, not raised)."""
    started = time.monotonic()
    try:
        response = session.post(
            base_url + "/api/v1/complaints",
            json=body,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            timeout=15,
        )
    except requests.RequestException as exc:
        return Submission(key, None, None, None, time.monotonic() - started, type(exc).__name__)
    latency = time.monotonic() - started
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    number = payload.get("number") if response.ok else None
    error = payload.get("error") if isinstance(payload, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return Submission(key, response.status_code, number, code, latency, None)


class IntakeClient(threading.Thread):
    """A mini-program user submitting complaints one after another, each with its own key,
    retrying a key until it is acknowledged (2xx), as the mini-program's retry does."""

    def __init__(
        self,
        base_url: str,
        token: str,
        qr_token: str,
        history: list[Submission],
        stop: threading.Event,
        max_complaints: int,
        deadline: float,
    ) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.token = token
        self.qr_token = qr_token
        self.history = history
        self.stop_event = stop
        self.max_complaints = max_complaints
        self.deadline = deadline

    def run(self) -> None:
        with requests.Session() as session:
            for _ in range(self.max_complaints):
                key = f"fault-{uuid.uuid4().hex}"
                body = {**COMPLAINT, "qr_token": self.qr_token}
                while time.monotonic() < self.deadline:
                    seen = submit(self.base_url, self.token, key, body, session)
                    self.history.append(seen)
                    if seen.status is not None and 200 <= seen.status < 300:
                        break
                    time.sleep(0.2)
                if self.stop_event.is_set() or time.monotonic() >= self.deadline:
                    return
