"""wagedispute: the core of the 工长 scheme (config, database, queues, services).

``create_app`` builds the core app that RQ workers, the relay and migrations use; the web app
(``handlers.create_web_app``) adds the HTTP endpoints and the ``flask`` commands of
``wagedispute.dev.cli``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask
from flask_migrate import Migrate

from wagedispute.cases.figures import install_daily_figures
from wagedispute.platform.config import load_settings, sqlite_url
from wagedispute.platform.database import db
from wagedispute.platform.pii import PiiVault
from wagedispute.platform.wechat import check_wechat_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

migrate = Migrate()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the core app: configuration, database, migrations, Redis, queues and CLI."""
    settings = load_settings(config)
    check_wechat_settings(settings)
    app = Flask("wagedispute", instance_path=settings["INSTANCE_PATH"])
    app.config.update(settings)

    database_url = settings["DATABASE_URL"] or sqlite_url(app.instance_path)
    if database_url.startswith("sqlite:///") and not settings["DATABASE_URL"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = _with_driver(database_url)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(database_url)
    app.config["SECRET_KEY"] = settings["SECRET_KEY"] or _instance_secret(app.instance_path)

    db.init_app(app)
    if database_url.startswith("sqlite"):
        with app.app_context():
            sa.event.listen(db.engine, "connect", _sqlite_pragmas)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    app.extensions["wagedispute.redis"] = redis.Redis.from_url(
        settings["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5
    )
    app.extensions["wagedispute.pii"] = PiiVault(app.config["SECRET_KEY"])
    install_daily_figures()
    return app


def _with_driver(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given without a driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _engine_options(url: str) -> dict[str, Any]:
    """Engine settings per backend: JSON keeps Chinese as is, connections fail fast."""
    options: dict[str, Any] = {
        "json_serializer": lambda obj: json.dumps(obj, ensure_ascii=False),
        "pool_pre_ping": True,
    }
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 15}
    else:
        options["connect_args"] = {"connect_timeout": 3}
        options["pool_timeout"] = 5
    return options


def _instance_secret(instance_path: str) -> str:
    """A development secret kept under instance/, so restarts keep sessions and PII readable."""
    path = Path(instance_path) / "secret-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite: enforce foreign keys, let readers run beside the writer, wait for locks."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()
    # pysqlite's default transaction control is kept on purpose: it emits BEGIN just before a
    # transaction's first write, so no SQLite transaction reads a snapshot and then writes (the
    # case that fails at once with "database is locked"); writers queue on busy_timeout. Taking
    # the write lock at every BEGIN instead made read-only sessions block every writer.
