"""预警排查: import records from other channels, match them to our cases, raise early alerts."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import openpyxl
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from stdnum.cn import uscc as uscc_number
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError

from wagedispute.access.actors import Actor
from wagedispute.cases.grouping import normalise_name
from wagedispute.intake.triage import next_spring_festival
from wagedispute.models import (
    OPEN_STATUSES,
    Alert,
    AlertKind,
    Case,
    ChannelRecord,
    DisputeGroup,
    Role,
    StaffRole,
    Street,
)
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import InvalidInput, NotFound
from wagedispute.supervision.daily_check import local_today, require_staff_actor

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

# Alert thresholds.
SIGNAL_WINDOW_DAYS = 90
SPIKE_MIN_COUNT = 5
SPIKE_FACTOR = 2.0
SPIKE_TRAILING_WEEKS = 4
GROWTH_MIN_NEW_WORKERS = 5
GROUP_ALERT_WORKERS = 10
FESTIVAL_WINDOW_DAYS = 30
FESTIVAL_MIN_WORKERS = 10

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


def parse_channel(value: Any) -> str | None:
    """The channel code for a channel name (or code), or None."""
    text = _text(value).replace(" ", "")
    if text in CHANNELS:
        return text
    return CHANNEL_ALIASES.get(text)


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
    number: int, raw: dict[str, Any], streets: dict[str, Street], actor: Actor
) -> tuple[dict[str, Any] | None, list[RowError]]:
    """Check one row; return the clean values, or None with the row's errors in Chinese."""
    errors: list[RowError] = []

    def bad(name: str, message: str) -> None:
        errors.append(RowError(number, FIELD_LABELS[name], message))

    clean: dict[str, Any] = {}
    channel = parse_channel(raw.get("channel"))
    if channel is None:
        bad("channel", "渠道应为 12345/民意速办、信访、人民网 或 全国根治欠薪线索反映平台")
    clean["channel"] = channel
    received = parse_date(raw.get("received_on"))
    if received is None:
        bad("received_on", "收到日期应为 YYYY-MM-DD 格式")
    elif received > local_today() + timedelta(days=1):
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


def _case_keys(case_row: Any) -> list[str]:
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
        for key in _case_keys(row):
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
    transaction; then the alert scan runs and commits its own alerts.
    """
    require_staff_actor(actor)
    now = now or utcnow()
    report = progress or (lambda pct, message: None)
    raw_rows = read_table(filename, data)
    streets = _street_lookup()
    result = ImportResult()
    good: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    step = max(1, len(raw_rows) // 10)
    for offset, raw in enumerate(raw_rows):
        number = offset + 2
        clean, errors = validate_row(number, raw, streets, actor)
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
    report(80, "正在排查预警")
    result.alert_ids = [alert.id for alert in scan_alerts(now=now)]
    return result


# ---------------------------------------------------------------------------------------------
# Alerts
# ---------------------------------------------------------------------------------------------


@dataclass
class _Signal:
    """One complaint about something, from any channel."""

    source: str  # "case:<id>" or "record:<id>"
    channel: str
    street_id: int | None
    keys: list[str]
    name: str
    workers: int
    day: date


class _Components:
    """Union-find over matching keys: keys seen together in one signal name one subject."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, keys: list[str]) -> None:
        for other in keys[1:]:
            a, b = self.find(keys[0]), self.find(other)
            if a != b:
                self.parent[b] = a


_KEY_STRENGTH = {"uscc": 0, "employer": 1, "site": 2}


def _by_strength(keys: Iterable[str]) -> list[str]:
    """Keys strongest first: credit codes, then employer names, then sites."""
    return sorted(keys, key=lambda k: (_KEY_STRENGTH[k.split(":", 1)[0]], k))


def _signals(now: datetime) -> list[_Signal]:
    """Complaints of the signal window: our cases and the imported records."""
    tz_today = local_today(now)
    since_day = tz_today - timedelta(days=SIGNAL_WINDOW_DAYS)
    since = now - timedelta(days=SIGNAL_WINDOW_DAYS)
    signals = []
    for row in db.session.execute(
        sa.select(
            Case.id,
            Case.site_name,
            Case.employers,
            Case.street_id,
            Case.workers_affected,
            Case.created_at,
        ).where(Case.created_at >= since)
    ):
        keys = _case_keys(row)
        if keys:
            names = [e.get("name") for e in (row.employers or []) if e.get("name")]
            signals.append(
                _Signal(
                    f"case:{row.id}",
                    OWN_CHANNEL,
                    row.street_id,
                    keys,
                    names[0] if names else row.site_name,
                    row.workers_affected,
                    local_today(row.created_at),
                )
            )
    for record in db.session.scalars(
        sa.select(ChannelRecord).where(ChannelRecord.received_on >= since_day)
    ):
        keys = record_keys(record.site_name, [record.employer_name], [record.uscc or ""])
        if keys:
            signals.append(
                _Signal(
                    f"record:{record.id}",
                    CHANNELS.get(record.channel, record.channel),
                    record.street_id,
                    keys,
                    record.employer_name or record.site_name,
                    record.workers,
                    record.received_on,
                )
            )
    return signals


