"""Intake throughput: the full complaint submit beside a bare one-row insert, same server, same run.

gunicorn (2 workers × 4 threads) on a fresh PostgreSQL database and the test Redis; 16 client
threads on keep-alive connections, each endpoint driven for a fixed time. Reports the throughput
ratio full/bare, p50/p99 of each, and checks that rows written equal 2xx answers and no 5xx.
Targets (DESIGN.md §10): ratio ≥ 0.6 and full-intake p99 ≤ 50 ms, each printed as a VERDICT
line (reported, not asserted: timings depend on the machine).

    make bench          # or: pytest tests/bench/test_intake_bench.py -m bench -s

``BENCH_INTAKE_SECONDS`` (per endpoint, default 10) and ``BENCH_INTAKE_CLIENTS`` (16) override.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.bench.conftest import IntakeServer, verdict

pytestmark = pytest.mark.bench

SECONDS = float(os.environ.get("BENCH_INTAKE_SECONDS", "10"))
CLIENTS = int(os.environ.get("BENCH_INTAKE_CLIENTS", "16"))
WARMUP_SECONDS = 2.0


@dataclass
class Tally:
    """What one endpoint's run produced."""

    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    ok: int = 0
    elapsed: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, seconds: float, measured: bool) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                self.ok += 1
            if measured:
                self.latencies.append(seconds)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed


def complaint_body(qr_token: str, rng: random.Random) -> str:
    """A valid complaint; sites and employers drawn from pools so some cases group."""
    return json.dumps(
        {
            "name": "压测工人",
            "mobile": f"138{rng.randrange(10**8):08d}",
            "id_number": "11010519491231002X",
            "site_name": f"压测工地{rng.randrange(1000)}",
            "employers": [{"role": "总包", "name": f"压测建设{rng.randrange(500)}有限公司"}],
            "workers_affected": rng.randrange(1, 20),
            "amount_owed_fen": rng.randrange(100_000, 10_000_000),
            "period_start": "2025-06-01",
            "period_end": "2025-09-30",
            "description": "工资拖欠",
            "qr_token": qr_token,
        },
        ensure_ascii=False,
    )


def drive(
    server: IntakeServer, tally: Tally, full: bool, seconds: float = SECONDS, clients: int = CLIENTS
) -> None:
    """``clients`` threads sending back to back for warm-up plus ``seconds``."""
    target = urlsplit(server.base_url)
    start = time.monotonic()
    measure_from = start + WARMUP_SECONDS
    stop = measure_from + seconds

    def client(index: int) -> None:
        rng = random.Random(index)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            while (now := time.monotonic()) < stop:
                if full:
                    path, body = "/api/v1/complaints", complaint_body(server.qr_token, rng)
                    headers = {
                        "Content-Type": "application/json",
                        "Authorization": f"Bearer {server.tokens[index % len(server.tokens)]}",
                        "Idempotency-Key": uuid.uuid4().hex,
                    }
                else:
                    path, body, headers = "/bench/insert-one", "", {}
                began = time.perf_counter()
                connection.request("POST", path, body=body.encode(), headers=headers)
                answer = connection.getresponse()
                answer.read()
                tally.add(answer.status, time.perf_counter() - began, now >= measure_from)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally.elapsed = time.monotonic() - measure_from


def show(tally: Tally) -> None:
    """One line of figures for an endpoint's run."""
    print(
        f"  {tally.name:12s} {tally.throughput:8.1f} req/s  p50 {tally.percentile(50):6.1f} ms"
        f"  p99 {tally.percentile(99):6.1f} ms  statuses {dict(sorted(tally.statuses.items()))}"
    )


def count(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        return conn.execute(sql).fetchone()[0]


def test_full_intake_throughput_beside_a_bare_insert(intake_server: IntakeServer) -> None:
    complainants_before = count(intake_server.database_url, "SELECT count(*) FROM complainants")
    bare = Tally("bare insert")
    full = Tally("full intake")
    drive(intake_server, bare, full=False)
    drive(intake_server, full, full=True)

    cases = count(intake_server.database_url, "SELECT count(*) FROM cases")
    events = count(intake_server.database_url, "SELECT count(*) FROM case_events")
    keys = count(intake_server.database_url, "SELECT count(*) FROM idempotency_records")
    bare_rows = (
        count(intake_server.database_url, "SELECT count(*) FROM complainants") - complainants_before
    )
    ratio = full.throughput / bare.throughput
    print()
    print(f"intake benchmark: {CLIENTS} clients, {SECONDS:.0f} s each after {WARMUP_SECONDS} s")
    for tally in (bare, full):
        show(tally)
    print(
        f"  rows: cases {cases} == full 2xx {full.ok}; bare rows {bare_rows} == bare 2xx {bare.ok}"
    )
    verdict(
        "intake full/bare throughput ≥ 0.6",
        f"{full.throughput:.1f} / {bare.throughput:.1f} req/s = {ratio:.2f}",
        ratio >= 0.6,
    )
    p99 = full.percentile(99)
    verdict(f"intake p99 ≤ 50 ms at {CLIENTS} clients", f"{p99:.1f} ms", p99 <= 50)

    assert not any(status >= 500 for status in {**bare.statuses, **full.statuses})
    assert cases == full.ok and events == full.ok and keys == full.ok
    assert bare_rows == bare.ok
    assert full.ok == sum(full.statuses.values()) and bare.ok == sum(bare.statuses.values())
