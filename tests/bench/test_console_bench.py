"""Console benchmark: dashboard and case list beside ``/healthz``, at a district's size and a
province's.

gunicorn (2 workers x 4 threads) on a fresh PostgreSQL database (schema by ``flask db upgrade``,
rows by ``INSERT ... SELECT generate_series``). 16 client threads send requests open-loop at a
fixed rate, a third each to the dashboard, the case list (varied filters) and ``/healthz``, all
in the same run; latency counts from the intended send time, while the intake benchmark's load
(``CONSOLE_BENCH_INTAKE_CLIENTS`` closed-loop clients, default 16; 0 for a quiet run) submits
complaints to the same server. Reports p50/p99 per endpoint, non-2xx answers, the intake rate
beside, and the uncached dashboard computation time. Two sizes run one after the other, each on
its own database, with its target (DESIGN.md §10) as VERDICT lines:

- ``district``: 100k cases / 1M events with the intake load beside; p99 ≤ 25 ms.
- ``province``: 1M cases / 10M events, quiet; p99 ≤ 40 ms (the fill takes about three minutes).

Run: ``make bench`` or
``.venv/bin/python -m pytest tests/bench/test_console_bench.py -m bench -s -p no:cacheprovider``
(``CONSOLE_BENCH_SIZES=district`` runs one size; ``CONSOLE_BENCH_SECONDS``,
``CONSOLE_BENCH_RATE`` per client and ``CONSOLE_BENCH_INTAKE_CLIENTS`` change the run).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import requests
import sqlalchemy as sa

from handlers import create_web_app
from tests.bench.conftest import (
    BENCH_SECRET,
    ROOT,
    IntakeServer,
    gunicorn_server,
    prepare_intake_clients,
    verdict,
)
from tests.bench.test_intake_bench import Tally, drive
from tests.conftest import dispose
from tests.test_console_plans import fill_console_data

pytestmark = pytest.mark.bench

EVENTS_PER_CASE = 10
SECONDS = float(os.environ.get("CONSOLE_BENCH_SECONDS", "30"))
CLIENTS = 16
# Requests per second per client (open loop): 16 x 2 = 32 requests/s in all.
RATE = float(os.environ.get("CONSOLE_BENCH_RATE", "2"))
INTAKE_CLIENTS = int(os.environ.get("CONSOLE_BENCH_INTAKE_CLIENTS", "16"))
SECRET = BENCH_SECRET


@dataclass(frozen=True)
class Size:
    """One benchmarked deployment size and its target (DESIGN.md §10)."""

    name: str
    cases: int
    target_ms: float
    intake_clients: int


SIZES = [
    Size("district", 100_000, 25.0, INTAKE_CLIENTS),
    Size("province", 1_000_000, 40.0, 0),
]
CHOSEN = os.environ.get("CONSOLE_BENCH_SIZES", ",".join(size.name for size in SIZES)).split(",")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
OPEN_TOTAL = re.compile(r'data-figure="open_total">(\d+)<')


@dataclass
class ConsoleServer:
    """A gunicorn serving the app on the filled database."""

    size: Size
    base_url: str
    database_url: str
    config: dict[str, object]
    tokens: list[str]
    qr_token: str


@pytest.fixture(
    scope="module",
    params=[size for size in SIZES if size.name in CHOSEN],
    ids=lambda size: size.name,
)
def console_server(request, create_postgres_database, redis_url) -> Iterator[ConsoleServer]:
    """Fill a fresh database with the size's cases and ten events each, then start gunicorn."""
    size: Size = request.param
    database_url = create_postgres_database()
    env = {
        **os.environ,
        "WAGEDISPUTE_DATABASE_URL": database_url,
        "WAGEDISPUTE_REDIS_URL": redis_url,
        "WAGEDISPUTE_SECRET_KEY": SECRET,
        "WAGEDISPUTE_WECHAT_SANDBOX": "1",
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
        "SECRET_KEY": SECRET,
        "WECHAT_SANDBOX": True,
        "RATE_LIMIT_PER_MINUTE": 10**9,
    }
    app = create_web_app(config)
    started = time.monotonic()
    fill_console_data(
        app,
        cases=size.cases,
        events_per_case=EVENTS_PER_CASE,
        start=datetime(2024, 1, 1, tzinfo=UTC),
        span_days=3 * 365,
    )
    print(
        f"\nfilled {size.cases} cases, {size.cases * EVENTS_PER_CASE} events in "
        f"{time.monotonic() - started:.1f} s"
    )
    dispose(app)
    # The complainants and QR code the intake load beside uses.
    tokens, qr_token = prepare_intake_clients(config, clients=max(size.intake_clients, 1))
    try:
        with gunicorn_server("wsgi:app", env, "/healthz") as base_url:
            yield ConsoleServer(size, base_url, database_url, config, tokens, qr_token)
    finally:
        import redis

        connection = redis.Redis.from_url(redis_url)
        connection.flushdb()
        connection.close()


