"""Complaint intake: the validated input models and the one ``submit_complaint`` unit of work."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import phonenumbers
import sqlalchemy as sa
from flask import current_app
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy.exc import IntegrityError
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError as StdnumError

from wagedispute.access.actors import Actor
from wagedispute.cases.grouping import assign_group, normalise_name
from wagedispute.cases.lifecycle import open_case
from wagedispute.cases.numbering import next_case_number
from wagedispute.intake.qrcodes import resolve_qr_token
from wagedispute.intake.triage import TriageFacts, suggest_urgency
from wagedispute.models import (
    OPEN_STATUSES,
    Case,
    CaseStatus,
    Channel,
    Complainant,
    Foreman,
    IdempotencyRecord,
    QrCode,
    Role,
)
from wagedispute.platform.database import db, unit_of_work
from wagedispute.platform.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from wagedispute.platform.pii import PiiVault, mask_id_number, mask_mobile
from wagedispute.platform.timekeeping import db_now, district_today
from wagedispute.platform.validation import SafeText, WholeNumber

log = logging.getLogger(__name__)

MAX_AMOUNT_FEN = 10_000_000_000  # 1 亿元: above this a figure is a typo, not a wage claim.
MAX_WORKERS = 10_000
ACCESS_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read over a phone.
ACCESS_CODE_LENGTH = 8

EmployerRole = Literal["建设单位", "总包", "分包", "班组"]


def _today() -> date:
    # Dates people type are dates in the district, not in UTC.
    return district_today()


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


class EmployerIn(BaseModel):
    """One link of the employer chain, with an optional 统一社会信用代码."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    role: EmployerRole = Field(description="建设单位 / 总包 / 分包 / 班组")
    name: SafeText = Field(min_length=1, max_length=128, description="单位或班组名称")
    uscc: str | None = Field(default=None, description="统一社会信用代码（18 位，可不填）")

    @field_validator("uscc", mode="before")
    @classmethod
    def _uscc_blank(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("uscc")
    @classmethod
    def _uscc_valid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return uscc.validate(value.upper())
        except StdnumError as exc:
            raise PydanticCustomError("uscc_invalid", "统一社会信用代码无效，请核对") from exc


class ComplaintIn(BaseModel):
    """A worker's complaint as submitted by the mini-program, the H5 form or a foreman."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: SafeText = Field(min_length=1, max_length=32, description="投诉人姓名")
    mobile: str = Field(min_length=5, max_length=20, description="手机号码（中国大陆）")
    id_number: str | None = Field(default=None, description="居民身份证号码（可不填）")
    site_name: SafeText | None = Field(
        default=None, max_length=128, description="工地名称；不填则用二维码绑定的工地"
    )
    site_address: SafeText | None = Field(default=None, max_length=255, description="工地地址")
    employers: list[EmployerIn] = Field(default_factory=list, max_length=8)
    workers_affected: WholeNumber = Field(ge=1, le=MAX_WORKERS, description="被欠薪人数")
    amount_owed_fen: WholeNumber = Field(ge=0, le=MAX_AMOUNT_FEN, description="欠薪金额（分）")
    period_start: date | None = Field(default=None, description="欠薪起始日期")
    period_end: date | None = Field(default=None, description="欠薪截止日期")
    description: SafeText = Field(default="", max_length=2000, description="情况说明")
    consent_disclose_identity: bool = Field(
        default=False, description="是否同意向用人单位披露投诉人身份（默认不同意）"
    )
    qr_token: str | None = Field(default=None, max_length=64, description="工长二维码令牌")

    @field_validator("id_number", "site_name", "site_address", "qr_token", mode="before")
    @classmethod
    def _blanks(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("mobile")
    @classmethod
    def _mobile_valid(cls, value: str) -> str:
        try:
            number = phonenumbers.parse(value, "CN")
        except phonenumbers.NumberParseException as exc:
            raise PydanticCustomError("mobile_invalid", "手机号码格式不正确") from exc
        mobile_types = {
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        }
        if (
            number.country_code != 86
            or not phonenumbers.is_valid_number(number)
            or phonenumbers.number_type(number) not in mobile_types
        ):
            raise PydanticCustomError("mobile_invalid", "请填写有效的中国大陆手机号码")
        return str(number.national_number)

    @field_validator("id_number")
    @classmethod
    def _id_number_valid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return ric.validate(value.upper())
        except StdnumError as exc:
            raise PydanticCustomError("id_number_invalid", "身份证号码无效，请核对") from exc

    @field_validator("period_start")
    @classmethod
    def _start_not_future(cls, value: date | None) -> date | None:
        if value is not None and value > _today():
            raise PydanticCustomError("date_in_future", "日期不能晚于今天")
        return value

    @field_validator("period_end")
    @classmethod
    def _end_valid(cls, value: date | None, info: ValidationInfo) -> date | None:
        if value is None:
            return None
        if value > _today():
            raise PydanticCustomError("date_in_future", "日期不能晚于今天")
        start = info.data.get("period_start")
        if start is not None and value < start:
            raise PydanticCustomError("period_reversed", "截止日期不能早于起始日期")
        return value


class ComplaintReceipt(BaseModel):
    """What the submitter gets back."""

    number: str = Field(description="案件编号，如 YT-2026-000123")
    status: str
    status_label: str
    urgency_reasons: list[str] = Field(default_factory=list)
    created: bool = Field(description="false：同一幂等键的重复提交，返回原案件")
    access_code: str | None = Field(default=None, description="仅网页表单：一次性查询码")


@dataclass
class IntakeResult:
    """The case a submission created or found again, and the web channel's access code.

    ``number``, ``status`` and ``urgency_reasons`` are read before the commit, so answering the
    request costs no reload of the case.
    """

    case: Case
    created: bool
    access_code: str | None = None
    number: str = ""
    status: CaseStatus = CaseStatus.RECEIVED
    urgency_reasons: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, case: Case, created: bool, access_code: str | None = None) -> IntakeResult:
        """Snapshot what the caller will answer with."""
        return cls(
            case=case,
            created=created,
            access_code=access_code,
            number=case.number,
            status=case.status,
            urgency_reasons=list(case.urgency_reasons or []),
        )


def canonical_hash(data: ComplaintIn) -> str:
    """sha256 of the validated body in a canonical JSON form (a retry must match it exactly)."""
    body = json.dumps(
        data.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _vault() -> PiiVault:
    return current_app.extensions["wagedispute.pii"]


def new_access_code() -> str:
    """A short code a worker can copy down: 8 characters, no look-alike letters."""
    return "".join(secrets.choice(ACCESS_CODE_ALPHABET) for _ in range(ACCESS_CODE_LENGTH))


def access_code_hash(number: str, code: str) -> str:
    """The keyed hash stored for an access code, bound to its case number."""
    return _vault().keyed_hash(f"access:{number}:{code}")


def submit_complaint(
    data: ComplaintIn,
    *,
    channel: Channel,
    actor: Actor | None,
    idempotency_key: str | None,
    intake_flags: list[dict[str, Any]] | None = None,
) -> IntakeResult:
    """Record a complaint as one transaction (complainant, number, triage, group, case, event,
    outbox, idempotency record); a retry with the same key returns the same case.

    ``intake_flags`` are optional fields that failed their check (the H5 form keeps them for
    staff instead of refusing the complaint)."""
    if channel not in {Channel.MINIPROGRAM, Channel.WEB, Channel.PHONE}:
        raise InvalidInput("不支持的投诉渠道", code="channel_invalid")
    body_hash = canonical_hash(data)
    scope: str | None = None
    try:
        with unit_of_work():
            complainant, scope = _complainant_and_scope(channel, actor)
            if idempotency_key:
                replay = _replay(scope, idempotency_key, body_hash, channel)
                if replay is not None:
                    return replay
            result = _create(data, channel, actor, complainant, scope, idempotency_key, body_hash)
            result.case.intake_flags = _kept_flags(intake_flags)
    except IntegrityError:
        # A concurrent request with the same key won the unique constraint: answer with its case.
        if idempotency_key and scope is not None:
            with unit_of_work():
                replay = _replay(scope, idempotency_key, body_hash, channel)
            if replay is not None:
                return replay
        raise
    log.info("complaint %s received via %s", result.number, channel.value)
    return result


def _kept_flags(flags: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Flags as stored: an ID number that failed its check is kept encrypted, never in clear."""
    kept = []
    for flag in flags or []:
        flag = dict(flag)
        if flag.get("field") == "id_number" and flag.get("value"):
            flag["value_encrypted"] = _vault().encrypt(str(flag.pop("value")))
        kept.append(flag)
    return kept


def _complainant_and_scope(channel: Channel, actor: Actor | None) -> tuple[Complainant | None, str]:
    """The signed-in complainant (mini-program) and whose idempotency keys these are."""
    if channel == Channel.MINIPROGRAM:
        if actor is None or actor.role != Role.COMPLAINANT or actor.id is None:
            raise Unauthorized()
        complainant = db.session.get(Complainant, actor.id)
        if complainant is None:
            raise Unauthorized("登录凭证无效，请重新登录", code="token_invalid")
        scope = f"openid:{complainant.openid}" if complainant.openid else f"c:{complainant.id}"
        return complainant, scope
    if channel == Channel.PHONE:
        if actor is None or actor.role != Role.FOREMAN or actor.id is None:
            raise Forbidden()
        return None, f"foreman:{actor.id}"
    return None, "web"


def _replay(scope: str, key: str, body_hash: str, channel: Channel) -> IntakeResult | None:
    """The case an earlier request with this key created, or None; another body is refused."""
    record = db.session.scalars(
        sa.select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    ).one_or_none()
    if record is None:
        return None
    # A web form sent again after Back (edited or not) answers with the case it already made.
    if record.request_hash != body_hash and channel != Channel.WEB:
        raise Conflict(
            "该幂等键已用于另一份不同的投诉，请为新投诉使用新的幂等键",
            code="idempotency_key_reused",
        )
    case = db.session.get(Case, record.case_id)
    if case is None:  # pragma: no cover - the foreign key forbids it
        raise NotFound()
    if channel != Channel.WEB:
        return IntakeResult.of(case, created=False)
    # The same code as the first time: a worker who copied it down keeps a working code.
    access_code = (
        _vault().decrypt(case.access_code_encrypted) if case.access_code_encrypted else None
    )
    return IntakeResult.of(case, created=False, access_code=access_code)


def _create(
    data: ComplaintIn,
    channel: Channel,
    actor: Actor | None,
    complainant: Complainant | None,
    scope: str,
    key: str | None,
    body_hash: str,
) -> IntakeResult:
    """Stage every row of a new complaint; the caller commits."""
    settings = current_app.config
    now = db_now()  # one "now" for the whole intake: created_at, grouping, triage and clocks
    qr: QrCode | None = None
    if data.qr_token:
        qr = resolve_qr_token(data.qr_token)
    elif channel != Channel.PHONE:
        raise InvalidInput("缺少工长二维码信息，请重新扫码", code="qr_token_required")

    if channel == Channel.PHONE:
        assert actor is not None
        foreman = db.session.get(Foreman, actor.id)
        if foreman is None or not foreman.active:
            raise Forbidden()
        if qr is not None and qr.foreman_id != foreman.id:
            raise InvalidInput("该二维码不属于您", code="qr_not_yours")
    else:
        assert qr is not None
        foreman = qr.foreman

    site_name = data.site_name or (qr.site_name if qr else None)
    if not site_name:
        raise InvalidInput(
            details=[{"field": "site_name", "problem": "missing", "message": "请填写工地名称"}]
        )
    site_address = data.site_address or (qr.site_address if qr else None)

    vault = _vault()
    mobile_hash = vault.keyed_hash(data.mobile)
    id_hash = vault.keyed_hash(data.id_number) if data.id_number else None
    earlier_unresolved = _has_open_case(mobile_hash, id_hash)

    # Numbers come from a sequence that locks nothing (``numbering``), so it is taken first and
    # the case is inserted with it: no placeholder, no second write of the row.
    number = next_case_number(db.session, settings["DISTRICT_CODE"], now)
    name_encrypted, mobile_encrypted = vault.encrypt(data.name), vault.encrypt(data.mobile)

    employers = [
        {
            "role": e.role,
            "name": e.name,
            "uscc": e.uscc,
            "name_key": normalise_name(e.name),
        }
        for e in data.employers
    ]
    case = Case(
        channel=channel,
        foreman_id=foreman.id,
        street_id=foreman.street_id,
        qr_code_id=qr.id if qr else None,
        number=number,
        site_name=site_name,
        site_address=site_address,
        employers=employers,
        workers_affected=data.workers_affected,
        amount_owed_fen=data.amount_owed_fen,
        period_start=data.period_start,
        period_end=data.period_end,
        description=data.description,
        consent_disclose_identity=data.consent_disclose_identity,
        complainant_name_encrypted=name_encrypted,
        complainant_mobile_encrypted=mobile_encrypted,
        complainant_mobile_hash=mobile_hash,
        created_at=now,
        updated_at=now,
    )
    window = settings["GROUP_WINDOW_DAYS"]
    group = assign_group(db.session, case, now, window, mobile_hash=mobile_hash)
    facts = TriageFacts(
        workers_affected=data.workers_affected,
        amount_owed_fen=data.amount_owed_fen,
        description=data.description,
        today=district_today(now),
        period_start=data.period_start,
        period_end=data.period_end,
        repeat_count=group.case_count - 1,
        earlier_unresolved_by_worker=earlier_unresolved,
    )
    case.urgency_suggested, case.urgency_reasons = suggest_urgency(facts)

    # Every read is done: the writes below go to the database together, in open_case's flush.
    if complainant is None:
        complainant = Complainant()
        db.session.add(complainant)
    # The same ciphertexts are kept on the case: a later submission updates the person's
    # record, never what this case recorded.
    complainant.name_encrypted = name_encrypted
    complainant.mobile_encrypted = mobile_encrypted
    complainant.mobile_hash = mobile_hash
    complainant.mobile_masked = mask_mobile(data.mobile)
    if data.id_number:
        complainant.id_number_encrypted = vault.encrypt(data.id_number)
        complainant.id_number_hash = id_hash
        complainant.id_number_masked = mask_id_number(data.id_number)
    case.complainant = complainant
    if channel == Channel.PHONE:
        assert actor is not None
        event_actor = actor
    else:
        if complainant.id is None:
            db.session.flush()  # the new complainant's INSERT (due anyway) gives the event its id
        event_actor = Actor(Role.COMPLAINANT, complainant.id)
    open_case(case, event_actor, event_data={"channel": channel.value}, now=now)
    if key:
        db.session.add(
            IdempotencyRecord(
                scope=scope, key=key, request_hash=body_hash, case_id=case.id, created_at=now
            )
        )
    access_code = None
    if channel == Channel.WEB:
        access_code = new_access_code()
        case.access_code_hash = access_code_hash(case.number, access_code)
        case.access_code_encrypted = vault.encrypt(access_code)
    return IntakeResult.of(case, created=True, access_code=access_code)


def _has_open_case(mobile_hash: str, id_hash: str | None) -> bool:
    """Whether the same worker (by keyed hash of mobile or ID number) has an open complaint."""
    match = Complainant.mobile_hash == mobile_hash
    if id_hash:
        match = sa.or_(match, Complainant.id_number_hash == id_hash)
    stmt = (
        sa.select(Case.id)
        .join(Complainant, Case.complainant_id == Complainant.id)
        .where(match, Case.status.in_(OPEN_STATUSES))
        .limit(1)
    )
    return db.session.scalar(stmt) is not None


def record_bench_row() -> int:
    """Benchmark baseline only: insert and commit one empty complainant row."""
    row = Complainant()
    db.session.add(row)
    db.session.commit()
    return row.id
