"""Counting what a piece of code asks the database: statements and commits, by SQLAlchemy event
listeners on the engine (so that a regression in round trips fails a test)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa


@dataclass
class Counted:
    """Statements sent (an executemany counts once: one round trip) and commits."""

    statements: list[str] = field(default_factory=list)
    commits: int = 0

    @property
    def round_trips(self) -> int:
        """Statements plus commits (each commit is a round trip of its own)."""
        return len(self.statements) + self.commits

    def flushes(self, table: str) -> int:
        """Statements that write to ``table`` (INSERT or UPDATE)."""
        return sum(
            1
            for s in self.statements
            if s.lstrip()
            .upper()
            .startswith((f"INSERT INTO {table.upper()} ", f"UPDATE {table.upper()} "))
        )


@contextmanager
def counting(engine: sa.Engine) -> Iterator[Counted]:
    """Count the statements and commits ``engine`` runs inside the block."""
    counted = Counted()

    def statement(conn: Any, cursor: Any, text: str, *args: Any) -> None:
        # SQLite's explicit BEGIN IMMEDIATE (PostgreSQL begins implicitly) is not a statement
        # of the code under test: counting it would make the two backends disagree.
        if not text.startswith("BEGIN"):
            counted.statements.append(text)

    def commit(conn: Any) -> None:
        counted.commits += 1

    sa.event.listen(engine, "before_cursor_execute", statement)
    sa.event.listen(engine, "commit", commit)
    try:
        yield counted
    finally:
        sa.event.remove(engine, "before_cursor_execute", statement)
        sa.event.remove(engine, "commit", commit)
