"""The SQLAlchemy handle, the declarative base, the column types every model shares, and the
one unit of work every service commits through."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.orm.exc import StaleDataError

from wagedispute.platform.errors import Conflict

# Named constraints: SQLite batch migrations and PostgreSQL downgrades both need the names.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the project's constraint naming convention."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite drops offsets otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        # SQLite stores text: keep it naive UTC so comparisons stay lexical and correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)


def enum_type(enum_cls: type) -> sa.Enum:
    """A StrEnum stored as its string value (VARCHAR, no database enum type to migrate)."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


_UPSERT_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def upsert_insert(session: Session | sa.Connection) -> Callable[..., Any]:
    """The ``insert`` of the session's (or connection's) database that offers
    ``on_conflict_do_update``."""
    bind = session if isinstance(session, sa.Connection) else session.get_bind()
    return _UPSERT_INSERTS[bind.dialect.name]


AFTER_COMMIT_KEY = "wagedispute.after_commit"


def after_commit(hook: Callable[[], None]) -> None:
    """Run ``hook`` once the current unit of work commits (dropped if it rolls back)."""
    hooks: list[Callable[[], None]] = db.session.info.setdefault(AFTER_COMMIT_KEY, [])
    if hook not in hooks:
        hooks.append(hook)


@contextmanager
def unit_of_work() -> Iterator[None]:
    """One transaction: commit on success, roll back on any error, run after-commit hooks.

    A row changed by someone else since it was read (the optimistic lock) answers 409.
    """
    try:
        yield
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        db.session.info.pop(AFTER_COMMIT_KEY, None)
        raise Conflict("记录已被他人更新，请刷新后重试") from exc
    except BaseException:
        db.session.rollback()
        db.session.info.pop(AFTER_COMMIT_KEY, None)
        raise
    for hook in db.session.info.pop(AFTER_COMMIT_KEY, []):
        hook()