def signed_in(base_url: str, username: str, password: str) -> requests.Session:
    """A requests session signed in to the console."""
    session = requests.Session()
    token = CSRF.search(session.get(base_url + "/console/sign-in").text).group(1)
    answer = session.post(
        base_url + "/console/sign-in",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:200]
    return session


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def test_console_dashboard_and_case_list_p99_beside_healthz(console_server: ConsoleServer):
    size = console_server.size
    base = console_server.base_url
    sessions = [
        signed_in(base, "supervisor", "demo-supervisor-2026"),
        signed_in(base, "yantian", "demo-street-2026"),
    ]
    list_paths = [
        "/console/cases",
        "/console/cases?open=1",
        "/console/cases?status=in_progress",
        "/console/cases?overdue=1",
        "/console/cases?urgency=critical&open=1",
        "/console/cases?from=2026-03-01&to=2026-03-31",
    ]
    kinds: list[tuple[str, Callable[[int], str]]] = [
        ("dashboard", lambda i: "/console/"),
        ("case list", lambda i: list_paths[i % len(list_paths)]),
        ("healthz", lambda i: "/healthz"),
    ]
    # Warm each process's connection pool and the figures cache before measuring.
    for session in sessions:
        for _ in range(4):
            for _, path in kinds:
                session.get(base + path(0)).raise_for_status()

    latencies: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    lock = threading.Lock()
    # The intake load beside warms up for 2 s first (intake benchmark's warm-up).
    start = time.monotonic() + 2.5

    def client(index: int) -> None:
        http = requests.Session()
        http.cookies.update(sessions[index % len(sessions)].cookies)
        sent = 0
        while True:
            intended = start + sent / RATE + index / (RATE * CLIENTS)
            if intended - start > SECONDS:
                break
            name, path = kinds[(sent + index) % len(kinds)]
            delay = intended - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                answer = http.get(base + path(sent // len(kinds) + index), allow_redirects=False)
                ok = answer.status_code == 200
            except requests.RequestException:
                ok = False
            took = time.monotonic() - intended
            with lock:
                latencies[name].append(took)
                if not ok:
                    failures[name] += 1
            sent += 1
        http.close()

    intake = Tally("intake beside")
    beside = IntakeServer(
        base_url=base,
        database_url=console_server.database_url,
        redis_url="",
        config=console_server.config,
        tokens=console_server.tokens,
        qr_token=console_server.qr_token,
    )
    load = threading.Thread(
        target=drive,
        args=(beside, intake, True),
        # Its warm-up ends as the console's measurement starts; it stops with it.
        kwargs={"seconds": SECONDS - 1.5, "clients": size.intake_clients},
    )
    if size.intake_clients:
        load.start()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    time.sleep(max(0.0, start - 0.5 - time.monotonic()))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if size.intake_clients:
        load.join()

    # The uncached computation, in process, for the record.
    app = create_web_app(console_server.config)
    with app.app_context():
        from wagedispute.access.actors import Actor
        from wagedispute.models import OPEN_STATUSES, Role, StaffRole
        from wagedispute.platform.database import db
        from wagedispute.supervision.indicators import compute_dashboard

        actor = Actor(Role.STAFF, 2, staff_role=StaffRole.DISTRICT_SUPERVISOR)
        compute_times = []
        for _ in range(5):
            began = time.perf_counter()
            computed = compute_dashboard(actor)
            compute_times.append(time.perf_counter() - began)
        open_cases = db.session.scalar(
            sa.text("SELECT count(*) FROM cases WHERE status = ANY(:s)"),
            {"s": [s.value for s in OPEN_STATUSES]},
        )
        events = db.session.scalar(sa.text("SELECT count(*) FROM case_events"))
        db.session.remove()
    dispose(app)
    shown = int(OPEN_TOTAL.search(sessions[0].get(base + "/console/").text).group(1))

    print(
        f"\nconsole benchmark ({size.name}): {size.cases} cases, {events} events, "
        f"{CLIENTS} clients, {RATE * CLIENTS:.0f} req/s open loop for {SECONDS:.0f} s"
    )
    report = {}
    for name, _ in kinds:
        values = latencies[name]
        report[name] = (percentile(values, 50) * 1000, percentile(values, 99) * 1000)
        print(
            f"  {name:10s} n={len(values):5d} non-2xx={failures[name]:3d} "
            f"p50={report[name][0]:6.1f} ms p99={report[name][1]:6.1f} ms"
        )
    if size.intake_clients:
        print(
            f"  intake beside: {size.intake_clients} clients, {intake.throughput:.1f} req/s, "
            f"p99 {intake.percentile(99):.1f} ms, statuses {dict(sorted(intake.statuses.items()))}"
        )
    print(
        f"  dashboard computed without cache: median "
        f"{sorted(compute_times)[2] * 1000:.1f} ms (5 runs)"
    )
    scale = f"{size.cases} cases / {events} events"
    beside_text = f"{size.intake_clients} intake clients beside" if size.intake_clients else "quiet"
    for name in ("dashboard", "case list"):
        p99 = report[name][1]
        verdict(
            f"console {name} p99 ≤ {size.target_ms:g} ms at {scale}, {beside_text}",
            f"{p99:.1f} ms (healthz baseline p99 {report['healthz'][1]:.1f} ms)",
            p99 <= size.target_ms,
        )

    assert computed.open_total == open_cases, "the dashboard's open count differs from the database"
    # The page may show figures cached a little before the intakes beside it committed.
    assert open_cases - intake.ok <= shown <= open_cases
    assert events == size.cases * EVENTS_PER_CASE + intake.ok  # one creation event per intake
    assert not any(failures.values()), dict(failures)
    assert not any(status >= 500 for status in intake.statuses)