def _raise(
    kind: AlertKind,
    keys: list[str],
    period: str,
    *,
    street_id: int | None,
    title: str,
    details: dict[str, Any],
    now: datetime,
) -> Alert | None:
    """Insert the alert, or refresh the existing one for the same subject; new ones returned.

    The subject may be known under any of ``keys`` (a credit code learnt later must not raise
    the same alert a second time), so the lookup takes them all.
    """
    existing = db.session.scalars(
        sa.select(Alert).where(
            Alert.kind == kind, Alert.period == period, Alert.subject_key.in_(keys)
        )
    ).first()
    if existing is not None:
        existing.details = details
        existing.title = title
        existing.updated_at = now
        return None
    alert = Alert(
        kind=kind,
        # Callers give the keys strongest first.
        subject_key=keys[0],
        period=period,
        street_id=street_id,
        title=title,
        details=details,
        created_at=now,
        updated_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(alert)
    except IntegrityError:
        # Another scan raised it a moment ago: that one stands.
        return None
    return alert


def scan_alerts(*, now: datetime | None = None) -> list[Alert]:
    """Look for early-warning patterns and raise each alert once; return the new alerts."""
    now = now or utcnow()
    streets = {s.id: s.name for s in db.session.scalars(sa.select(Street))}
    new: list[Alert] = []
    with unit_of_work():
        signals = _signals(now)
        new += _scan_same_subject(signals, streets, now)
        new += _scan_spikes(signals, streets, now)
        new += _scan_group_growth(now)
        new += _scan_pre_festival(now)
    for alert in new:
        log.info("alert raised: id=%s kind=%s", alert.id, alert.kind.value)
    return new


def _scan_same_subject(
    signals: list[_Signal], streets: dict[int, str], now: datetime
) -> list[Alert]:
    """The same employer or site reported through several channels, or in several streets."""
    components = _Components()
    for signal in signals:
        components.union(signal.keys)
    by_subject: dict[str, list[_Signal]] = defaultdict(list)
    for signal in signals:
        by_subject[components.find(signal.keys[0])].append(signal)
    members: dict[str, set[str]] = defaultdict(set)
    for key in list(components.parent):
        members[components.find(key)].add(key)
    new = []
    for root, group in by_subject.items():
        keys = _by_strength(members[root])
        channels = sorted({s.channel for s in group})
        street_ids = sorted({s.street_id for s in group if s.street_id is not None})
        name = next((s.name for s in group if s.name), keys[0])
        details = {
            "keys": keys,
            "channels": channels,
            "streets": [streets.get(i, "") for i in street_ids],
            "sources": sorted(s.source for s in group),
            "signals": len(group),
            "workers": sum(s.workers for s in group),
        }
        if len(channels) >= 2:
            alert = _raise(
                AlertKind.CROSS_CHANNEL,
                keys,
                "",
                street_id=street_ids[0] if len(street_ids) == 1 else None,
                title=f"「{name}」在{len(channels)}个渠道被反映：{'、'.join(channels)}",
                details=details,
                now=now,
            )
            if alert:
                new.append(alert)
        if len(street_ids) >= 2:
            alert = _raise(
                AlertKind.CROSS_STREET,
                keys,
                "",
                street_id=None,
                title=f"「{name}」在{len(street_ids)}个街道被反映：{'、'.join(details['streets'])}",
                details=details,
                now=now,
            )
            if alert:
                new.append(alert)
    return new


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _scan_spikes(signals: list[_Signal], streets: dict[int, str], now: datetime) -> list[Alert]:
    """A street whose complaints of the last 7 days are well above its trailing weekly average."""
    today = local_today(now)
    week_start = today - timedelta(days=6)
    trailing_start = week_start - timedelta(days=7 * SPIKE_TRAILING_WEEKS)
    current: dict[int, int] = defaultdict(int)
    trailing: dict[int, int] = defaultdict(int)
    for signal in signals:
        if signal.street_id is None:
            continue
        if week_start <= signal.day <= today:
            current[signal.street_id] += 1
        elif trailing_start <= signal.day < week_start:
            trailing[signal.street_id] += 1
    new = []
    for street_id, count in current.items():
        average = trailing[street_id] / SPIKE_TRAILING_WEEKS
        if count >= SPIKE_MIN_COUNT and count >= SPIKE_FACTOR * average:
            alert = _raise(
                AlertKind.SPIKE,
                [f"street:{street_id}"],
                _iso_week(today),
                street_id=street_id,
                title=(
                    f"{streets.get(street_id, '')}近7天收到{count}件投诉，"
                    f"前{SPIKE_TRAILING_WEEKS}周平均每周{average:.1f}件"
                ),
                details={"count": count, "trailing_average": round(average, 2)},
                now=now,
            )
            if alert:
                new.append(alert)
    return new


def _scan_group_growth(now: datetime) -> list[Alert]:
    """A dispute group that gained many workers in the last 7 days."""
    since = now - timedelta(days=7)
    rows = db.session.execute(
        sa.select(
            DisputeGroup.id,
            DisputeGroup.title,
            DisputeGroup.street_id,
            DisputeGroup.workers_total,
            sa.func.sum(Case.workers_affected),
        )
        .join(Case, Case.group_id == DisputeGroup.id)
        .where(Case.created_at >= since, DisputeGroup.workers_total >= GROUP_ALERT_WORKERS)
        .group_by(
            DisputeGroup.id, DisputeGroup.title, DisputeGroup.street_id, DisputeGroup.workers_total
        )
    ).all()
    new = []
    for group_id, title, street_id, total, recent in rows:
        recent = int(recent or 0)
        if recent < GROWTH_MIN_NEW_WORKERS:
            continue
        alert = _raise(
            AlertKind.GROUP_GROWTH,
            [f"group:{group_id}"],
            _iso_week(local_today(now)),
            street_id=street_id,
            title=f"群体纠纷「{title}」近7天新增{recent}人，累计{total}人",
            details={"workers_total": total, "new_workers": recent, "before": total - recent},
            now=now,
        )
        if alert:
            new.append(alert)
    return new


def _scan_pre_festival(now: datetime) -> list[Alert]:
    """Within 30 days of 春节: open cases (or their groups) with many workers."""
    today = local_today(now)
    festival = next_spring_festival(today)
    if festival is None or (festival - today).days > FESTIVAL_WINDOW_DAYS:
        return []
    days = (festival - today).days
    rows = db.session.execute(
        sa.select(Case, DisputeGroup)
        .outerjoin(DisputeGroup, DisputeGroup.id == Case.group_id)
        .where(
            Case.status.in_(OPEN_STATUSES),
            sa.or_(
                Case.workers_affected >= FESTIVAL_MIN_WORKERS,
                DisputeGroup.workers_total >= FESTIVAL_MIN_WORKERS,
            ),
        )
        .order_by(Case.id)
    ).all()
    new = []
    seen: set[str] = set()
    for case, group in rows:
        subject = f"group:{group.id}" if group is not None else f"case:{case.id}"
        if subject in seen:
            continue
        seen.add(subject)
        workers = group.workers_total if group is not None else case.workers_affected
        label = f"群体纠纷「{group.title}」" if group is not None else f"案件{case.number}"
        alert = _raise(
            AlertKind.PRE_FESTIVAL,
            [subject],
            f"festival-{festival.year}",
            street_id=case.street_id,
            title=f"距春节还有{days}天，{label}涉及{workers}名工人尚未办结",
            details={"festival": festival.isoformat(), "workers": workers, "case_id": case.id},
            now=now,
        )
        if alert:
            new.append(alert)
    return new


# ---------------------------------------------------------------------------------------------
# The alert list
# ---------------------------------------------------------------------------------------------


def alert_scope(actor: Actor) -> sa.ColumnElement[bool]:
    """Street staff see their street's alerts; district roles see all."""
    if actor.role == Role.STAFF and actor.staff_role == StaffRole.STREET_STAFF:
        return Alert.street_id == actor.street_id
    if actor.role in {Role.STAFF, Role.SYSTEM}:
        return sa.true()
    return sa.false()


def list_alerts(actor: Actor, *, include_acknowledged: bool = False) -> list[Alert]:
    """Alerts in scope, unacknowledged first, newest first."""
    require_staff_actor(actor)
    stmt = sa.select(Alert).where(alert_scope(actor))
    if not include_acknowledged:
        stmt = stmt.where(Alert.acknowledged_at.is_(None))
    return list(
        db.session.scalars(
            stmt.order_by(Alert.acknowledged_at.is_not(None), Alert.created_at.desc()).limit(500)
        )
    )


def get_alert_for(actor: Actor, alert_id: int) -> Alert:
    """One alert in scope; anything else is "not found"."""
    require_staff_actor(actor)
    alert = db.session.scalars(
        sa.select(Alert).where(Alert.id == alert_id, alert_scope(actor))
    ).one_or_none()
    if alert is None:
        raise NotFound()
    return alert


def acknowledge_alert(
    actor: Actor, alert_id: int, note: str = "", *, now: datetime | None = None
) -> Alert:
    """Record that a named staff member has seen an alert and acted (idempotent)."""
    require_staff_actor(actor)
    note = (note or "").strip()
    if len(note) > 500:
        raise InvalidInput("处理说明不能超过500字", code="note_too_long")
    with unit_of_work():
        alert = get_alert_for(actor, alert_id)
        if alert.acknowledged_at is None:
            alert.acknowledged_at = now or utcnow()
            alert.acknowledged_by = actor.id
            alert.acknowledge_note = note or None
    return alert


def list_channel_records(actor: Actor, *, limit: int = 200) -> list[ChannelRecord]:
    """The most recently imported records in scope."""
    require_staff_actor(actor)
    stmt = sa.select(ChannelRecord)
    if actor.staff_role == StaffRole.STREET_STAFF:
        stmt = stmt.where(ChannelRecord.street_id == actor.street_id)
    return list(db.session.scalars(stmt.order_by(ChannelRecord.id.desc()).limit(limit)))
