"""The embedded default under load: ``make run``'s SQLite set-up (WAL, busy timeout, BEGIN
IMMEDIATE: ``wagedispute/__init__.py``) behind the launcher's gunicorn (2 workers x 4 threads),
driven by the intake benchmark's 16 clients. Target (DESIGN.md §10): 0 errors; every 2xx a row.

    pytest tests/bench/test_embedded_bench.py -m bench -s

The database is a SQLite file in a temporary folder (``make run`` puts it under instance/; the
engine settings are the same for every SQLite URL). ``BENCH_INTAKE_SECONDS`` sets the time.
"""

from __future__ import annotations

import sqlite3

import pytest

from tests.bench.conftest import IntakeServer, verdict
from tests.bench.test_intake_bench import CLIENTS, SECONDS, Tally, drive, show

pytestmark = pytest.mark.bench


def count(database_url: str, table: str) -> int:
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_sqlite_default_answers_sixteen_intake_clients_without_errors(
    embedded_intake_server: IntakeServer,
) -> None:
    server = embedded_intake_server
    full = Tally("full intake")
    drive(server, full, full=True)
    cases = count(server.database_url, "cases")
    keys = count(server.database_url, "idempotency_records")
    errors = sum(n for status, n in full.statuses.items() if not 200 <= status < 300)
    print(f"\nembedded default (SQLite) benchmark: {CLIENTS} clients, {SECONDS:.0f} s")
    show(full)
    print(f"  rows: cases {cases} == 2xx {full.ok}; keys {keys}")
    verdict(f"embedded SQLite, {CLIENTS} intake clients: 0 errors", f"{errors} errors", errors == 0)
    assert full.ok > 0
    assert cases == full.ok and keys == full.ok
