"""The message-push callback: WeChat's official safe-mode sample and our own encrypted pushes."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
import xmltodict
from flask import Flask
from wechatpy.crypto import WeChatCrypto

from wagedispute.access.actors import Actor
from wagedispute.cases.lifecycle import transition_case
from wagedispute.messaging import push
from wagedispute.models import (
    CaseEvent,
    CaseStatus,
    Complainant,
    Outbox,
    OutboxState,
    Role,
    SubscriptionConsent,
)
from wagedispute.platform.database import db

# WeChat's WXBizMsgCrypt sample (../shared/TECH-NOTES.md).
TOKEN = "spamtest"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx2c2769f8efd9abc2"
SAMPLE_TIMESTAMP = "1409735669"
SAMPLE_NONCE = "1320562132"
SAMPLE_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQ"
    "HFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tE"
    "DYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3y"
    "ZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl"
    "+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
SAMPLE_BODY = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
    f"<Encrypt><![CDATA[{SAMPLE_ENCRYPT}]]></Encrypt></xml>"
)


@pytest.fixture
def push_app(make_app) -> Flask:
    """An app with the sample's push token, key and appid configured: a real credential set, so
    the WeChat sandbox is off (push handling makes no call to WeChat)."""
    return make_app(
        WECHAT_PUSH_TOKEN=TOKEN,
        WECHAT_PUSH_AES_KEY=AES_KEY,
        WECHAT_APPID=APPID,
        WECHAT_SECRET="push-test-secret",
        WECHAT_SANDBOX=False,
    )


@pytest.fixture
def sample_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend it is a few seconds after the 2014 sample was sent."""
    monkeypatch.setattr(push, "now", lambda: int(SAMPLE_TIMESTAMP) + 3)


def _post_sample(app: Flask, **changes: str):
    args = {
        "timestamp": SAMPLE_TIMESTAMP,
        "nonce": SAMPLE_NONCE,
        "msg_signature": SAMPLE_SIGNATURE,
        "encrypt_type": "aes",
        "signature": "ignored-in-safe-mode",
    }
    body = changes.pop("body", SAMPLE_BODY)
    args.update(changes)
    return app.test_client().post(
        "/wechat/push", query_string=args, data=body.encode(), content_type="text/xml"
    )


def _outbox_rows(app: Flask) -> list[Outbox]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                sa.select(Outbox).where(Outbox.topic == push.TOPIC).order_by(Outbox.id)
            )
        )
        db.session.expunge_all()
        return rows


def test_official_sample_is_accepted_and_queued(app: Flask, push_app: Flask, sample_clock) -> None:
    answer = _post_sample(push_app)
    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == "success"
    [row] = _outbox_rows(push_app)
    assert row.topic == "wechat_push"
    assert row.state == OutboxState.PENDING
    assert row.dedupe_key == "wechat_push:msg:6054768590064713728"
    message = row.payload["message"]
    assert message["MsgType"] == "text"
    assert message["Content"] == "abcdteT"
    assert message["FromUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert message["ToUserName"] == "gh_10f6c3c3ac5a"


def test_sample_from_an_unknown_sender_is_applied_without_a_case(
    app: Flask, push_app: Flask, sample_clock
) -> None:
    _post_sample(push_app)
    [row] = _outbox_rows(push_app)
    with push_app.app_context():
        push.apply_push_message(row.id)
        done = db.session.get(Outbox, row.id)
        assert done.state == OutboxState.DONE
        assert done.last_error == "no open case for the sender"
        assert db.session.scalar(sa.select(sa.func.count(CaseEvent.id))) == 0


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"msg_signature": "0" * 40}, 403, "push_signature_invalid"),
        ({"timestamp": "1409735670"}, 403, "push_signature_invalid"),
        ({"nonce": "1320562133"}, 403, "push_signature_invalid"),
        (
            {"body": SAMPLE_BODY.replace("hyzAe4", "hyzAe5")},
            403,
            "push_signature_invalid",
        ),
        ({"encrypt_type": ""}, 400, "push_not_encrypted"),
        ({"msg_signature": ""}, 400, "push_not_encrypted"),
        ({"body": "<xml><Encrypt>"}, 400, "push_malformed"),
        ({"body": "{}"}, 400, "push_malformed"),
        ({"timestamp": "soon"}, 400, "push_malformed"),
    ],
)
def test_forged_or_malformed_push_is_refused_and_changes_nothing(
    app: Flask, push_app: Flask, sample_clock, changes: dict[str, str], status: int, code: str
) -> None:
    answer = _post_sample(push_app, **changes)
    assert answer.status_code == status
    assert answer.get_json()["error"]["code"] == code
    assert _outbox_rows(push_app) == []
    # The refusal used up nothing: the genuine push still goes through.
    assert _post_sample(push_app).status_code == 200


def test_push_for_another_appid_is_refused(app: Flask, make_app, sample_clock) -> None:
    other = make_app(
        WECHAT_PUSH_TOKEN=TOKEN,
        WECHAT_PUSH_AES_KEY=AES_KEY,
        WECHAT_APPID="wx0000000000000000",
        WECHAT_SECRET="push-test-secret",
        WECHAT_SANDBOX=False,
    )
    answer = _post_sample(other)
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "push_appid_invalid"
    assert _outbox_rows(other) == []


def test_stale_push_is_refused(app: Flask, push_app: Flask) -> None:
    # No test clock: the sample's 2014 timestamp is far outside the five-minute window.
    answer = _post_sample(push_app)
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "push_stale"
    assert _outbox_rows(push_app) == []


def test_push_from_the_future_is_refused(
    app: Flask, push_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push, "now", lambda: int(SAMPLE_TIMESTAMP) - 301)
    assert _post_sample(push_app).get_json()["error"]["code"] == "push_stale"


