"""Complainant sign-in: a mini-program ``wx.login`` code becomes our own bearer token."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from wagedispute.access.actors import Actor
from wagedispute.access.tokens import issue_token
from wagedispute.models import Complainant, Role
from wagedispute.platform.database import db
from wagedispute.platform.wechat import code_to_session, get_phone_number

log = logging.getLogger(__name__)


def _find(openid: str) -> Complainant | None:
    return db.session.scalars(
        sa.select(Complainant).where(Complainant.openid == openid)
    ).one_or_none()


def sign_in_complainant(js_code: str) -> tuple[str, Actor]:
    """code2Session, then find or create the complainant by openid, then issue our token.

    The session_key stays on the server (it is not even kept): the client only ever gets our
    signed, expiring token.
    """
    session = code_to_session(js_code)
    complainant = _find(session.openid)
    if complainant is None:
        try:
            complainant = Complainant(openid=session.openid)
            db.session.add(complainant)
            db.session.commit()
        except IntegrityError:
            # Two first sign-ins at once: the other one created the row.
            db.session.rollback()
            complainant = _find(session.openid)
            if complainant is None:
                raise
    actor = Actor(Role.COMPLAINANT, complainant.id)
    log.info("complainant %s signed in", complainant.id)
    return issue_token(actor), actor


def verified_mobile(actor: Actor, phone_code: str) -> str:
    """The mobile number WeChat verified for the signed-in person (``getPhoneNumber`` code).

    Only handed back to that person, to fill in their own form; it is not stored here.
    """
    number = get_phone_number(phone_code)
    log.info("%s %s exchanged a phone code", actor.role.value, actor.id)
    return number
