"""Long operations (imports, weekly packs, exports) run as jobs from the outbox, with a progress
row to watch."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from wagedispute.access.actors import Actor, street_scope
from wagedispute.messaging.outbox import stage_outbox
from wagedispute.models import BackgroundTask, Outbox, Role, StaffAccount, StaffRole, TaskStatus
from wagedispute.platform.database import db, unit_of_work, utcnow
from wagedispute.platform.errors import DomainError, InvalidInput, NotFound
from wagedispute.platform.timekeeping import district_today
from wagedispute.supervision import alerts, exports, letters, national_platform, weekly_packs
from wagedispute.supervision.daily_check import require_staff_actor

log = logging.getLogger(__name__)

TASK_KINDS = {
    "import": "导入其他渠道记录",
    "national_import": "导入国家平台线索",
    "weekly_packs": "生成周反馈",
    "export": "导出数据",
}
# Kinds that work on an uploaded CSV/XLSX file.
UPLOAD_KINDS = frozenset({"import", "national_import"})
TASK_TOPIC = "background_task"
JOB_TIMEOUT_SECONDS = 30 * 60
MAX_UPLOAD_BYTES = 5 * 1024 * 1024

# ---------------------------------------------------------------------------------------------
# Services the console calls
# ---------------------------------------------------------------------------------------------


def _validate_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check a task's parameters before anything is queued, so a bad request fails at once."""
    if kind == "weekly_packs":
        try:
            week_start = date.fromisoformat(str(params.get("week_start", "")))
        except ValueError as exc:
            raise InvalidInput("请选择周报的起始日期", code="bad_week") from exc
        if week_start.weekday() != 0:
            raise InvalidInput("周报的起始日期须为星期一", code="not_monday")
        return {"week_start": week_start.isoformat()}
    if kind == "export":
        what = params.get("what")
        fmt = params.get("format")
        if what not in {"cases", "indicators"}:
            raise InvalidInput("请选择导出内容", code="bad_export")
        if fmt not in {"csv", "xlsx"}:
            raise InvalidInput("导出格式只能是 CSV 或 XLSX", code="bad_format")
        return {k: v for k, v in params.items() if v not in (None, "")}
    return {}


def start_task(
    actor: Actor,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    upload: bytes | None = None,
    upload_filename: str | None = None,
) -> BackgroundTask:
    """Record a long operation and queue its job; the page at /console/tasks/<id> follows it."""
    require_staff_actor(actor)
    if kind not in TASK_KINDS:
        raise InvalidInput("未知的任务类型", code="bad_task_kind")
    if kind in {"weekly_packs", "national_import"} and actor.staff_role == StaffRole.STREET_STAFF:
        raise NotFound()
    clean = _validate_params(kind, params or {})
    if kind in UPLOAD_KINDS:
        if not upload:
            raise InvalidInput("请选择要导入的文件", code="file_required")
        if len(upload) > MAX_UPLOAD_BYTES:
            raise InvalidInput("文件不能超过5MB", code="file_too_large")
        name = (upload_filename or "").lower()
        if not name.endswith((".csv", ".xlsx")):
            raise InvalidInput("请上传 CSV 或 XLSX 文件", code="bad_file_type")
    task = BackgroundTask(
        kind=kind,
        params=clean,
        input_blob=upload if kind in UPLOAD_KINDS else None,
        input_filename=(upload_filename or "")[:255] or None,
        created_by=actor.id,
        street_id=actor.street_id if actor.staff_role == StaffRole.STREET_STAFF else None,
        message="排队中",
    )
    with unit_of_work():
        db.session.add(task)
        db.session.flush()
        # Driven through the outbox like every other job: an emptied Redis loses no task.
        stage_outbox(TASK_TOPIC, f"{TASK_TOPIC}:{task.id}", {"task_id": task.id})
    return task


def task_scope(actor: Actor) -> sa.ColumnElement[bool]:
    """Street staff see their street's tasks; district roles see all."""
    return street_scope(actor, BackgroundTask.street_id)


def get_task_for(actor: Actor, task_id: int) -> BackgroundTask:
    """One task in scope; anything else is "not found"."""
    require_staff_actor(actor)
    task = db.session.scalars(
        sa.select(BackgroundTask).where(BackgroundTask.id == task_id, task_scope(actor))
    ).one_or_none()
    if task is None:
        raise NotFound()
    return task


def list_tasks(actor: Actor, *, kind: str | None = None, limit: int = 20) -> list[BackgroundTask]:
    """Recent tasks in scope, newest first."""
    require_staff_actor(actor)
    stmt = sa.select(BackgroundTask).where(task_scope(actor))
    if kind:
        stmt = stmt.where(BackgroundTask.kind == kind)
    return list(db.session.scalars(stmt.order_by(BackgroundTask.id.desc()).limit(limit)))


def task_status(task: BackgroundTask) -> dict[str, Any]:
    """The JSON the progress page polls."""
    return {
        "id": task.id,
        "kind": task.kind,
        "status": task.status.value,
        "status_label": task.status.label,
        "progress": task.progress,
        "message": task.message,
        "result": task.result,
        "download": bool(task.result_blob),
        "filename": task.result_filename,
    }


def get_task_download(actor: Actor, task_id: int) -> tuple[str, str, bytes]:
    """A finished task's file: (filename, content type, bytes)."""
    task = get_task_for(actor, task_id)
    if task.status != TaskStatus.DONE or task.result_blob is None:
        raise NotFound("该任务没有可下载的文件")
    return (
        task.result_filename or "download",
        task.result_content_type or "application/octet-stream",
        task.result_blob,
    )