def test_replayed_push_is_refused(app: Flask, push_app: Flask, sample_clock) -> None:
    assert _post_sample(push_app).status_code == 200
    again = _post_sample(push_app)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "push_replayed"
    assert len(_outbox_rows(push_app)) == 1


def test_push_is_404_when_not_configured(app: Flask, client) -> None:
    answer = client.post("/wechat/push", query_string={"encrypt_type": "aes"}, data=SAMPLE_BODY)
    assert answer.status_code == 404
    assert client.get("/wechat/push", query_string={"echostr": "x"}).status_code == 404


def _plain_signature(timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()


def test_url_verification_echoes_echostr(app: Flask, push_app: Flask) -> None:
    args = {"timestamp": "1700000000", "nonce": "42", "echostr": "echo-7731"}
    web = push_app.test_client()
    answer = web.get(
        "/wechat/push", query_string={**args, "signature": _plain_signature("1700000000", "42")}
    )
    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == "echo-7731"
    forged = web.get("/wechat/push", query_string={**args, "signature": "f" * 40})
    assert forged.status_code == 403
    assert forged.get_json()["error"]["code"] == "push_signature_invalid"


def _json_push(app: Flask, message: dict[str, Any], nonce: str = "n-1"):
    """Encrypt ``message`` as WeChat does and POST it in the mini-program's JSON format."""
    timestamp = str(int(time.time()))
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    envelope = xmltodict.parse(
        crypto.encrypt_message(json.dumps(message, ensure_ascii=False), nonce, timestamp)
    )["xml"]
    body = {"ToUserName": "gh_10f6c3c3ac5a", "Encrypt": envelope["Encrypt"]}
    return app.test_client().post(
        "/wechat/push",
        query_string={
            "timestamp": timestamp,
            "nonce": nonce,
            "msg_signature": envelope["MsgSignature"],
            "encrypt_type": "aes",
        },
        json=body,
    )


def _consents(app: Flask) -> dict[str, tuple[bool, int]]:
    with app.app_context():
        return {
            c.template: (c.accepted, c.remaining)
            for c in db.session.scalars(sa.select(SubscriptionConsent))
        }


def test_subscribe_popup_event_records_consent_per_template(app: Flask, push_app: Flask) -> None:
    event = {
        "ToUserName": "gh_10f6c3c3ac5a",
        "FromUserName": "o-worker-1",
        "CreateTime": int(time.time()),
        "MsgType": "event",
        "Event": "subscribe_msg_popup_event",
        "List": [
            {"TemplateId": "tpl-dispatch", "SubscribeStatusString": "accept", "PopupScene": "0"},
            {"TemplateId": "tpl-resolved", "SubscribeStatusString": "reject", "PopupScene": "0"},
        ],
    }
    assert _json_push(push_app, event).get_data(as_text=True) == "success"
    [row] = _outbox_rows(push_app)
    assert row.dedupe_key.startswith("wechat_push:sha256:")
    with push_app.app_context():
        push.apply_push_message(row.id)
        push.apply_push_message(row.id)  # a retried job changes nothing more
    assert _consents(push_app) == {"tpl-dispatch": (True, 1), "tpl-resolved": (False, 0)}

    change = {
        **event,
        "Event": "subscribe_msg_change_event",
        "List": {"TemplateId": "tpl-dispatch", "SubscribeStatusString": "reject"},
    }
    _json_push(push_app, change, nonce="n-2")
    row_id = _outbox_rows(push_app)[-1].id
    with push_app.app_context():
        push.apply_push_message(row_id)
    assert _consents(push_app) == {"tpl-dispatch": (False, 0), "tpl-resolved": (False, 0)}


def test_worker_text_message_lands_on_the_latest_open_case(
    app: Flask, push_app: Flask, make_case
) -> None:
    worker = Complainant(openid="o-worker-1")
    db.session.add(worker)
    db.session.commit()
    # Ids only: this session's objects must not be refreshed inside the other app's context.
    older = make_case(complainant_id=worker.id).id
    newer = make_case(complainant_id=worker.id).id
    withdrawn = make_case(complainant_id=worker.id).id
    transition_case(withdrawn, CaseStatus.WITHDRAWN, Actor(Role.COMPLAINANT, worker.id))
    message = {
        "ToUserName": "gh_10f6c3c3ac5a",
        "FromUserName": "o-worker-1",
        "CreateTime": int(time.time()),
        "MsgType": "text",
        "Content": "老板说下周发，但已经拖了三个月",
        "MsgId": 7001,
    }
    assert _json_push(push_app, message).status_code == 200
    # The same message again (WeChat retries with a new nonce) is a replay by its MsgId.
    assert _json_push(push_app, message, nonce="n-2").status_code == 409
    [row] = _outbox_rows(push_app)
    with push_app.app_context():
        push.apply_push_message(row.id)
        push.apply_push_message(row.id)
        events = list(
            db.session.scalars(sa.select(CaseEvent).where(CaseEvent.kind == "worker_message"))
        )
        assert [(e.case_id, e.worker_visible, e.data["text"]) for e in events] == [
            (newer, True, "老板说下周发，但已经拖了三个月")
        ]
        assert db.session.get(Outbox, row.id).last_error is None
    assert older < newer < withdrawn


def test_recording_the_same_message_twice_keeps_one_outbox_row(app: Flask) -> None:
    message = {"MsgType": "text", "FromUserName": "o-1", "Content": "hi", "MsgId": "9"}
    first = push.record_push_message(message)
    assert push.record_push_message(dict(message)) == first
    assert db.session.scalar(sa.select(sa.func.count(Outbox.id))) == 1  # nothing else wrote one
