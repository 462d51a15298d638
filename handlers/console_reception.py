"""Console: 周四大接访 — reception days, slots booked for cases, reception records, promises."""

from __future__ import annotations

from datetime import date, time
from typing import Literal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field, ValidationError, field_validator

from handlers.console import use_console_pages, view
from wagedispute.access.actors import Actor
from wagedispute.models import StaffRole
from wagedispute.platform.errors import InvalidInput
from wagedispute.platform.timekeeping import district_today
from wagedispute.platform.validation import DbId
from wagedispute.supervision import reception

blueprint = Blueprint(
    "console_reception", __name__, url_prefix="/console", template_folder="templates"
)
use_console_pages(blueprint)

ADMIN = StaffRole.DISTRICT_ADMIN
SUPERVISOR = StaffRole.DISTRICT_SUPERVISOR
ALL_STAFF = (ADMIN, SUPERVISOR, StaffRole.STREET_STAFF)


def _blank_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class DayForm(BaseModel):
    """Announce a reception day."""

    day: date
    leader_name: str = Field(min_length=1, max_length=32)
    leader_title: str = Field(min_length=1, max_length=64)
    place: str = Field(min_length=1, max_length=128)
    first_slot: time = time(9, 0)
    last_slot_end: time = time(12, 0)
    slot_minutes: int = Field(default=30, ge=10, le=120)
    note: str = Field(default="", max_length=2000)


class BookForm(BaseModel):
    """Book a slot for a case by its number."""

    case_number: str = Field(min_length=1, max_length=32)
    note: str = Field(default="", max_length=200)


class RecordForm(BaseModel):
    """The reception record; a booked slot names its case, a walk-in needs the case number."""

    case_number: str = Field(default="", max_length=32)
    slot_id: DbId | None = None
    received_by: str = Field(min_length=1, max_length=64)
    visitors: str = Field(default="", max_length=200)
    summary: str = Field(min_length=1, max_length=4000)
    promise: str = Field(default="", max_length=2000)
    promise_due_on: date | None = None
    promise_working_days: int | None = Field(default=None, ge=1, le=60)
    promise_settles_case: bool = False

    _blanks = field_validator("slot_id", "promise_due_on", "promise_working_days", mode="before")(
        _blank_none
    )


class KeptForm(BaseModel):
    """A promise kept; ``back`` is the page it was confirmed from."""

    note: str = Field(min_length=1, max_length=1000)
    back: Literal["daily", "reception"] = "reception"


BACK_PAGES = {"daily": "console_supervision.daily", "reception": "console_reception.index"}


def _form(model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(request.form.to_dict())
    except ValidationError as exc:
        fields = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]})
        raise InvalidInput("表单填写有误，请检查后重试", details={"fields": fields}) from exc


@blueprint.get("/reception")
@view(*ALL_STAFF)
def index(actor: Actor) -> ResponseReturnValue:
    """Upcoming reception days, promises falling due, and the form to announce a day."""
    today = district_today()
    return render_template(
        "console/bureau/reception.html",
        nav="reception",
        days=reception.upcoming_days(today),
        promises=reception.promises_due(actor),
        can_organise=actor.staff_role in reception.ORGANISER_ROLES,
        today=today,
    )


@blueprint.post("/reception/days")
@view(ADMIN, SUPERVISOR)
def create_day(actor: Actor) -> ResponseReturnValue:
    """Announce a Thursday reception with its slots."""
    form = _form(DayForm)
    assert isinstance(form, DayForm)
    created = reception.create_reception_day(
        actor,
        form.day,
        leader_name=form.leader_name,
        leader_title=form.leader_title,
        place=form.place,
        first_slot=form.first_slot,
        last_slot_end=form.last_slot_end,
        slot_minutes=form.slot_minutes,
        note=form.note,
    )
    flash(f"已安排{created.day.isoformat()}周四大接访，共{len(created.slots)}个预约时段")
    return redirect(url_for("console_reception.day_page", day_id=created.id))


@blueprint.get("/reception/days/<int:day_id>")
@view(*ALL_STAFF)
def day_page(actor: Actor, day_id: int) -> ResponseReturnValue:
    """A reception day: slots, bookings, the record forms and the records."""
    day = reception.get_reception_day(actor, day_id)
    records = reception.records_of_day(actor, day_id)
    recorded_slots = {r.slot_id for r in records if r.slot_id}
    return render_template(
        "console/bureau/reception_day.html",
        nav="reception",
        day=day,
        records=records,
        recorded_slots=recorded_slots,
        slot_label=reception.slot_label,
    )


@blueprint.post("/reception/slots/<int:slot_id>/book")
@view(*ALL_STAFF)
def book(actor: Actor, slot_id: int) -> ResponseReturnValue:
    """Book a slot for a case in the staff member's scope."""
    form = _form(BookForm)
    assert isinstance(form, BookForm)
    slot = reception.book_slot(actor, slot_id, form.case_number, form.note)
    flash(f"已为案件{slot.case.number}预约{reception.slot_label(slot)}")
    return redirect(url_for("console_reception.day_page", day_id=slot.reception_day_id))


@blueprint.post("/reception/slots/<int:slot_id>/cancel")
@view(*ALL_STAFF)
def cancel(actor: Actor, slot_id: int) -> ResponseReturnValue:
    """Free a booked slot."""
    slot = reception.cancel_booking(actor, slot_id)
    flash(f"已取消{reception.slot_label(slot)}的预约")
    return redirect(url_for("console_reception.day_page", day_id=slot.reception_day_id))


@blueprint.post("/reception/days/<int:day_id>/records")
@view(*ALL_STAFF)
def record(actor: Actor, day_id: int) -> ResponseReturnValue:
    """Write down a reception: it joins the case's timeline and clocks."""
    form = _form(RecordForm)
    assert isinstance(form, RecordForm)
    saved = reception.record_reception(
        actor,
        day_id,
        form.case_number or None,
        reception.ReceptionInput(
            received_by=form.received_by,
            visitors=form.visitors,
            summary=form.summary,
            promise=form.promise,
            promise_due_on=form.promise_due_on,
            promise_working_days=form.promise_working_days,
            promise_settles_case=form.promise_settles_case,
        ),
        slot_id=form.slot_id,
    )
    flash(f"已记录案件{saved.case.number}的接访情况")
    return redirect(url_for("console_reception.day_page", day_id=day_id))


@blueprint.post("/reception/records/<int:record_id>/kept")
@view(*ALL_STAFF)
def kept(actor: Actor, record_id: int) -> ResponseReturnValue:
    """Confirm a promise was kept."""
    form = _form(KeptForm)
    assert isinstance(form, KeptForm)
    saved = reception.mark_promise_kept(actor, record_id, form.note)
    flash(f"案件{saved.case.number}的接访承诺已确认兑现")
    return redirect(url_for(BACK_PAGES[form.back]))