# ---------------------------------------------------------------------------------------------
# Job bodies: ids only; the entry points in wagedispute.jobs give them an app context
# ---------------------------------------------------------------------------------------------


def _staff_actor(staff_id: int | None) -> Actor:
    """The staff member who started a task, with their current role and street."""
    staff = db.session.get(StaffAccount, staff_id) if staff_id else None
    if staff is None or not staff.active:
        raise NotFound("发起任务的账号不存在或已停用")
    return Actor(Role.STAFF, staff.id, street_id=staff.street_id, staff_role=staff.role)


def _progress_reporter(task: BackgroundTask) -> Callable[[int, str], None]:
    """A callback that records progress; services call it only between their writes."""

    def report(progress: int, message: str) -> None:
        task.progress = max(task.progress, min(99, int(progress)))
        task.message = message[:500]
        db.session.commit()

    return report


def run_task_from_outbox(outbox_id: int) -> None:
    """The outbox handler of ``background_task`` rows."""
    row = db.session.get(Outbox, outbox_id)
    task_id = int(row.payload["task_id"])
    db.session.rollback()
    run_background_task(task_id)


def run_background_task(task_id: int) -> dict[str, Any]:
    """Run one task by id (safe to run twice: a finished task is left as it is)."""
    task = db.session.get(BackgroundTask, task_id)
    if task is None:
        log.warning("background task %s not found", task_id)
        return {"missing": True}
    if task.status in {TaskStatus.DONE, TaskStatus.FAILED}:
        return {"status": task.status.value}
    task.status = TaskStatus.RUNNING
    task.started_at = utcnow()
    task.progress = 1
    task.message = "开始处理"
    db.session.commit()
    try:
        _run(task)
    except DomainError as exc:
        # A refusal (a bad file, a vanished account): retrying cannot help.
        db.session.rollback()
        _finish(task, TaskStatus.FAILED, exc.message, {"error": exc.code})
        return {"status": "failed", "code": exc.code}
    except Exception:
        db.session.rollback()
        _finish(task, TaskStatus.FAILED, "任务执行失败，请稍后重试", {"error": "internal"})
        raise
    return {"status": task.status.value}


def _finish(task: BackgroundTask, status: TaskStatus, message: str, result: dict[str, Any]) -> None:
    """Record the end of a task."""
    task = db.session.get(BackgroundTask, task.id) or task
    task.status = status
    task.message = message[:500]
    task.result = result
    task.finished_at = utcnow()
    if status == TaskStatus.DONE:
        task.progress = 100
    db.session.commit()


def _run(task: BackgroundTask) -> None:
    """Do the task's work with its starter's scope."""
    report = _progress_reporter(task)
    if task.kind == "import":
        actor = _staff_actor(task.created_by)
        result = alerts.import_and_scan(
            actor,
            task.input_filename or "",
            task.input_blob or b"",
            task_id=task.id,
            progress=report,
        )
        message = (
            f"导入{result.imported}条，重复{result.duplicates}条，"
            f"有误{len({e.row for e in result.errors})}行，新预警{len(result.alert_ids)}条"
        )
        _finish(task, TaskStatus.DONE, message, result.as_dict())
    elif task.kind == "national_import":
        leads = national_platform.import_leads(
            _staff_actor(task.created_by),
            task.input_filename or "",
            task.input_blob or b"",
            task_id=task.id,
            progress=report,
        )
        _finish(task, TaskStatus.DONE, leads.summary, leads.as_dict())
    elif task.kind == "weekly_packs":
        week_start = date.fromisoformat(task.params["week_start"])
        packs = weekly_packs.build_weekly_packs(week_start, progress=report)
        _finish(
            task,
            TaskStatus.DONE,
            f"已生成{len(packs)}个街道的周反馈",
            {"week_start": week_start.isoformat(), "pack_ids": [p.id for p in packs]},
        )
    elif task.kind == "export":
        actor = _staff_actor(task.created_by)
        fmt = task.params["format"]
        if task.params["what"] == "cases":
            export = exports.export_cases(
                actor,
                fmt,
                exports.CaseExportFilter.from_params(task.params),
                progress=report,
            )
        else:
            year = int(task.params.get("year") or district_today().year)
            export = exports.export_indicators(actor, fmt, year, progress=report)
        task.result_blob = export.data
        task.result_filename = export.filename
        task.result_content_type = export.content_type
        _finish(task, TaskStatus.DONE, "导出完成，可以下载", {"size": len(export.data)})
    else:
        raise InvalidInput("未知的任务类型", code="bad_task_kind")


def build_weekly_packs_job(week_start: str | None = None) -> dict[str, Any]:
    """Periodic maintenance: build the packs of ``week_start`` (default: last week)."""
    if week_start:
        start = date.fromisoformat(week_start)
    else:
        start = weekly_packs.week_start_of(district_today()) - timedelta(days=7)
    packs = weekly_packs.build_weekly_packs(start)
    return {"week_start": start.isoformat(), "packs": len(packs)}


def mark_overdue_letters_job() -> dict[str, Any]:
    """Periodic maintenance: mark letters whose reply date has passed."""
    return {"marked": letters.mark_overdue_replies()}


def scan_alerts_job() -> dict[str, Any]:
    """Periodic maintenance: look for spikes, group growth and pre-festival risk."""
    return {"new_alerts": len(alerts.scan_alerts())}
