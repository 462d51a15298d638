"""The data of the domain: tables, invariants and small derived properties, no I/O."""

from wagedispute.models.cases import (
    Case,
    CaseEvent,
    CaseNumberCounter,
    DisputeGroup,
    Evidence,
    IdempotencyRecord,
)
from wagedispute.models.enums import (
    OPEN_STATUSES,
    CaseStatus,
    Channel,
    DeliveryState,
    OutboxState,
    Outcome,
    QrStatus,
    Role,
    StaffRole,
    Urgency,
)
from wagedispute.models.messaging import Delivery, Outbox, SubscriptionConsent
from wagedispute.models.people import (
    BindingCode,
    Complainant,
    DisposalTeam,
    Foreman,
    QrCode,
    StaffAccount,
    Street,
    TeamMember,
)

__all__ = [
    "OPEN_STATUSES",
    "BindingCode",
    "Case",
    "CaseEvent",
    "CaseNumberCounter",
    "CaseStatus",
    "Channel",
    "Complainant",
    "Delivery",
    "DeliveryState",
    "DisposalTeam",
    "DisputeGroup",
    "Evidence",
    "Foreman",
    "IdempotencyRecord",
    "Outbox",
    "OutboxState",
    "Outcome",
    "QrCode",
    "QrStatus",
    "Role",
    "StaffAccount",
    "StaffRole",
    "Street",
    "SubscriptionConsent",
    "TeamMember",
    "Urgency",
]
