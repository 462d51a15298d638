"""WeChat message push: verify and record callbacks quickly, apply them later from the outbox."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import redis
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from wagedispute.messaging.outbox import stage_outbox
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    Complainant,
    EventKind,
    Outbox,
    OutboxState,
    Role,
    SubscriptionConsent,
)
from wagedispute.platform import wechat
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import NotFound, ServiceUnavailable
from wagedispute.platform.queues import get_redis

log = logging.getLogger(__name__)

TOPIC = "wechat_push"
# WeChat's pushes carry a timestamp; older or newer than this is refused as stale or forged.
MAX_CLOCK_SKEW_SECONDS = 300
# Remember nonces for longer than the window, so a replay is refused for as long as it could pass.
NONCE_TTL_SECONDS = 2 * MAX_CLOCK_SKEW_SECONDS
MSGID_TTL_SECONDS = 3 * 24 * 3600
REPLAY_PREFIX = "wd:push:"
CONSENT_EVENTS = ("subscribe_msg_popup_event", "subscribe_msg_change_event")
CONSENT_CONTAINERS = ("SubscribeMsgPopupEvent", "SubscribeMsgChangeEvent")
MAX_WORKER_MESSAGE_CHARS = 2000


def now() -> float:
    """The current Unix time (tests replace it to replay WeChat's 2014 sample)."""
    return time.time()


def _push_settings() -> tuple[str, str, str]:
    config = current_app.config
    token, aes_key = config.get("WECHAT_PUSH_TOKEN"), config.get("WECHAT_PUSH_AES_KEY")
    if not token or not aes_key:
        # Not configured: the endpoint does not exist.
        raise NotFound()
    return token, aes_key, config.get("WECHAT_APPID") or ""


def verify_push_endpoint(signature: str, timestamp: str, nonce: str, echostr: str) -> str:
    """WeChat's GET check of the callback URL: the ``echostr`` to echo when signed by us."""
    token, _, _ = _push_settings()
    if not echostr or not wechat.check_push_signature(token, signature, timestamp, nonce):
        raise wechat.PushRejected("推送地址校验失败", code="push_signature_invalid")
    return echostr


def receive_push(
    body: bytes, *, msg_signature: str, timestamp: str, nonce: str, encrypt_type: str
) -> int:
    """Verify one safe-mode push (signature, appid, age, replay) and queue it; the outbox id."""
    token, aes_key, appid = _push_settings()
    if encrypt_type != "aes" or not msg_signature or not nonce:
        raise wechat.PushRejected("仅接受安全模式推送", code="push_not_encrypted", status=400)
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise wechat.PushRejected("推送消息格式有误", code="push_malformed", status=400) from exc
    if abs(now() - sent_at) > MAX_CLOCK_SKEW_SECONDS:
        raise wechat.PushRejected("推送消息已过期", code="push_stale")
    message = wechat.decrypt_push(
        body,
        token=token,
        aes_key=aes_key,
        appid=appid,
        msg_signature=msg_signature,
        timestamp=timestamp,
        nonce=nonce,
    )
    # Only a correctly signed request may use up a nonce, or forgeries could block real pushes.
    keys = [(f"{REPLAY_PREFIX}nonce:{timestamp}:{nonce}", NONCE_TTL_SECONDS)]
    if message.get("MsgId"):
        keys.append((f"{REPLAY_PREFIX}msg:{message['MsgId']}", MSGID_TTL_SECONDS))
    connection = get_redis()
    claimed: list[str] = []
    try:
        for key, ttl in keys:
            if not connection.set(key, 1, nx=True, ex=ttl):
                break
            claimed.append(key)
    except redis.RedisError as exc:
        _release(connection, claimed)
        raise ServiceUnavailable() from exc
    if len(claimed) < len(keys):
        _release(connection, claimed)
        raise wechat.PushRejected("重复的推送消息", code="push_replayed", status=409)
    try:
        return record_push_message(message)
    except Exception:
        # Not recorded: let WeChat's retry through.
        _release(connection, claimed)
        raise


def _release(connection: redis.Redis, keys: list[str]) -> None:
    if keys:
        try:
            connection.delete(*keys)
        except redis.RedisError:
            log.warning("push: could not release replay keys")


def _dedupe_key(message: dict[str, Any]) -> str:
    if message.get("MsgId"):
        return f"{TOPIC}:msg:{message['MsgId']}"
    canonical = json.dumps(message, sort_keys=True, ensure_ascii=False)
    return f"{TOPIC}:sha256:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def record_push_message(message: dict[str, Any]) -> int:
    """Write a decrypted push to the outbox (once per message) and commit; the outbox id."""
    key = _dedupe_key(message)
    existing = db.session.scalar(sa.select(Outbox.id).where(Outbox.dedupe_key == key))
    if existing is not None:
        return existing
    try:
        with unit_of_work():
            row = stage_outbox(TOPIC, key, {"message": message})
    except IntegrityError:
        # Another process recorded the same message first: theirs is ours.
        return db.session.scalars(sa.select(Outbox.id).where(Outbox.dedupe_key == key)).one()
    log.info(
        "push: recorded outbox %s (%s)", row.id, message.get("Event") or message.get("MsgType")
    )
    return row.id


def apply_push_message(outbox_id: int) -> None:
    """Apply a recorded push: consent events and workers' messages; running twice is harmless."""
    row = db.session.get(Outbox, outbox_id, with_for_update=True)
    if row is None or row.topic != TOPIC:
        raise NotFound()
    if row.state == OutboxState.DONE:
        db.session.rollback()
        return
    message = row.payload.get("message") or {}
    row.last_error = None
    if message.get("MsgType") == "event" and message.get("Event") in CONSENT_EVENTS:
        _record_consents(message)
    elif message.get("MsgType") == "text" and not _record_worker_message(message):
        row.last_error = "no open case for the sender"
    row.state = OutboxState.DONE
    row.done_at = utcnow()
    db.session.commit()


def _consent_items(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-template choices, wherever the JSON or XML format put them."""
    found = message.get("List")
    for container in CONSENT_CONTAINERS:
        if found is None and isinstance(message.get(container), dict):
            found = message[container].get("List")
    if isinstance(found, dict):
        found = [found]
    return [item for item in found or [] if isinstance(item, dict)]


def _record_consents(message: dict[str, Any]) -> None:
    openid = message.get("FromUserName")
    if not openid:
        return
    for item in _consent_items(message):
        template = item.get("TemplateId")
        if not template:
            continue
        accepted = item.get("SubscribeStatusString") == "accept"
        consent = db.session.scalars(
            sa.select(SubscriptionConsent)
            .where(SubscriptionConsent.openid == openid, SubscriptionConsent.template == template)
            .with_for_update()
        ).one_or_none()
        if consent is None:
            consent = SubscriptionConsent(openid=openid, template=template, remaining=0)
            db.session.add(consent)
        # Each "accept" of a one-time template allows one more message; "reject" allows none.
        consent.remaining = (consent.remaining or 0) + 1 if accepted else 0
        consent.accepted = accepted
        consent.updated_at = utcnow()


def _record_worker_message(message: dict[str, Any]) -> bool:
    openid = message.get("FromUserName")
    complainant = db.session.scalars(
        sa.select(Complainant).where(Complainant.openid == openid)
    ).one_or_none()
    if not openid or complainant is None:
        return False
    case = db.session.scalars(
        sa.select(Case)
        .where(Case.complainant_id == complainant.id, Case.status.in_(OPEN_STATUSES))
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(1)
    ).one_or_none()
    if case is None:
        return False
    text = str(message.get("Content") or "")[:MAX_WORKER_MESSAGE_CHARS]
    db.session.add(
        CaseEvent(
            case_id=case.id,
            kind=EventKind.WORKER_MESSAGE,
            actor_role=Role.COMPLAINANT,
            actor_id=complainant.id,
            data={"text": text, "msg_id": str(message.get("MsgId") or "")},
            worker_visible=True,
        )
    )
    return True
