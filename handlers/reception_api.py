"""周四大接访 for the worker (mini-program, H5): free slots, and booking one for own case."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field

from handlers.api import current_actor, documented, parse_body
from wagedispute.models import ReceptionSlot, Role
from wagedispute.platform.timekeeping import district_iso
from wagedispute.platform.validation import DbId
from wagedispute.supervision import reception

blueprint = Blueprint("reception_api", __name__, url_prefix="/api/v1")

NUMBER_PARAM = {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}
TAG = "工人"


class SlotOut(BaseModel):
    """One appointment time of a Thursday reception."""

    id: int
    starts_at: str = Field(description="开始时间（北京时间，ISO 8601）")
    ends_at: str
    label: str = Field(examples=["2027-01-07（周四）09:00–09:30"])
    leader: str = Field(description="接访领导", examples=["区信访局局长 王明"])
    place: str


class SlotsOut(BaseModel):
    """Free slots still ahead, earliest first."""

    slots: list[SlotOut]


class BookIn(BaseModel):
    """Book a slot for the worker's own case."""

    model_config = ConfigDict(extra="forbid")
    slot_id: DbId
    note: str = Field(default="", max_length=200, description="想当面反映的问题（可不填）")


class CancelIn(BaseModel):
    """Cancel the worker's booking of a slot."""

    model_config = ConfigDict(extra="forbid")
    slot_id: DbId


class BookingOut(BaseModel):
    """The booked (or freed) slot."""

    number: str
    booked: bool
    slot: SlotOut


def slot_out(slot: ReceptionSlot) -> dict[str, object]:
    """A slot as the worker sees it (the announcement, no one else's case)."""
    day = slot.reception_day
    return {
        "id": slot.id,
        "starts_at": district_iso(slot.starts_at),
        "ends_at": district_iso(slot.ends_at),
        "label": reception.slot_label(slot),
        "leader": f"{day.leader_title} {day.leader_name}",
        "place": day.place,
    }


@blueprint.get("/reception/slots")
@documented(
    "周四大接访：可预约的时段",
    tag=TAG,
    response_model=SlotsOut,
)
def slots() -> ResponseReturnValue:
    """Free Thursday reception slots."""
    current_actor(Role.COMPLAINANT)
    return jsonify({"slots": [slot_out(s) for s in reception.open_slots()]})


@blueprint.post("/complaints/<number>/reception")
@documented(
    "为本人案件预约周四大接访",
    tag=TAG,
    request_model=BookIn,
    response_model=BookingOut,
    errors={
        409: (
            "时段已被预约或已过，案件已有预约，或案件已结束",
            [
                "reception_slot_taken",
                "reception_slot_past",
                "reception_already_booked",
                "reception_case_closed",
            ],
        )
    },
    parameters=[NUMBER_PARAM],
)
def book(number: str) -> ResponseReturnValue:
    """Book a slot for the worker's own case."""
    actor = current_actor(Role.COMPLAINANT)
    body = parse_body(BookIn)
    slot = reception.book_slot(actor, body.slot_id, number, body.note)
    return jsonify({"number": slot.case.number, "booked": True, "slot": slot_out(slot)})


@blueprint.post("/complaints/<number>/reception/cancel")
@documented(
    "取消本人案件的接访预约",
    tag=TAG,
    request_model=CancelIn,
    response_model=BookingOut,
    errors={409: ("接访时段已开始", ["reception_slot_past"])},
    parameters=[NUMBER_PARAM],
)
def cancel(number: str) -> ResponseReturnValue:
    """Cancel the worker's booking."""
    actor = current_actor(Role.COMPLAINANT)
    body = parse_body(CancelIn)
    slot = reception.cancel_booking(actor, body.slot_id, number)
    return jsonify({"number": number.strip().upper(), "booked": False, "slot": slot_out(slot)})
