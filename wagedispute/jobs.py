"""Every background job in one registry, and the RQ entry points that run them.

Job targets are imported functions, so readers and import-linter see each dependency. The
entry points' dotted names (``wagedispute.jobs.run_outbox``, ``wagedispute.jobs.run_periodic``)
are stored in Redis with every queued job, so they never move; periodic runs are named by a
stable key, and the ``module:function`` names queued before the package was regrouped still
resolve (``LEGACY_PERIODIC_NAMES``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, wraps
from typing import Any, TypeVar

from flask import Flask, has_app_context

from wagedispute.cases.clocks import escalate_breaches
from wagedispute.handling.dispatch import auto_dispatch_overdue_critical
from wagedispute.handling.followup import close_unanswered
from wagedispute.messaging.notifications import (
    notify_access_code,
    notify_auto_dispatch,
    notify_breach,
    notify_case_step,
    notify_followup_call,
)
from wagedispute.messaging.outbox import run_outbox_row
from wagedispute.messaging.push import apply_push_message
from wagedispute.platform.database import db
from wagedispute.supervision.tasks import (
    JOB_TIMEOUT_SECONDS as TASK_TIMEOUT_SECONDS,
)
from wagedispute.supervision.tasks import (
    TASK_TOPIC,
    build_weekly_packs_job,
    mark_overdue_letters_job,
    run_task_from_outbox,
    scan_alerts_job,
)

DEFAULT_TIMEOUT_SECONDS = 60
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Topic:
    """Where an outbox row's job runs and which service carries out its effect."""

    queue: str
    handler: Callable[[int], Any]  # called with the Outbox row's id
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS


TOPICS: dict[str, Topic] = {
    "case_step": Topic("dispatch", notify_case_step),
    "breach_notify": Topic("notify", notify_breach),
    "foreman_auto_dispatch": Topic("notify", notify_auto_dispatch),
    "wechat_push": Topic("notify", apply_push_message),
    "followup_call": Topic("notify", notify_followup_call),
    "access_code_sms": Topic("notify", notify_access_code),
    TASK_TOPIC: Topic("maintenance", run_task_from_outbox, TASK_TIMEOUT_SECONDS),
}


@dataclass(frozen=True)
class Periodic:
    """A maintenance service the relay puts on the maintenance queue once per interval."""

    interval_seconds: int
    run: Callable[[], Any]


PERIODIC: dict[str, Periodic] = {
    "escalate_breaches": Periodic(60, escalate_breaches),
    "auto_dispatch_overdue_critical": Periodic(60, auto_dispatch_overdue_critical),
    "scan_alerts": Periodic(600, scan_alerts_job),
    "close_unanswered": Periodic(3600, close_unanswered),
    "mark_overdue_letters": Periodic(3600, mark_overdue_letters_job),
    "build_weekly_packs": Periodic(6 * 3600, build_weekly_packs_job),
}

# Periodic runs queued before the regroup carry "module:function"; they still run.
LEGACY_PERIODIC_NAMES: dict[str, str] = {
    "wagedispute.clocks:escalate_breaches": "escalate_breaches",
    "wagedispute.clocks:auto_dispatch_overdue_critical": "auto_dispatch_overdue_critical",
    "wagedispute.tasks:scan_alerts_job": "scan_alerts",
    "wagedispute.followup:close_unanswered": "close_unanswered",
    "wagedispute.tasks:mark_overdue_letters_job": "mark_overdue_letters",
    "wagedispute.tasks:build_weekly_packs_job": "build_weekly_packs",
}


@cache
def process_app() -> Flask:
    """The one core app of a worker process, built on first use (or preloaded by rq_preload)."""
    from wagedispute import create_app

    return create_app()


def in_app_context(function: F) -> F:
    """Run a job inside an app context (the current one in tests) and leave no session behind."""

    @wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            return function(*args, **kwargs)
        with process_app().app_context():
            try:
                return function(*args, **kwargs)
            finally:
                db.session.remove()

    return run  # type: ignore[return-value]


@in_app_context
def run_outbox(outbox_id: int) -> None:
    """RQ entry point: carry out one outbox row's effect."""
    run_outbox_row(outbox_id, {name: topic.handler for name, topic in TOPICS.items()})


@in_app_context
def run_periodic(name: str) -> None:
    """RQ entry point: run one periodic maintenance service by its stable name."""
    PERIODIC[LEGACY_PERIODIC_NAMES.get(name, name)].run()
