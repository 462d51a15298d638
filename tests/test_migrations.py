"""One Alembic history is the only way a schema is made; it matches the models both ways."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from handlers import create_web_app
from tests.conftest import dispose
from wagedispute import MIGRATIONS_DIR
from wagedispute.platform.database import db


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database_url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("create_postgres_database")()
    return "sqlite:///" + str(tmp_path / "empty.sqlite3")


@pytest.fixture
def empty_app(empty_database_url, redis_url):
    app = create_web_app(
        {"DATABASE_URL": empty_database_url, "REDIS_URL": redis_url, "SECRET_KEY": "x" * 32}
    )
    yield app
    dispose(app)


def test_history_has_a_single_head():
    from alembic.config import Config

    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_upgrade_from_empty_matches_the_models_and_downgrades_to_base(empty_app):
    with empty_app.app_context():
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {t.name for t in db.metadata.sorted_tables} <= tables
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata
            )
        assert diff == []
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        # And up again: the downgrade left nothing behind that blocks a fresh upgrade.
        upgrade()
        assert {t.name for t in db.metadata.sorted_tables} <= set(
            sa.inspect(db.engine).get_table_names()
        )


def test_no_code_path_creates_tables_besides_migrations(repo_root):
    offenders = [
        path
        for folder in ("wagedispute", "handlers", "qr")
        for path in (repo_root / folder).rglob("*.py")
        if "create_all(" in path.read_text()
    ]
    assert offenders == []
