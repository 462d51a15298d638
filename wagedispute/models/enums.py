"""The closed vocabularies of the domain, stored as their string values."""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    """Where a case stands in its lifecycle (DESIGN.md §3)."""

    RECEIVED = "received"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RETURNED = "returned"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        """The Chinese name shown to people."""
        return STATUS_LABELS[self]


STATUS_LABELS = {
    CaseStatus.RECEIVED: "已受理",
    CaseStatus.DISPATCHED: "已分派",
    CaseStatus.ACCEPTED: "处置小组已接收",
    CaseStatus.IN_PROGRESS: "处置中",
    CaseStatus.RETURNED: "已退回工长",
    CaseStatus.RESOLVED: "已办结待确认",
    CaseStatus.CLOSED: "已结案",
    CaseStatus.REOPENED: "已重新打开",
    CaseStatus.REJECTED: "不予受理",
    CaseStatus.WITHDRAWN: "已撤回",
}

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


class Role(StrEnum):
    """Who acts on a case."""

    COMPLAINANT = "complainant"
    FOREMAN = "foreman"
    TEAM_MEMBER = "team_member"
    STAFF = "staff"
    SYSTEM = "system"
    IMPORT = "import"


class StaffRole(StrEnum):
    """What a bureau staff account may see and do."""

    DISTRICT_ADMIN = "district_admin"
    DISTRICT_SUPERVISOR = "district_supervisor"
    STREET_STAFF = "street_staff"


class Channel(StrEnum):
    """How a complaint reached us."""

    MINIPROGRAM = "miniprogram"
    WEB = "web"
    PHONE = "phone"
    IMPORT = "import"


class Urgency(StrEnum):
    """轻重缓急: the triage level."""

    CRITICAL = "critical"
    URGENT = "urgent"
    NORMAL = "normal"

    @property
    def label(self) -> str:
        """The Chinese name shown to people."""
        return {"critical": "特急", "urgent": "紧急", "normal": "一般"}[self.value]

    @property
    def rank(self) -> int:
        """Sort key: most urgent first."""
        return {"critical": 0, "urgent": 1, "normal": 2}[self.value]


class Outcome(StrEnum):
    """How a resolved case ended."""

    PAID_IN_FULL = "paid_in_full"
    PAID_IN_PART = "paid_in_part"
    INSTALMENT_PLAN = "instalment_plan"
    TRANSFERRED_INSPECTION = "transferred_inspection"
    TRANSFERRED_ARBITRATION = "transferred_arbitration"
    TRANSFERRED_COURT = "transferred_court"
    UNSUBSTANTIATED = "unsubstantiated"


class OutboxState(StrEnum):
    """Progress of a side effect owed after a commit."""

    PENDING = "pending"
    ENQUEUED = "enqueued"
    DONE = "done"
    FAILED = "failed"


class DeliveryState(StrEnum):
    """Progress of one notification message."""

    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"


class QrStatus(StrEnum):
    """Whether a foreman QR token still opens the form."""

    ACTIVE = "active"
    REVOKED = "revoked"
