"""wechatpy's real client against the in-process WeChat sandbox."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import requests
from flask import Flask

from wagedispute.platform import wechat, wechat_sandbox
from wagedispute.platform.errors import DomainError, ServiceUnavailable, Unauthorized

TOKEN_KEY = f"wd:wechat:{wechat_sandbox.SANDBOX_APPID}_access_token"


def _redis(app: Flask) -> redis_lib.Redis:
    return app.extensions["wagedispute.redis"]


def test_sandbox_code_signs_in_as_its_openid(app: Flask) -> None:
    assert wechat.sandbox_active()
    session = wechat.code_to_session("sandbox:o-worker-1")
    assert session == wechat.WechatSession(openid="o-worker-1", unionid=None)


def test_invalid_code_is_unauthorized(app: Flask) -> None:
    with pytest.raises(Unauthorized) as caught:
        wechat.code_to_session("not-a-sandbox-code")
    assert caught.value.code == "wechat_code_invalid"
    assert caught.value.status == 401


def test_session_key_never_leaves_the_wechat_module(app: Flask) -> None:
    seen: list[dict[str, Any]] = []

    def capture(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if "jscode2session" in response.url:
            seen.append(response.json())

    http = wechat.get_client()._http
    http.hooks["response"].append(capture)
    try:
        session = wechat.code_to_session("sandbox:o-worker-2")
    finally:
        http.hooks["response"].remove(capture)
    session_key = seen[0]["session_key"]
    assert session_key
    assert set(dataclasses.asdict(session)) == {"openid", "unionid"}
    assert session_key not in repr(session)
    assert session_key.encode() not in b"".join(_all_redis_values(_redis(app)))


def _all_redis_values(connection: redis_lib.Redis) -> list[bytes]:
    values: list[bytes] = []
    for key in connection.keys("*"):
        kind = connection.type(key)
        if kind == b"string":
            values.append(connection.get(key) or b"")
        elif kind == b"list":
            values.extend(connection.lrange(key, 0, -1))
        elif kind == b"hash":
            values.extend(connection.hgetall(key).values())
    return values


def test_access_token_is_cached_in_redis_under_our_prefix(app: Flask) -> None:
    wechat.code_to_session("sandbox:o-worker-1")
    wechat.code_to_session("sandbox:o-worker-1")
    connection = _redis(app)
    assert wechat_sandbox.token_calls(connection) == 1
    assert connection.get(TOKEN_KEY)
    assert 0 < connection.ttl(TOKEN_KEY) <= 7200


def test_two_apps_share_one_access_token(app: Flask, make_app) -> None:
    first, second = make_app(), make_app()
    with first.app_context():
        assert wechat.code_to_session("sandbox:o-a").openid == "o-a"
    with second.app_context():
        assert wechat.code_to_session("sandbox:o-b").openid == "o-b"
    assert wechat.get_client() is not None
    assert first.extensions[wechat.EXTENSION] is not second.extensions[wechat.EXTENSION]
    assert wechat_sandbox.token_calls(_redis(app)) == 1


def test_threads_racing_on_an_empty_cache_make_one_token_call(app: Flask, make_app) -> None:
    # A slow token endpoint holds the race window open: without the lock every app would fetch.
    wechat_sandbox.set_token_delay(_redis(app), 300)
    apps = [make_app() for _ in range(4)]
    barrier = threading.Barrier(len(apps))
    openids: list[str] = []
    failures: list[BaseException] = []

    def sign_in(other: Flask, index: int) -> None:
        try:
            with other.app_context():
                barrier.wait(timeout=30)
                openids.append(wechat.code_to_session(f"sandbox:o-{index}").openid)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            failures.append(exc)

    threads = [threading.Thread(target=sign_in, args=(a, i)) for i, a in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert sorted(openids) == [f"o-{i}" for i in range(4)]
    assert wechat_sandbox.token_calls(_redis(app)) == 1


CHILD = textwrap.dedent(
    """
    import sys, time
    from wagedispute import create_app
    from wagedispute.platform import wechat
    app = create_app({"DATABASE_URL": "sqlite://", "REDIS_URL": sys.argv[1],
                      "SECRET_KEY": "test", "INSTANCE_PATH": sys.argv[2],
                      "WECHAT_SANDBOX": True})
    with app.app_context():
        connection = app.extensions["wagedispute.redis"]
        connection.incr("wd:test:ready")
        deadline = time.monotonic() + 60
        while not connection.exists("wd:test:go") and time.monotonic() < deadline:
            time.sleep(0.01)
        print(wechat.code_to_session("sandbox:o-process").openid)
    """
)


def test_processes_racing_on_an_empty_cache_make_one_token_call(
    redis_url: str, tmp_path: Path
) -> None:
    connection = redis_lib.Redis.from_url(redis_url)
    try:
        connection.flushdb()
        wechat_sandbox.set_token_delay(connection, 300)
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, redis_url, str(tmp_path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        deadline = time.monotonic() + 60
        while int(connection.get("wd:test:ready") or 0) < len(children):
            assert time.monotonic() < deadline, "children did not start"
            time.sleep(0.05)
        connection.set("wd:test:go", 1)
        outputs = [child.communicate(timeout=90) for child in children]
        assert [child.returncode for child in children] == [0] * len(children), outputs
        assert [out.strip() for out, _ in outputs] == ["o-process"] * len(children)
        assert wechat_sandbox.token_calls(connection) == 1
    finally:
        connection.flushdb()
        connection.close()


def test_an_access_token_the_sandbox_forgot_is_refreshed_once(app: Flask) -> None:
    wechat.code_to_session("sandbox:o-1")
    connection = _redis(app)
    # WeChat revokes a token (40001): wechatpy refreshes and retries, through our lock.
    for key in connection.keys(wechat_sandbox.KEY_PREFIX + "token:*"):
        connection.delete(key)
    wechat.send_subscribe_message("o-1", "tpl-dispatch", {"thing1": "案件已分派"})
    assert wechat_sandbox.token_calls(connection) == 2
    assert len(wechat.sandbox_sent_messages()) == 1


def test_wxacode_is_a_png_that_decodes_to_the_scene(app: Flask, tmp_path: Path) -> None:
    scene = "Ab3-x_9.~!*'()"
    png = wechat.get_wxacode_unlimited(scene, page="pages/report/index")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    path = tmp_path / "code.png"
    path.write_bytes(png)
    decoded = subprocess.run(
        ["zbarimg", "--raw", "-q", str(path)], capture_output=True, text=True, check=True
    )
    assert decoded.stdout.strip() == scene


@pytest.mark.parametrize("scene", ["x" * 33, "含中文", "with space", ""])
def test_wxacode_with_an_invalid_scene_is_refused(app: Flask, scene: str) -> None:
    with pytest.raises(DomainError) as caught:
        wechat.get_wxacode_unlimited(scene)
    assert caught.value.code == "wechat_scene_invalid"


def _staff_client(app: Flask) -> Any:
    """A test client signed in to the console as the demo supervisor."""
    client = app.test_client()
    page = client.get("/console/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/console/sign-in",
        data={"username": "supervisor", "password": "demo-supervisor-2026", "csrf_token": token},
    )
    assert answer.status_code == 302
    return client


def test_sent_subscribe_message_is_listed_on_the_dev_pages(app: Flask, district) -> None:
    client = _staff_client(app)
    wechat.send_subscribe_message(
        "o-team-7", "tpl-dispatch", {"thing1": "海景花园欠薪案", "time2": "2026-01-20 10:00"}
    )
    wechat.send_subscribe_message("o-worker-1", "tpl-resolved", {"thing1": "已办结"}, page="p/c")
    listed = client.get("/dev/wechat.json")
    assert listed.status_code == 200
    messages = listed.get_json()["messages"]
    assert [m["touser"] for m in messages] == ["o-worker-1", "o-team-7"]
    assert messages[1]["template_id"] == "tpl-dispatch"
    assert messages[1]["data"]["thing1"] == {"value": "海景花园欠薪案"}
    assert messages[0]["page"] == "p/c"
    page = client.get("/dev/wechat")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("o-team-7", "tpl-dispatch", "海景花园欠薪案", "o-worker-1", "已办结"):
        assert text in html


def test_dev_page_escapes_what_was_sent(app: Flask, district) -> None:
    wechat.send_subscribe_message("o-1", "tpl", {"thing1": "<script>alert(1)</script>"})
    html = _staff_client(app).get("/dev/wechat").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_refused_subscription_maps_to_subscription_refused(app: Flask) -> None:
    with pytest.raises(wechat.WechatSendError) as caught:
        wechat.send_subscribe_message("refuse-o-9", "tpl-dispatch", {"thing1": "x"})
    assert caught.value.code == "subscription_refused"
    assert caught.value.details == {"errcode": 43101}
    assert not caught.value.retryable
    assert wechat.sandbox_sent_messages() == []


def test_subscribe_message_without_data_is_refused_with_wechats_errcode(app: Flask) -> None:
    with pytest.raises(wechat.WechatSendError) as caught:
        wechat.send_subscribe_message("o-1", "tpl-dispatch", {})
    assert caught.value.details == {"errcode": 47003}


def test_phone_number_code_returns_the_number(app: Flask) -> None:
    assert wechat.get_phone_number("sandbox-phone:13800138000") == "13800138000"
    with pytest.raises(DomainError) as caught:
        wechat.get_phone_number("forged")
    assert caught.value.code == "wechat_phone_code_invalid"


def test_sandbox_dev_pages_need_a_console_session(app: Flask, client) -> None:
    wechat.send_subscribe_message("o-secret-openid", "tpl", {"thing1": "某工地"})
    for path in ("/dev/wechat", "/dev/wechat.json"):
        answer = client.get(path)
        assert answer.status_code == 302
        assert "/console/sign-in" in answer.headers["Location"]
        assert b"o-secret-openid" not in answer.get_data()


def test_sandbox_with_half_the_credentials_refuses_to_start(make_app) -> None:
    for half in ({"WECHAT_APPID": "wx1234567890abcdef"}, {"WECHAT_SECRET": "s"}):
        with pytest.raises(wechat.WechatSettingsError, match="half of the WeChat credentials"):
            make_app(WECHAT_SANDBOX=False, **half)


def test_sandbox_beside_a_real_credential_refuses_to_start(make_app) -> None:
    for one in ({"WECHAT_APPID": "wx1234567890abcdef"}, {"WECHAT_SECRET": "s"}):
        with pytest.raises(wechat.WechatSettingsError, match="WECHAT_SANDBOX is on"):
            make_app(WECHAT_SANDBOX=True, **one)


def test_sandbox_is_off_unless_switched_on(make_app) -> None:
    bare = make_app(WECHAT_SANDBOX=False)
    with bare.app_context():
        assert not wechat.sandbox_active()
        # No sandbox, no credentials: refused at once, without a call to anyone.
        with pytest.raises(ServiceUnavailable) as caught:
            wechat.code_to_session("sandbox:o-anyone")
        assert caught.value.code == "wechat_not_configured"
    assert wechat.EXTENSION not in bare.extensions
    assert bare.test_client().get("/dev/wechat").status_code == 404


def test_dev_pages_are_404_with_real_credentials(app: Flask, make_app) -> None:
    real = make_app(WECHAT_SANDBOX=False, WECHAT_APPID="wx1234567890abcdef", WECHAT_SECRET="s")
    web = real.test_client()
    assert web.get("/dev/wechat").status_code == 404
    answer = web.get("/dev/wechat.json")
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"
    with real.app_context():
        assert not wechat.sandbox_active()
    # Nothing was built or called: no client, no token.
    assert wechat.EXTENSION not in real.extensions
    assert wechat_sandbox.token_calls(_redis(app)) == 0


class _Unreachable(requests.adapters.BaseAdapter):
    """Stands in for a network where WeChat cannot be reached; remembers the timeouts asked."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[Any] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.timeouts.append(timeout)
        raise requests.ConnectTimeout("WeChat unreachable", request=request)

    def close(self) -> None:
        pass


def test_unreachable_wechat_is_service_unavailable_and_every_call_has_a_timeout(
    app: Flask, make_app
) -> None:
    real = make_app(
        WECHAT_SANDBOX=False,
        WECHAT_APPID="wx1234567890abcdef",
        WECHAT_SECRET="s",
        WECHAT_TIMEOUT_SECONDS=2.5,
    )
    with real.app_context():
        client = wechat.get_client()
        network = _Unreachable()
        client._http.mount("https://", network)
        with pytest.raises(ServiceUnavailable) as caught:
            wechat.code_to_session("any-code")
        assert caught.value.code == "wechat_unavailable"
        # A token exists now, so the next call goes to the API itself.
        _redis(real).set("wd:wechat:wx1234567890abcdef_access_token", json.dumps("t"), ex=60)
        with pytest.raises(ServiceUnavailable):
            wechat.send_subscribe_message("o-1", "tpl", {"thing1": "x"})
    assert network.timeouts == [2.5, 2.5]
