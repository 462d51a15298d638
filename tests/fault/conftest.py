"""The fault suite's own servers and the project's real processes, started per test.

PostgreSQL (one throwaway cluster per session, a fresh database per test) and Redis (one
server per test) listen on free loopback ports so tests may kill and restart them; the
machine's shared services are never touched. Every wait is bounded and every process group is
killed at the end, also when a test fails.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import unavailable
from tests.fault.servers import (
    BIN,
    REPO_ROOT,
    NotAvailable,
    PostgresServer,
    Proc,
    RedisServer,
    free_port,
    wait_until,
)

SECRET_KEY = "fault-suite-secret-key-not-for-production"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of the suite's own (initdb in a temporary directory)."""
    try:
        server = PostgresServer()
    except NotAvailable as exc:
        unavailable(f"the fault suite cannot run its own PostgreSQL ({exc})")
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@dataclass
class Stack:
    """One deployment: database, Redis, and the processes a test starts, stops and kills."""

    base: Path
    pg: PostgresServer
    redis: RedisServer
    database_url: str
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    app: Flask | None = None
    web_port: int = 0
    _names: Iterator[int] = field(default_factory=itertools.count)

    def flask(self, *args: str, timeout: float = 120) -> str:
        """Run ``flask --app wsgi <args>`` against this stack; its output."""
        result = subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"flask {' '.join(args)} failed: {result.stderr.decode(errors='replace')[-2000:]}"
            )
        return result.stdout.decode(errors="replace")

    def _proc(self, name: str, argv: list[str]) -> Proc:
        proc = Proc(f"{name}-{next(self._names)}", argv, self.env, self.base)
        self.procs.append(proc)
        return proc

    def worker(self, queue: str, *, processes: int | None = None) -> Proc:
        """The queue's real workers, started with the production command
        (``platform.queues.worker_command``: a pool whose workers each run the scheduler)."""
        from wagedispute.platform.queues import worker_command

        argv = worker_command(str(BIN / "rq"), self.redis.url, queue, processes=processes)
        return self._proc(f"worker-{queue}", argv).start()

    def workers(self, dispatch: int = 1) -> list[Proc]:
        """Worker pools per queue (``dispatch`` pools on the dispatch queue)."""
        return [
            *(self.worker("dispatch") for _ in range(dispatch)),
            self.worker("notify"),
            self.worker("maintenance"),
        ]

    def relay(self) -> Proc:
        """The outbox relay and reconciler (``flask --app wsgi relay``)."""
        return self._proc("relay", [str(BIN / "flask"), "--app", "wsgi", "relay"]).start()

    def web(self, workers: int = 2, threads: int = 4) -> Proc:
        """gunicorn serving ``wsgi:app``; waits until /healthz answers."""
        import requests

        self.web_port = free_port()
        proc = self._proc(
            "web",
            [
                str(BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--timeout",
                "60",
                "wsgi:app",
            ],
        ).start()
        wait_until(
            lambda: requests.get(self.base_url + "/healthz", timeout=2).status_code == 200,
            60,
            "gunicorn to serve /healthz",
            interval=0.3,
        )
        return proc

    @property
    def base_url(self) -> str:
        """Where gunicorn listens."""
        return f"http://127.0.0.1:{self.web_port}"

    def worker_logs(self) -> list[str]:
        """The output of every RQ worker process started so far (each execution is logged)."""
        return [p.log_text() for p in self.procs if p.name.startswith("worker-")]

    def stop_all(self) -> None:
        """Kill every process group this stack started."""
        for proc in self.procs:
            proc.kill()


def stack_env(database_url: str, redis_url: str, base: Path) -> dict[str, str]:
    """The environment every process of a stack gets (the machine's own settings dropped)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WAGEDISPUTE_")}
    env.update(
        WAGEDISPUTE_DATABASE_URL=database_url,
        WAGEDISPUTE_REDIS_URL=redis_url,
        WAGEDISPUTE_SECRET_KEY=SECRET_KEY,
        WAGEDISPUTE_WECHAT_SANDBOX="1",
        WAGEDISPUTE_RATE_LIMIT_PER_MINUTE="1000000",
        WAGEDISPUTE_INSTANCE_PATH=str(base / "instance"),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def template_database(pg_server: PostgresServer) -> str:
    """A database migrated with ``flask db upgrade`` and seeded with ``flask seed-demo`` once,
    team members and foremen bound to openids; each test copies it (CREATE DATABASE … TEMPLATE)."""
    name = f"wd_fault_template_{uuid.uuid4().hex[:6]}"
    url = pg_server.create_database(name)
    base = Path(tempfile.mkdtemp(prefix="wd-fault-template-"))
    # No Redis is needed for the schema and the seed: point at a port nobody listens on.
    env = stack_env(url, f"redis://127.0.0.1:{free_port()}/0", base)
    try:
        for args in (["db", "upgrade"], ["seed-demo"]):
            result = subprocess.run(
                [str(BIN / "flask"), "--app", "wsgi", *args],
                env=env,
                cwd=REPO_ROOT,
                capture_output=True,
                timeout=180,
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"flask {' '.join(args)} failed: "
                    f"{result.stderr.decode(errors='replace')[-2000:]}"
                )
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE team_members SET openid = 'o-team-' || id"))
                conn.execute(sa.text("UPDATE foremen SET openid = 'o-foreman-' || id"))
        finally:
            engine.dispose()
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False, timeout=60)
    return name


@pytest.fixture
def stack(pg_server: PostgresServer, template_database: str) -> Iterator[Stack]:
    """A migrated, seeded deployment with team members and foremen bound to WeChat openids, and
    an in-process app on the same database and Redis for the driver and the checker."""
    from handlers import create_web_app

    base = Path(tempfile.mkdtemp(prefix="wd-fault-"))
    try:
        redis = RedisServer(base)
    except NotAvailable as exc:
        unavailable(f"the fault suite cannot run its own Redis ({exc})")
    redis.start()
    if not pg_server.running():
        pg_server.start()
    database_url = pg_server.create_database(
        f"wd_fault_{uuid.uuid4().hex[:10]}", template=template_database
    )
    env = stack_env(database_url, redis.url, base)
    stack = Stack(base=base, pg=pg_server, redis=redis, database_url=database_url, env=env)
    try:
        stack.app = create_web_app(
            {
                "DATABASE_URL": database_url,
                "REDIS_URL": redis.url,
                "SECRET_KEY": SECRET_KEY,
                "WECHAT_SANDBOX": True,
                "RATE_LIMIT_PER_MINUTE": 1_000_000,
            }
        )
        yield stack
    finally:
        stack.stop_all()
        if stack.app is not None:
            from tests.conftest import dispose

            dispose(stack.app)
        redis.kill()
        if not pg_server.running():
            pg_server.start()
        subprocess.run(["rm", "-rf", str(base)], check=False, timeout=60)
