"""Fixtures: real PostgreSQL and Redis (skipped loudly when absent, failing under CI) and SQLite."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis as redis_lib
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from handlers import create_web_app
from wagedispute.platform.database import db, utcnow

IN_CI = bool(os.environ.get("CI"))
TEST_DATABASE_URL = os.environ.get(
    "WAGEDISPUTE_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test"
)
TEST_REDIS_URL = os.environ.get("WAGEDISPUTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def unavailable(reason: str) -> None:
    """Skip loudly where a service is missing; under CI a missing service is a failure."""
    if IN_CI:
        pytest.fail(f"CI is set and {reason}")
    pytest.skip(f"!!! NOT TESTED: {reason}")


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The PostgreSQL server tests may create databases on."""
    try:
        with psycopg.connect(_psycopg_url(TEST_DATABASE_URL), connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL at {TEST_DATABASE_URL} cannot be reached ({exc})")
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
def create_postgres_database(postgres_server_url: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases on the test server, all dropped at the end."""
    created: list[str] = []
    admin = psycopg.connect(_psycopg_url(postgres_server_url), autocommit=True)

    def create() -> str:
        name = f"wd_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return sa.make_url(postgres_server_url).set(database=name).render_as_string(False)

    yield create
    for name in created:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis database index the tests own (flushed after each test)."""
    try:
        redis_lib.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2).ping()
    except redis_lib.RedisError as exc:
        unavailable(f"Redis at {TEST_REDIS_URL} cannot be reached ({exc})")
    return TEST_REDIS_URL


@pytest.fixture(scope="session", params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Each database-backed test runs on PostgreSQL and on SQLite."""
    if request.param == "postgresql":
        return request.getfixturevalue("create_postgres_database")()
    return "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")


@pytest.fixture(scope="session")
def base_config(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory):
    """Settings every test app shares."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "WECHAT_SANDBOX": True,
        "SMS_SANDBOX": True,
        "PUBLIC_BASE_URL": "https://wage.example.test",
    }


@pytest.fixture(scope="session")
def migrated_app(base_config: dict[str, Any]) -> Iterator[Flask]:
    """The web app on a database whose schema came from ``flask db upgrade``."""
    app = create_web_app(base_config)
    with app.app_context():
        upgrade()
    yield app
    dispose(app)


def _empty_database() -> None:
    """Remove every row so the next test starts clean."""
    engine = db.engine
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(sa.text(f"DELETE FROM {name}"))


@pytest.fixture
def app(migrated_app: Flask) -> Iterator[Flask]:
    """The app inside an app context; the database and Redis are emptied afterwards."""
    with migrated_app.app_context():
        yield migrated_app
        db.session.rollback()
        db.session.remove()
        _empty_database()
        migrated_app.extensions["wagedispute.redis"].flushdb()


@pytest.fixture
def client(app: Flask):
    """An HTTP client for the app."""
    return app.test_client()


def dispose(app: Flask) -> None:
    """Close an app's pooled connections (an unclosed one warns, and warnings are errors)."""
    with app.app_context():
        db.engine.dispose()
    app.extensions["wagedispute.redis"].close()


@pytest.fixture
def make_app(base_config: dict[str, Any], app: Flask) -> Iterator[Callable[..., Flask]]:
    """Build another app on the same database with some settings changed."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        made.append(create_web_app({**base_config, **overrides}))
        return made[-1]

    yield make
    for other in made:
        dispose(other)


@pytest.fixture
def repo_root() -> Path:
    """The repository's top folder."""
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def district(app: Flask) -> dict[str, Any]:
    """The demo district, seeded: streets, foremen and teams by name."""
    from wagedispute.dev.demo import seed_demo
    from wagedispute.models import DisposalTeam, Foreman, Street

    seed_demo()
    return {
        "streets": {s.code: s for s in db.session.scalars(sa.select(Street))},
        "foremen": list(db.session.scalars(sa.select(Foreman).order_by(Foreman.id))),
        "teams": list(db.session.scalars(sa.select(DisposalTeam).order_by(DisposalTeam.id))),
    }


@pytest.fixture
def make_case(app: Flask, district: dict[str, Any]) -> Callable[..., Any]:
    """Create a committed case in ``received`` (as a phone intake by the first foreman)."""
    from wagedispute.access.actors import Actor
    from wagedispute.cases.lifecycle import open_case
    from wagedispute.cases.numbering import next_case_number
    from wagedispute.models import Case, Channel, Role

    def make(**fields: Any) -> Case:
        foreman = fields.pop("foreman", district["foremen"][0])
        values = {
            "channel": Channel.PHONE,
            "foreman_id": foreman.id,
            "street_id": foreman.street_id,
            "site_name": "海景花园二期工地",
            "workers_affected": 3,
            "amount_owed_fen": 1_200_000,
            "description": "拖欠三个月工资",
        }
        values.update(fields)
        case = Case(**values)
        case.number = next_case_number(db.session, "YT", utcnow())
        open_case(case, Actor(Role.FOREMAN, foreman.id))
        db.session.commit()
        return case

    return make


@pytest.fixture
def drain(app: Flask) -> Callable[[], int]:
    """Relay the outbox and run every queued job with a real RQ worker in burst mode."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from wagedispute.platform.queues import QUEUE_NAMES, get_queue, get_redis
    from wagedispute.relay import relay_pending

    def drain_all() -> int:
        relayed = 0
        for _ in range(20):
            moved = relay_pending()
            relayed += moved
            worker = SimpleWorker(
                [get_queue(name) for name in QUEUE_NAMES],
                connection=get_redis(),
                serializer=JSONSerializer,
            )
            worker.work(burst=True, with_scheduler=False)
            if not moved:
                break
        return relayed

    return drain_all
