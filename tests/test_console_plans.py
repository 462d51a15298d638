"""The console's list and dashboard queries are index-backed on PostgreSQL (EXPLAIN)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from handlers import create_web_app
from tests.conftest import dispose
from wagedispute.access.actors import Actor
from wagedispute.models import Role, StaffRole, Street
from wagedispute.platform.database import db
from wagedispute.supervision.casebook import CaseFilter, list_cases
from wagedispute.supervision.indicators import compute_dashboard

WATCHED_TABLES = {"cases", "case_events"}

# One statement fills the cases table: creation times rise with the id over three years (as
# real rows do), about one case in ten is open, the rest mostly closed with an outcome.
FILL_CASES = """
INSERT INTO cases (
    number, status, channel, foreman_id, street_id, team_id, site_name, employers,
    workers_affected, amount_owed_fen, description, consent_disclose_identity,
    urgency_suggested, urgency_reasons, urgency_confirmed, outcome, outcome_data,
    flagged_to_bureau, created_at, updated_at, dispatched_at, resolved_at, closed_at,
    dispatch_due_at, accept_due_at, contact_due_at, resolve_due_at, escalation_level, version,
    intake_flags
)
SELECT
    'YT-B-' || g,
    st.status,
    (ARRAY['miniprogram', 'web', 'phone', 'import'])[1 + g % 4],
    f.id,
    f.street_id,
    t.id,
    '工地' || (g % 5000),
    '[]'::jsonb,
    1 + g % 30,
    (1 + g % 500) * 10000,
    '',
    false,
    (ARRAY['critical', 'urgent', 'normal', 'normal', 'normal'])[1 + g % 5],
    '[]'::jsonb,
    CASE WHEN st.status <> 'received' THEN 'normal' END,
    CASE WHEN st.status IN ('resolved', 'closed') THEN 'paid_in_full' END,
    CASE WHEN st.status IN ('resolved', 'closed')
         THEN jsonb_build_object('amount_paid_fen', (1 + g % 500) * 10000)
         ELSE '{}'::jsonb END,
    st.status = 'reopened',
    c.created_at,
    c.created_at,
    c.created_at + interval '3 hours',
    CASE WHEN st.status IN ('resolved', 'closed') THEN c.created_at + interval '6 days' END,
    CASE WHEN st.status IN ('closed', 'rejected', 'withdrawn')
         THEN c.created_at + interval '9 days' END,
    c.created_at + interval '4 hours',
    c.created_at + interval '8 hours',
    c.created_at + interval '1 day',
    c.created_at + interval '7 days',
    0,
    1,
    '[]'::jsonb
FROM generate_series(1, %(cases)s) AS g
CROSS JOIN LATERAL (
    SELECT %(start)s::timestamptz + (%(span)s::interval * g / %(cases)s) AS created_at
) AS c
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN g % 100 < 2 THEN 'received' WHEN g % 100 < 4 THEN 'dispatched'
        WHEN g % 100 < 6 THEN 'accepted' WHEN g % 100 < 8 THEN 'in_progress'
        WHEN g % 100 < 9 THEN 'resolved' WHEN g % 100 < 10 THEN 'reopened'
        WHEN g % 100 < 95 THEN 'closed' WHEN g % 100 < 98 THEN 'rejected'
        ELSE 'withdrawn' END AS status
) AS st
CROSS JOIN LATERAL (
    SELECT id, street_id FROM foremen ORDER BY id OFFSET (g % %(foremen)s) LIMIT 1
) AS f
LEFT JOIN LATERAL (
    SELECT id FROM disposal_teams WHERE street_id = f.street_id ORDER BY id LIMIT 1
) AS t ON true
""".replace(" % ", " %% ")

# Events per case: the creation, status steps and notes, and a rating on closed cases.
FILL_EVENTS = """
INSERT INTO case_events (
    case_id, kind, from_status, to_status, actor_role, actor_id, data, worker_visible, created_at
)
SELECT
    c.id,
    CASE WHEN s = %(per_case)s AND c.status = 'closed' THEN 'rating'
         WHEN s <= 3 THEN 'status' ELSE 'note' END,
    CASE WHEN s = 2 THEN 'received' WHEN s = 3 THEN 'dispatched' END,
    CASE WHEN s = 1 THEN 'received' WHEN s = 2 THEN 'dispatched' WHEN s = 3 THEN 'accepted' END,
    'system',
    NULL,
    CASE WHEN s = %(per_case)s AND c.status = 'closed'
         THEN jsonb_build_object('score', 1 + c.id % 5)
         ELSE '{}'::jsonb END,
    s <= 3,
    c.created_at + (s * interval '5 hours')
