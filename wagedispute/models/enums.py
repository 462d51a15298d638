"""The closed vocabularies of the domain, stored as their string values.

Each member is declared with its Chinese label beside its value (``CaseStatus.CLOSED.label`` is
"已结案"): every screen, PDF, export and API description reads the label from here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class LabelledEnum(StrEnum):
    """A string enum whose members are declared as ``NAME = "value", "中文名"``."""

    label: str

    def __new__(cls, value: str, label: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def labels(cls) -> dict[str, str]:
        """Every value with its Chinese label, in declaration order (for templates and APIs)."""
        return {member.value: member.label for member in cls}


class CaseStatus(LabelledEnum):
    """Where a case stands in its lifecycle (DESIGN.md §3)."""

    RECEIVED = "received", "已受理"
    DISPATCHED = "dispatched", "已分派"
    ACCEPTED = "accepted", "处置小组已接收"
    IN_PROGRESS = "in_progress", "处置中"
    RETURNED = "returned", "已退回工长"
    RESOLVED = "resolved", "已办结待确认"
    CLOSED = "closed", "已结案"
    REOPENED = "reopened", "已重新打开"
    REJECTED = "rejected", "不予受理"
    WITHDRAWN = "withdrawn", "已撤回"


OPEN_STATUSES = frozenset(
    {
        CaseStatus.RECEIVED,
        CaseStatus.DISPATCHED,
        CaseStatus.ACCEPTED,
        CaseStatus.IN_PROGRESS,
        CaseStatus.RETURNED,
        CaseStatus.RESOLVED,
        CaseStatus.REOPENED,
    }
)


class EventKind(LabelledEnum):
    """What a ``CaseEvent`` records: each kind some service writes, and nothing else."""

    STATUS = "status", "状态变更"
    URGENCY = "urgency", "紧急程度调整"
    GROUP = "group", "纠纷组变更"
    REFERRAL = "referral", "告知其他反映渠道"
    EVIDENCE = "evidence", "补充证据材料"
    NOTE = "note", "办理记录"
    CLOCK_PAUSED = "clock_paused", "办理时限暂停"
    CLOCK_RESUMED = "clock_resumed", "办理时限恢复"
    BREACH = "breach", "办理超时"
    WORKER_MESSAGE = "worker_message", "工人留言"
    RATING = "rating", "工人评价"
    CHECK = "check", "日核查"
    LETTER = "letter", "督办函件"
    LETTER_REPLY = "letter_reply", "函件回复"
    FOLLOWUP_CALL = "followup_call", "待电话回访"
    FOLLOWUP_CALL_MADE = "followup_call_made", "电话回访已告知"
    FOLLOWUP_CALL_MISSED = "followup_call_missed", "电话回访未联系上"
    ACCESS_CODE_RESENT = "access_code_resent", "短信补发查询码"
    RECEPTION_BOOKED = "reception_booked", "预约周四大接访"
    RECEPTION_CANCELLED = "reception_cancelled", "取消接访预约"
    RECEPTION = "reception", "周四大接访接待"
    RECEPTION_PROMISE_KEPT = "reception_promise_kept", "接访承诺已兑现"
    NATIONAL_LEAD = "national_lead", "国家平台线索"


class Role(LabelledEnum):
    """Who acts on a case."""

    COMPLAINANT = "complainant", "投诉工人"
    FOREMAN = "foreman", "工长"
    TEAM_MEMBER = "team_member", "处置小组成员"
    STAFF = "staff", "信访局"
    SYSTEM = "system", "系统"
    IMPORT = "import", "外部导入"


class StaffRole(LabelledEnum):
    """What a bureau staff account may see and do."""

    DISTRICT_ADMIN = "district_admin", "区级管理员"
    DISTRICT_SUPERVISOR = "district_supervisor", "区级督查员"
    STREET_STAFF = "street_staff", "街道工作人员"


class Channel(LabelledEnum):
    """How a complaint reached us."""

    MINIPROGRAM = "miniprogram", "小程序"
    WEB = "web", "网页表单"
    PHONE = "phone", "电话"
    IMPORT = "import", "其他渠道导入"
    NATIONAL_PLATFORM = "national_platform", "国家平台"


class Urgency(LabelledEnum):
    """轻重缓急: the triage level."""

    CRITICAL = "critical", "特急"
    URGENT = "urgent", "紧急"
    NORMAL = "normal", "一般"

    @property
    def rank(self) -> int:
        """Sort key: most urgent first."""
        return {"critical": 0, "urgent": 1, "normal": 2}[self.value]


class Outcome(LabelledEnum):
    """How a resolved case ended (the label reads as the result: 处置结果：已全额支付)."""

    PAID_IN_FULL = "paid_in_full", "已全额支付"
    PAID_IN_PART = "paid_in_part", "已部分支付"
    INSTALMENT_PLAN = "instalment_plan", "已达成分期支付协议"
    TRANSFERRED_INSPECTION = "transferred_inspection", "已移交劳动监察"
    TRANSFERRED_ARBITRATION = "transferred_arbitration", "已引导申请劳动仲裁"
    TRANSFERRED_COURT = "transferred_court", "已引导向法院起诉"
    UNSUBSTANTIATED = "unsubstantiated", "经核查投诉不属实"


class OutboxState(LabelledEnum):
    """Progress of a side effect owed after a commit."""

    PENDING = "pending", "待处理"
    ENQUEUED = "enqueued", "已排队"
    DONE = "done", "已完成"
    FAILED = "failed", "失败"


class DeliveryState(LabelledEnum):
    """Progress of one notification message."""

    PENDING = "pending", "待发送"
    SENT = "sent", "已发送"
    SKIPPED = "skipped", "未发送"
    FAILED = "failed", "发送失败"


class MessageChannel(LabelledEnum):
    """How a message reaches a person."""

    WECHAT = "wechat", "微信"
    SMS = "sms", "短信"


class QrStatus(LabelledEnum):
    """Whether a foreman QR token still opens the form."""

    ACTIVE = "active", "有效"
    REVOKED = "revoked", "已停用"


class CalendarDayKind(LabelledEnum):
    """A date the State Council's holiday notice names: a day off or a make-up working day."""

    HOLIDAY = "holiday", "放假"
    WORKDAY = "workday", "调休上班"


class NationalConclusion(LabelledEnum):
    """核处结论: the ten reply classes of the national wage-arrears platform.

    The 全国根治欠薪线索反映平台; see docs/national-platform.md.
    """

    PAID_IN_FULL = "01", "已全额支付"
    PAID_IN_PART = "02", "已部分支付"
    INSTALMENT = "03", "已达成分期支付协议"
    INSPECTION = "04", "已立案查处（劳动保障监察）"
    ARBITRATION = "05", "已引导申请劳动仲裁"
    COURT = "06", "已引导向人民法院起诉"
    NOT_WAGE_ARREARS = "07", "经核查不属于欠薪"
    UNSUBSTANTIATED = "08", "经核查反映不属实"
    DUPLICATE = "09", "重复反映，已并案办理"
    UNREACHABLE = "10", "无法联系反映人且线索不足"
