"""``make run``'s process tree: it serves /healthz, and SIGTERM leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        try:
            if text in " ".join(process.info["cmdline"] or []):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_launcher_serves_health_and_stops_every_process(tmp_path: Path, repo_root: Path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("WAGEDISPUTE_")}
    env.update(PORT=str(port), WAGEDISPUTE_INSTANCE_PATH=str(tmp_path / "instance"))
    log_path = tmp_path / "launcher.log"
    with log_path.open("wb") as log:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "wagedispute.dev.launcher"],
            cwd=repo_root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    tree: set[int] = set()
    try:
        health = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and launcher.poll() is None:
            health = get_health(port)
            if health and health["status"] == "ok":
                break
            time.sleep(0.5)
        assert health is not None and health["status"] == "ok", log_path.read_text()[-3000:]
        assert health["database"]["backend"] == "sqlite"
        assert health["redis"]["status"] == "ok"
        # Wait for the workers and the relay to be up before recording the tree.
        time.sleep(3)
        tree = {p.pid for p in psutil.Process(launcher.pid).children(recursive=True)}
        tree |= {p.pid for p in processes_mentioning(str(tmp_path))}
        names = " ".join(
            " ".join(psutil.Process(pid).cmdline()) for pid in tree if psutil.pid_exists(pid)
        )
        assert "gunicorn" in names and "rq worker" in names.replace("/rq worker", "rq worker")
        assert len(tree) >= 6
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=60)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(psutil.pid_exists(pid) for pid in tree):
        time.sleep(0.2)
    survivors = [
        pid
        for pid in tree
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert survivors == []
    assert processes_mentioning(str(tmp_path)) == []
    assert get_health(port) is None