FROM cases c CROSS JOIN generate_series(1, %(per_case)s) AS s
WHERE c.number LIKE 'YT-B-%%'
""".replace(" % ", " %% ")


def fill_console_data(
    app: Flask, *, cases: int, events_per_case: int, start: datetime, span_days: int
) -> None:
    """Seed the demo district, bulk-insert cases and events in SQL, count their daily figures,
    then ANALYZE."""
    from wagedispute.cases.figures import rebuild_daily_figures
    from wagedispute.dev.demo import seed_demo

    with app.app_context():
        seed_demo()
        foremen = db.session.scalar(sa.text("SELECT count(*) FROM foremen"))
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                FILL_CASES,
                {
                    "cases": cases,
                    "start": start,
                    "span": f"{span_days} days",
                    "foremen": foremen,
                },
            )
            conn.exec_driver_sql(FILL_EVENTS, {"per_case": events_per_case})
        # Rows written in bulk SQL bypass the flush that keeps daily_figures current.
        rebuild_daily_figures()
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


@pytest.fixture(scope="module")
def filled_app(create_postgres_database, redis_url) -> Iterator[Flask]:
    """A PostgreSQL database made by ``flask db upgrade`` holding 40k cases and 200k events."""
    app = create_web_app(
        {
            "TESTING": True,
            "DATABASE_URL": create_postgres_database(),
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret-key-not-for-production",
        }
    )
    with app.app_context():
        upgrade()
    fill_console_data(
        app,
        cases=40_000,
        events_per_case=5,
        start=datetime(2024, 1, 1, tzinfo=UTC),
        span_days=3 * 365,
    )
    yield app
    dispose(app)


def plans_of(app: Flask, work) -> list[tuple[str, dict[str, Any]]]:
    """Run ``work`` in the app, capturing each SELECT it sends, and EXPLAIN each of them."""
    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", capture)
        try:
            work()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", capture)
        plans = []
        with db.engine.connect() as conn:
            for statement, parameters in captured:
                raw = conn.exec_driver_sql(
                    "EXPLAIN (FORMAT JSON) " + statement, parameters
                ).scalar_one()
                plan = raw if isinstance(raw, list) else json.loads(raw)
                plans.append((statement, plan[0]["Plan"]))
        db.session.remove()
    return plans


def full_scans(node: dict[str, Any], under_limit: bool = False) -> list[str]:
    """Sequential scans of the big tables that are not bounded by a LIMIT above them."""
    found = []
    if (
        node.get("Node Type") == "Seq Scan"
        and node.get("Relation Name") in WATCHED_TABLES
        and not under_limit
    ):
        found.append(node["Relation Name"])
    bounded = under_limit or node.get("Node Type") == "Limit"
    for child in node.get("Plans", []):
        found += full_scans(child, bounded)
    return found


def assert_index_backed(plans: list[tuple[str, dict[str, Any]]]) -> None:
    assert plans, "no statements captured"
    touched = [s for s, _ in plans if "cases" in s or "case_events" in s]
    assert touched, "the work never read the cases"
    bad = [(statement, full_scans(plan)) for statement, plan in plans if full_scans(plan)]
    assert not bad, "sequential scans: " + "\n\n".join(f"{s}\n-> {t}" for s, t in bad)


NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def actors(app: Flask) -> list[Actor]:
    with app.app_context():
        street_id = db.session.scalar(sa.select(Street.id).order_by(Street.id))
        db.session.remove()
    return [
        Actor(Role.STAFF, 1, staff_role=StaffRole.DISTRICT_SUPERVISOR),
        Actor(Role.STAFF, 3, street_id=street_id, staff_role=StaffRole.STREET_STAFF),
    ]


def test_dashboard_queries_use_indexes(filled_app):
    for actor in actors(filled_app):
        assert_index_backed(plans_of(filled_app, lambda a=actor: compute_dashboard(a, now=NOW)))


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"status": "in_progress"},
        {"open": "1"},
        {"overdue": "1"},
        {"urgency": "critical", "open": "1"},
        {"from": "2026-03-01", "to": "2026-03-31"},
    ],
    ids=["all", "status", "open", "overdue", "urgency", "dates"],
)
def test_case_list_queries_use_indexes(filled_app, args):
    for actor in actors(filled_app):

        def work(a=actor):
            page = list_cases(a, CaseFilter.from_args(args), now=NOW)
            if page.next_cursor:
                list_cases(a, CaseFilter.from_args(args), cursor=page.next_cursor, now=NOW)

        assert_index_backed(plans_of(filled_app, work))


def test_the_plan_check_catches_a_sequential_scan(filled_app):
    def unindexed():
        db.session.execute(sa.text("SELECT count(*) FROM cases WHERE workers_affected > 0"))

    with pytest.raises(AssertionError, match="sequential scans"):
        assert_index_backed(plans_of(filled_app, unindexed))
