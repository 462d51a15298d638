"""Console: the working-day calendar (工作日历), and the dashboard's warning about missing years."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field, ValidationError

from handlers.console import use_console_pages, view
from wagedispute.access.actors import Actor
from wagedispute.cases import calendar
from wagedispute.models import StaffRole
from wagedispute.platform.errors import InvalidInput
from wagedispute.platform.timekeeping import district_today

blueprint = Blueprint(
    "console_calendar", __name__, url_prefix="/console", template_folder="templates"
)
use_console_pages(blueprint)

ADMIN = StaffRole.DISTRICT_ADMIN
ALL_STAFF = (StaffRole.DISTRICT_ADMIN, StaffRole.DISTRICT_SUPERVISOR, StaffRole.STREET_STAFF)


class YearForm(BaseModel):
    """A year's State Council notice as staff type it."""

    notice: str = Field(min_length=1, max_length=200)
    holidays: str = Field(default="", max_length=4000)
    workdays: str = Field(default="", max_length=4000)


@blueprint.app_template_global("calendar_warning")
def calendar_warning() -> str | None:
    """The dashboard's warning when the next 60 days reach a year without holidays."""
    return calendar.calendar_warning(district_today())


@blueprint.get("/calendar")
@view(*ALL_STAFF)
def index(actor: Actor) -> ResponseReturnValue:
    """Every year near today: where its holidays come from."""
    today = district_today()
    return render_template(
        "console/bureau/calendar.html",
        nav="calendar",
        years=calendar.list_years(actor, today),
        warning=calendar.calendar_warning(today),
        can_edit=actor.staff_role == ADMIN,
    )


@blueprint.get("/calendar/<int:year>")
@view(*ALL_STAFF)
def year_page(actor: Actor, year: int) -> ResponseReturnValue:
    """One year's holidays and make-up working days, and the form to enter its notice."""
    return _render_year(actor, year)


def _render_year(
    actor: Actor, year: int, form: dict[str, str] | None = None, error: str | None = None
) -> ResponseReturnValue:
    shown = calendar.get_year(actor, year)
    if form is None:
        form = {
            "notice": shown.notice,
            "holidays": calendar.format_dates(shown.holidays),
            "workdays": calendar.format_dates(shown.workdays),
        }
    return render_template(
        "console/bureau/calendar_year.html",
        nav="calendar",
        year=shown,
        form=form,
        error=error,
        can_edit=actor.staff_role == ADMIN,
    ), (422 if error else 200)


@blueprint.post("/calendar/<int:year>")
@view(ADMIN)
def save_year(actor: Actor, year: int) -> ResponseReturnValue:
    """Enter or correct a year's notice; every clock uses it from the next unit of work."""
    try:
        form = YearForm.model_validate(request.form.to_dict())
        calendar.save_year(actor, year, form.notice, form.holidays, form.workdays)
    except ValidationError:
        return _render_year(actor, year, request.form.to_dict(), "请填写通知名称（不超过200字）")
    except InvalidInput as exc:
        return _render_year(actor, year, request.form.to_dict(), exc.message)
    flash(f"{year}年工作日历已保存，所有办理时限即按此计算")
    return redirect(url_for("console_calendar.year_page", year=year))
