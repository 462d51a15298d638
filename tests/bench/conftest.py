"""Benchmark fixtures: a gunicorn server on a fresh PostgreSQL database and the test Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH_SECRET = "bench-secret-key-not-for-production"


@dataclass
class IntakeServer:
    """A running gunicorn serving the app with the benchmark-only endpoints."""

    base_url: str
    database_url: str
    redis_url: str
    config: dict[str, object]
    tokens: list[str] = field(default_factory=list)
    qr_token: str = ""


def verdict(target: str, figure: str, met: bool) -> None:
    """One line per target, the same shape in every benchmark: what was aimed at, what was
    measured, and whether it was met (timings are reported, never asserted)."""
    print(f"  VERDICT {'MET   ' if met else 'MISSED'} {target}: {figure}")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn_server(app_spec: str, env: dict[str, str], ready_path: str) -> Iterator[str]:
    """gunicorn (2 workers x 4 threads) on a free loopback port; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--threads",
            "4",
            "--worker-class",
            "gthread",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            app_spec,
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}{ready_path}", lambda: server.poll() is not None)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_for(url: str, server_exited: Callable[[], bool], timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if server_exited():
            raise RuntimeError("gunicorn exited before serving")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.2)


def prepare_intake_clients(config: dict[str, object], clients: int) -> tuple[list[str], str]:
    """Seed the demo district and one signed-in complainant per client thread."""
    import sqlalchemy as sa

    from handlers import create_web_app
    from wagedispute.access.actors import Actor
    from wagedispute.access.tokens import issue_token
    from wagedispute.dev.demo import seed_demo
    from wagedispute.models import Complainant, QrCode, Role
    from wagedispute.platform.database import db

    app = create_web_app(config)
    try:
        with app.app_context():
            seed_demo()
            tokens = []
            for index in range(clients):
                complainant = Complainant(openid=f"bench-openid-{index}")
                db.session.add(complainant)
                db.session.commit()
                tokens.append(issue_token(Actor(Role.COMPLAINANT, complainant.id)))
            qr_token = db.session.scalars(sa.select(QrCode.token).order_by(QrCode.id)).first()
    finally:
        with app.app_context():
            db.engine.dispose()
        app.extensions["wagedispute.redis"].close()
    return tokens, qr_token


@pytest.fixture
def intake_server(
    create_postgres_database: Callable[[], str], redis_url: str
) -> Iterator[IntakeServer]:
    """gunicorn (2 workers, 4 threads) on a fresh, migrated PostgreSQL database."""
    yield from serve_intake(create_postgres_database(), redis_url)


@pytest.fixture
def embedded_intake_server(tmp_path: Path, redis_url: str) -> Iterator[IntakeServer]:
    """``make run``'s database set-up (SQLite under instance/, no DATABASE_URL) behind gunicorn
    with the launcher's 2 workers x 4 threads."""
    yield from serve_intake(f"sqlite:///{tmp_path / 'wagedispute.sqlite3'}", redis_url)


def serve_intake(database_url: str, redis_url: str) -> Iterator[IntakeServer]:
    """Migrate ``database_url``, seed it, and serve the app with the benchmark endpoints."""
    env = {
        **os.environ,
        "WAGEDISPUTE_DATABASE_URL": database_url,
        "WAGEDISPUTE_REDIS_URL": redis_url,
        "WAGEDISPUTE_SECRET_KEY": BENCH_SECRET,
        "WAGEDISPUTE_WECHAT_SANDBOX": "1",
        # The benchmark measures the work of an intake, not the limiter refusing it.
        "WAGEDISPUTE_RATE_LIMIT_PER_MINUTE": str(10**9),
    }
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    config = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": BENCH_SECRET,
        "WECHAT_SANDBOX": True,
        "RATE_LIMIT_PER_MINUTE": 10**9,
    }
    tokens, qr_token = prepare_intake_clients(config, clients=16)
    try:
        with gunicorn_server(
            "handlers:create_web_app({'BENCH_ENDPOINTS': True})", env, "/api/v1/openapi.json"
        ) as base_url:
            yield IntakeServer(
                base_url=base_url,
                database_url=database_url,
                redis_url=redis_url,
                config=config,
                tokens=tokens,
                qr_token=qr_token,
            )
    finally:
        import redis

        connection = redis.Redis.from_url(redis_url)
        connection.flushdb()
        connection.close()
