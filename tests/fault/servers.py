"""Servers and processes the fault suite owns: its own PostgreSQL and Redis on free loopback
ports, and the project's real processes (gunicorn, rq workers, the relay), each in its own
process group so that a kill reaches every child (RQ's work-horses included)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import redis as redis_lib

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class NotAvailable(Exception):
    """A server the suite needs cannot be started on this machine."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1
) -> Any:
    """Poll until the predicate is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # a server coming up refuses connections for a while
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last_error!r})")


def kill_group(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGKILL) -> None:
    """Signal a process's whole group (it was started in its own session), then reap it."""
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    if sig == signal.SIGKILL:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still there."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class Proc:
    """One supervised command with its output in a log file (read by the history checker)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Proc:
        """Start (or restart, as a supervisor would) the command in a new session."""
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps it open)
        try:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int:
        """The main process's id (also its process group id)."""
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """Whether the main process still runs."""
        return self.process is not None and self.process.poll() is None

    def children(self) -> list[int]:
        """Direct children of the main process (an RQ worker's work-horse while it runs a job)."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return []
        return [int(pid) for pid in text.split()]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole process group (the main process and every child)."""
        kill_group(self.process, sig)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after the grace period."""
        if self.process is None:
            return
        kill_group(self.process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        kill_group(self.process, signal.SIGKILL)

    def log_text(self) -> str:
        """Everything the process wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class RedisServer:
    """A throwaway redis-server without persistence: a restart starts it empty."""

    def __init__(self, base: Path) -> None:
        if shutil.which("redis-server") is None:
            raise NotAvailable("redis-server is not on PATH")
        self.dir = base / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL every process of the stack connects with."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 (the child keeps it open)
        try:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

        def ping() -> bool:
            client = redis_lib.Redis.from_url(self.url, socket_connect_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()

        wait_until(ping, 15, "redis-server to answer")

    def kill(self) -> None:
        """kill -9: everything in memory is gone."""
        kill_group(self.process)

    def client(self) -> redis_lib.Redis:
        """A new client (close it after use)."""
        return redis_lib.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=10)


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb in a temporary directory), run as the ``postgres``
    system user when the suite runs as root, because PostgreSQL refuses to run as root."""

    def __init__(self) -> None:
        for tool in ("initdb", "postgres"):
            if shutil.which(tool) is None:
                raise NotAvailable(f"{tool} is not on PATH")
        self.base = Path(tempfile.mkdtemp(prefix="wd-fault-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise NotAvailable("running as root and there is no postgres user") from exc
            if shutil.which("runuser") is None:
                raise NotAvailable("running as root and runuser is missing")
            os.chown(self.base, user.pw_uid, user.pw_gid)
            self.base.chmod(0o700)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        result = subprocess.run(
            [
                *self.run_as,
                "initdb",
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise NotAvailable(f"initdb failed: {result.stderr.decode(errors='replace')[-500:]}")

    @property
    def admin_url(self) -> str:
        """The maintenance database, for creating a database per test."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """The URL of one database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the postmaster (fsync off: a test server, killed but never power-cut)."""
        log = open(self.base / "postgres.log", "ab")  # noqa: SIM115 (the child keeps it open)
        try:
            self.process = subprocess.Popen(
                [
                    *self.run_as,
                    "postgres",
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.base),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "shared_buffers=64MB",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

        def ready() -> bool:
            with psycopg.connect(self.admin_url, connect_timeout=2):
                return True

        wait_until(ready, 60, "PostgreSQL to accept connections", interval=0.2)

    def kill(self) -> None:
        """kill -9 the postmaster and every backend: clients see refused connections."""
        kill_group(self.process)
        # The postmaster's shared memory outlives a SIGKILL for a moment; wait until the
        # group is gone so a restart does not find the old one still there.
        if self.process is not None:
            wait_until(lambda: not group_alive(self.process.pid), 15, "PostgreSQL to die")

    def running(self) -> bool:
        """Whether the postmaster is up."""
        return self.process is not None and self.process.poll() is None

    def create_database(self, name: str, template: str | None = None) -> str:
        """A fresh database (a copy of ``template`` if given); returns its URL."""
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def destroy(self) -> None:
        """Kill the server and remove its files."""
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)
