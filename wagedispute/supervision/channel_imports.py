"""预警排查, first half: import other channels' records (CSV/XLSX) and match them to our cases."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import openpyxl
import sqlalchemy as sa
from stdnum.cn import uscc as uscc_number
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError

from wagedispute.access.actors import Actor, street_scope
from wagedispute.cases.grouping import normalise_name
from wagedispute.models import (
    Case,
    ChannelAlias,
    ChannelRecord,
    StaffRole,
    Street,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_today
from wagedispute.supervision.daily_check import require_staff_actor

log = logging.getLogger(__name__)

# Channel code -> label; the import accepts any of the aliases.
CHANNELS = {
    "12345": "12345/民意速办",
    "petition": "信访",
    "people_daily": "人民网",
    "national_platform": "全国根治欠薪线索反映平台",
}
CHANNEL_ALIASES = {
    "12345": "12345",
    "12345/民意速办": "12345",
    "12345民意速办": "12345",
    "民意速办": "12345",
    "信访": "petition",
    "人民网": "people_daily",
    "人民网留言板": "people_daily",
    "领导留言板": "people_daily",
    "全国根治欠薪线索反映平台": "national_platform",
    "国家平台": "national_platform",
    "全国平台": "national_platform",
    "12345热线": "12345",
    "12345政务服务热线": "12345",
    "12345政务热线": "12345",
}
# Our own cases count as one channel, whatever the intake path.
OWN_CHANNEL = "工长制"

# Column header -> field; English headers are accepted too.
COLUMNS = {
    "渠道": "channel",
    "收到日期": "received_on",
    "工地名称": "site_name",
    "用工单位名称": "employer_name",
    "统一社会信用代码": "uscc",
    "所属街道": "street",
    "涉及人数": "workers",
    "欠薪金额（元）": "amount_yuan",
    "欠薪金额(元)": "amount_yuan",
    "欠薪金额": "amount_yuan",
    "反映内容摘要": "summary",
    "channel": "channel",
    "received_date": "received_on",
    "site_name": "site_name",
    "employer_name": "employer_name",
    "uscc": "uscc",
    "street": "street",
    "workers": "workers",
    "amount_yuan": "amount_yuan",
    "summary": "summary",
}
REQUIRED_FIELDS = ("channel", "received_on", "street")
FIELD_LABELS = {
    "channel": "渠道",
    "received_on": "收到日期",
    "site_name": "工地名称",
    "employer_name": "用工单位名称",
    "uscc": "统一社会信用代码",
    "street": "所属街道",
    "workers": "涉及人数",
    "amount_yuan": "欠薪金额（元）",
    "summary": "反映内容摘要",
}
MAX_ROWS = 5000

# Records and cases of this many days past are matched against each other (and scanned).
SIGNAL_WINDOW_DAYS = 90

ProgressCallback = Callable[[int, str], None]


@dataclass(frozen=True)
class RowError:
    """A problem with one row (numbered as in a spreadsheet: the header is row 1)."""

    row: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """For JSON and the task result."""
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class ImportResult:
    """What an import did: rows imported, duplicates skipped, rows refused, alerts raised."""

    imported: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """For JSON and the task result."""
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "errors": [e.as_dict() for e in self.errors],
            "alert_ids": self.alert_ids,
        }


# ---------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------


def read_table(filename: str, data: bytes) -> list[dict[str, Any]]:
    """The rows of a CSV (UTF-8 or GBK) or XLSX file as dicts keyed by field name."""
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        rows = _xlsx_rows(data)
    elif name.endswith(".csv") or name.endswith(".txt"):
        rows = _csv_rows(data)
    else:
        raise InvalidInput("请上传 CSV 或 XLSX 文件", code="bad_file_type")
    if not rows:
        raise InvalidInput("文件是空的", code="empty_file")
    header = [str(h or "").strip() for h in rows[0]]
    fields = [COLUMNS.get(h) for h in header]
    missing = [FIELD_LABELS[f] for f in REQUIRED_FIELDS if f not in fields]
    if missing:
        raise InvalidInput(
            f"缺少必填列：{'、'.join(missing)}（请使用导入模板）",
            code="missing_columns",
            details={"missing": missing},
        )
    if len(rows) - 1 > MAX_ROWS:
        raise InvalidInput(f"一次最多导入{MAX_ROWS}行", code="too_many_rows")
    records = []
    for values in rows[1:]:
        record = {f: v for f, v in zip(fields, values, strict=False) if f is not None}
        records.append(record)
    return records


def _csv_rows(data: bytes) -> list[list[Any]]:
    """CSV rows; Excel in China saves CSV as GBK, others as UTF-8 (with or without BOM)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise InvalidInput("无法识别文件编码，请保存为 UTF-8 CSV", code="bad_encoding")
    return [row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    """Rows of the first worksheet."""
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InvalidInput("无法读取该 XLSX 文件", code="bad_xlsx") from exc
    try:
        sheet = book.worksheets[0]
        rows = [
            list(row)
            for row in sheet.iter_rows(values_only=True)
            if any(c is not None and str(c).strip() for c in row)
        ]
    finally:
        book.close()
    return rows


# ---------------------------------------------------------------------------------------------
# Validating rows
# ---------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def normalise_alias(value: Any) -> str:
    """A channel name as compared: NFKC (full-width letters and digits folded), no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", _text(value)))


def staff_aliases() -> dict[str, str]:
    """The aliases staff added in the console (normalised alias -> channel code)."""
    return dict(db.session.execute(sa.select(ChannelAlias.alias, ChannelAlias.channel)).all())


def parse_channel(value: Any, aliases: dict[str, str] | None = None) -> str | None:
    """The channel code for a channel name (or code), or None: built-in names first, then the
    aliases staff added (``staff_aliases()``; looked up here when not given)."""
    text = normalise_alias(value)
    if text in CHANNELS:
        return text
    if text in CHANNEL_ALIASES:
        return CHANNEL_ALIASES[text]
    return (staff_aliases() if aliases is None else aliases).get(text)


def list_channel_aliases(actor: Actor) -> list[ChannelAlias]:
    """The staff-kept aliases, by name."""
    require_staff_actor(actor)
    return list(db.session.scalars(sa.select(ChannelAlias).order_by(ChannelAlias.alias)))


def add_channel_alias(actor: Actor, alias: str, channel: str) -> ChannelAlias:
    """Accept ``alias`` as a name of ``channel`` in later imports (district staff)."""
    require_staff_actor(actor)
    if actor.staff_role == StaffRole.STREET_STAFF:
        raise Forbidden("只有区信访局工作人员可以维护渠道名称")
    name = normalise_alias(alias)
    if not name or len(name) > 64:
        raise InvalidInput("请填写渠道名称（64字以内）", code="alias_required")
    if channel not in CHANNELS:
        raise InvalidInput("请选择对应的渠道", code="unknown_channel")
    if name in CHANNELS or name in CHANNEL_ALIASES:
        raise Conflict(f"“{name}”已是系统内置的渠道名称", code="alias_builtin")
    with unit_of_work():
        if db.session.scalars(sa.select(ChannelAlias).where(ChannelAlias.alias == name)).first():
            raise Conflict(f"“{name}”已登记", code="alias_exists")
        row = ChannelAlias(alias=name, channel=channel, created_by=actor.id, created_at=utcnow())
        db.session.add(row)
    return row


def remove_channel_alias(actor: Actor, alias_id: int) -> None:
    """Stop accepting a staff-added alias."""
    require_staff_actor(actor)
    if actor.staff_role == StaffRole.STREET_STAFF:
        raise Forbidden("只有区信访局工作人员可以维护渠道名称")
    with unit_of_work():
        row = db.session.get(ChannelAlias, alias_id)
        if row is None:
            raise NotFound()
        db.session.delete(row)


def parse_date(value: Any) -> date | None:
    """A date from a spreadsheet cell or text like 2026-01-05, 2026/1/5 or 2026年1月5日."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value).replace("/", "-").replace(".", "-")
    text = text.replace("年", "-").replace("月", "-").replace("日", "")
    parts = text.split(" ")[0].split("-")
    if len(parts) != 3:
        return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def validate_uscc(value: str) -> str | None:
    """The message for an invalid 统一社会信用代码, or None if it is valid."""
    try:
        uscc_number.validate(value)
    except InvalidLength:
        return "统一社会信用代码应为18位"
    except InvalidChecksum:
        return "统一社会信用代码校验位错误"
    except InvalidFormat:
        return "统一社会信用代码格式错误"
    except ValidationError:
        return "统一社会信用代码无效"
    return None


def _street_lookup() -> dict[str, Street]:
    """Streets by full name, short name (without 街道) and code."""
    lookup: dict[str, Street] = {}
    for street in db.session.scalars(sa.select(Street)):
        lookup[street.name] = street
        lookup[street.name.removesuffix("街道")] = street
        lookup[street.code] = street
    return lookup


def validate_row(
    number: int,
    raw: dict[str, Any],
    streets: dict[str, Street],
    actor: Actor,
    aliases: dict[str, str] | None = None,
) -> tuple[dict[str, Any] | None, list[RowError]]:
    """Check one row; return the clean values, or None with the row's errors in Chinese."""
    errors: list[RowError] = []

    def bad(name: str, message: str) -> None:
        errors.append(RowError(number, FIELD_LABELS[name], message))

    clean: dict[str, Any] = {}
    channel = parse_channel(raw.get("channel"), aliases)
    if channel is None:
        bad(
            "channel",
            "渠道应为 12345/民意速办、信访、人民网 或 全国根治欠薪线索反映平台"
            "（其他叫法可在“预警”页登记为渠道别名）",
        )
    clean["channel"] = channel
    received = parse_date(raw.get("received_on"))
    if received is None:
        bad("received_on", "收到日期应为 YYYY-MM-DD 格式")
    elif received > district_today() + timedelta(days=1):
        bad("received_on", "收到日期不能晚于今天")
    clean["received_on"] = received
    clean["site_name"] = _text(raw.get("site_name"))[:128]
    clean["employer_name"] = _text(raw.get("employer_name"))[:128]
    if not clean["site_name"] and not clean["employer_name"]:
        bad("site_name", "工地名称和用工单位名称至少填写一项")
    code = _text(raw.get("uscc")).upper().replace(" ", "")
    if code:
        message = validate_uscc(code)
        if message:
            bad("uscc", message)
    clean["uscc"] = code or None
    street = streets.get(_text(raw.get("street")))
    if street is None:
        bad("street", "所属街道不存在（应为沙头角、海山、盐田、梅沙之一）")
    elif actor.staff_role == StaffRole.STREET_STAFF and street.id != actor.street_id:
        bad("street", "只能导入本街道的记录")
    clean["street_id"] = street.id if street else None
    workers_text = _text(raw.get("workers")) or "1"
    try:
        workers = int(Decimal(workers_text))
        if workers < 1 or workers > 100000:
            raise ValueError
        clean["workers"] = workers
    except (InvalidOperation, ValueError):
        bad("workers", "涉及人数应为正整数")
    amount_text = _text(raw.get("amount_yuan")).replace(",", "").replace("，", "") or "0"
    try:
        amount = Decimal(amount_text)
        if amount < 0 or amount > Decimal("1000000000"):
            raise ValueError
        clean["amount_fen"] = int((amount * 100).to_integral_value())
    except (InvalidOperation, ValueError):
        bad("amount_yuan", "欠薪金额应为不小于0的数字（单位：元）")
    clean["summary"] = _text(raw.get("summary"))[:2000]
    return (None if errors else clean), errors


def _fingerprint(clean: dict[str, Any]) -> str:
    """Identical rows (in one file or across imports) share a fingerprint."""
    parts = [
        clean["channel"],
        clean["received_on"].isoformat(),
        normalise_name(clean["site_name"]),
        normalise_name(clean["employer_name"]),
        clean["uscc"] or "",
        str(clean["street_id"]),
        str(clean["workers"]),
        str(clean["amount_fen"]),
        clean["summary"],
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def record_keys(
    site_name: str | None, employer_names: Iterable[str], usccs: Iterable[str]
) -> list[str]:
    """Matching keys, strongest first: credit codes, then normalised employer names, the site."""
    keys = [f"uscc:{code.upper()}" for code in usccs if code]
    keys += [f"employer:{n}" for n in (normalise_name(e) for e in employer_names) if n]
    site = normalise_name(site_name or "")
    if site:
        keys.append(f"site:{site}")
    return list(dict.fromkeys(keys))


def case_keys(case_row: Any) -> list[str]:
    employers = case_row.employers or []
    return record_keys(
        case_row.site_name,
        [e.get("name") or "" for e in employers],
        [e.get("uscc") or "" for e in employers],
    )


def _recent_case_index(since: datetime) -> dict[str, list[int]]:
    """Matching key -> ids of cases created since a time (keys computed like grouping's)."""
    index: dict[str, list[int]] = defaultdict(list)
    rows = db.session.execute(
        sa.select(Case.id, Case.site_name, Case.employers).where(Case.created_at >= since)
    ).all()
    for row in rows:
        for key in case_keys(row):
            index[key].append(row.id)
    return index


# ---------------------------------------------------------------------------------------------
# Importing
# ---------------------------------------------------------------------------------------------


def import_channel_records(
    actor: Actor,
    filename: str,
    data: bytes,
    *,
    task_id: int | None = None,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Import a CSV/XLSX of other channels' records: good rows are saved, bad rows reported.

    Rows are validated first (nothing written); then all good rows are written in one
    transaction. The caller runs the alert scan afterwards (``alerts.scan_alerts``).
    """
    require_staff_actor(actor)
    now = now or utcnow()
    report = progress or (lambda pct, message: None)
    raw_rows = read_table(filename, data)
    streets = _street_lookup()
    aliases = staff_aliases()
    result = ImportResult()
    good: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    step = max(1, len(raw_rows) // 10)
    for offset, raw in enumerate(raw_rows):
        number = offset + 2
        clean, errors = validate_row(number, raw, streets, actor, aliases)
        result.errors.extend(errors)
        if clean is not None:
            clean["fingerprint"] = _fingerprint(clean)
            if clean["fingerprint"] in seen:
                result.duplicates += 1
            else:
                seen.add(clean["fingerprint"])
                good.append((number, clean))
        if offset % step == 0:
            report(10 + 50 * offset // len(raw_rows), f"正在校验第{number}行")
    report(60, "正在匹配工地和用工单位")
    with unit_of_work():
        existing = set(
            db.session.scalars(
                sa.select(ChannelRecord.fingerprint).where(
                    ChannelRecord.fingerprint.in_([c["fingerprint"] for _, c in good] or [""])
                )
            )
        )
        index = _recent_case_index(now - timedelta(days=SIGNAL_WINDOW_DAYS))
        for number, clean in good:
            if clean["fingerprint"] in existing:
                result.duplicates += 1
                continue
            keys = record_keys(clean["site_name"], [clean["employer_name"]], [clean["uscc"]])
            employer_key = next((k for k in keys if not k.startswith("site:")), None)
            site_key = next((k for k in keys if k.startswith("site:")), None)
            matched = sorted({cid for k in keys for cid in index.get(k, [])})
            db.session.add(
                ChannelRecord(
                    fingerprint=clean["fingerprint"],
                    channel=clean["channel"],
                    received_on=clean["received_on"],
                    site_name=clean["site_name"],
                    employer_name=clean["employer_name"],
                    uscc=clean["uscc"],
                    street_id=clean["street_id"],
                    workers=clean["workers"],
                    amount_fen=clean["amount_fen"],
                    summary=clean["summary"],
                    employer_key=employer_key,
                    site_key=site_key,
                    matched_case_ids=matched,
                    task_id=task_id,
                    source_row=number,
                    imported_by=actor.id,
                    imported_at=now,
                )
            )
            result.imported += 1
    log.info(
        "channel import: %d imported, %d duplicates, %d row errors",
        result.imported,
        result.duplicates,
        len(result.errors),
    )
    return result


def list_channel_records(actor: Actor, *, limit: int = 200) -> list[ChannelRecord]:
    """The most recently imported records in scope."""
    require_staff_actor(actor)
    stmt = sa.select(ChannelRecord).where(street_scope(actor, ChannelRecord.street_id))
    return list(db.session.scalars(stmt.order_by(ChannelRecord.id.desc()).limit(limit)))
