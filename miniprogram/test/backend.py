"""The real backend for the mini-program's journey tests.

Creates a fresh PostgreSQL database, runs ``flask db upgrade`` and ``flask seed-demo`` on it, and
serves ``handlers.create_web_app`` (WeChat sandbox: no credentials) on a free loopback port.
Prints one JSON line: the URL, the demo QR tokens, a revoked token, and one-time binding codes
for every demo foreman and team member. Stops on SIGTERM, SIGINT or when stdin closes, then
drops the database and empties its Redis database.

    .venv/bin/python miniprogram/test/backend.py

``WAGEDISPUTE_TEST_DATABASE_URL`` names the PostgreSQL server (default
``postgresql://127.0.0.1:5432/test``); ``WAGEDISPUTE_MINIPROGRAM_TEST_REDIS_URL`` the Redis
database (default ``redis://127.0.0.1:6379/9``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import uuid
from typing import Any

import psycopg
import sqlalchemy as sa
from werkzeug.serving import make_server

SERVER_URL = os.environ.get("WAGEDISPUTE_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WAGEDISPUTE_MINIPROGRAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_database() -> tuple[str, str]:
    """A fresh, empty database on the test server: (name, SQLAlchemy URL)."""
    name = f"wd_miniprogram_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin_url = SERVER_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name, sa.make_url(SERVER_URL).set(database=name).render_as_string(False)


def drop_database(name: str) -> None:
    admin_url = SERVER_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_cli(app: Any, *args: str) -> str:
    """Run a ``flask`` command of the app and fail loudly if it fails."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=list(args))
    if result.exit_code != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed: {result.output}") from result.exception
    return result.output


def fixtures(app: Any) -> dict[str, Any]:
    """Demo tokens, one revoked code, and a binding code per foreman and team member."""
    from wagedispute.access.binding import issue_binding_code
    from wagedispute.intake.qrcodes import foreman_qr_codes, rotate_qr_code
    from wagedispute.models import DisposalTeam, Foreman, TeamMember
    from wagedispute.platform.database import db

    with app.app_context():
        foremen = db.session.scalars(sa.select(Foreman).order_by(Foreman.id)).all()
        out: dict[str, Any] = {"foremen": [], "members": []}
        for foreman in foremen:
            out["foremen"].append(
                {
                    "id": foreman.id,
                    "name": foreman.name,
                    "street": foreman.street.name,
                    "street_id": foreman.street_id,
                    "qr_token": foreman_qr_codes(foreman.id)[0].token,
                    "binding_code": issue_binding_code(foreman_id=foreman.id).code,
                }
            )
        members = db.session.scalars(sa.select(TeamMember).order_by(TeamMember.id)).all()
        for member in members:
            team = db.session.get(DisposalTeam, member.team_id)
            out["members"].append(
                {
                    "id": member.id,
                    "name": member.name,
                    "team_id": team.id,
                    "team": team.name,
                    "street_id": team.street_id,
                    "binding_code": issue_binding_code(team_member_id=member.id).code,
                }
            )
        # The last foreman's poster is "old": its code was rotated, the new one is live.
        last = out["foremen"][-1]
        old = foreman_qr_codes(last["id"])[0]
        old_token = old.token
        new = rotate_qr_code(old.id)
        out["revoked"] = {"foreman": last["name"], "old": old_token, "new": new.token}
        last["qr_token"] = new.token
        return out


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    from handlers import create_web_app
    from wagedispute.platform.database import db

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    name, database_url = create_database()
    app = None
    try:
        app = create_web_app(
            {
                "DATABASE_URL": database_url,
                "REDIS_URL": REDIS_URL,
                "SECRET_KEY": "miniprogram-journeys-" + uuid.uuid4().hex,
                "PUBLIC_BASE_URL": url,
                "WECHAT_SANDBOX": True,
                # The journeys sign in many people from one address within a minute.
                "RATE_LIMIT_PER_MINUTE": 600,
            }
        )
        app.extensions["wagedispute.redis"].flushdb()
        run_cli(app, "db", "upgrade")
        run_cli(app, "seed-demo")
        people = fixtures(app)
        server = make_server("127.0.0.1", port, app, threaded=True)
        stop = threading.Event()

        def shut(*_: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, shut)
        signal.signal(signal.SIGINT, shut)

        def watch_stdin() -> None:
            # The test runner went away without a signal: stop with it.
            sys.stdin.read()
            stop.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        print(json.dumps({"url": url, "database": name, **people}, ensure_ascii=False), flush=True)
        stop.wait()
        server.shutdown()
        serving.join(timeout=10)
    finally:
        if app is not None:
            with app.app_context():
                db.engine.dispose()
            app.extensions["wagedispute.redis"].flushdb()
            app.extensions["wagedispute.redis"].close()
        drop_database(name)


if __name__ == "__main__":
    main()
