"""RQ job functions: ids in, one service call, exceptions propagate so RQ records and retries.

Each job runs inside an app context: the current one when the worker runs in a process that
has it (tests), else one app built per worker process from the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps
from typing import Any, TypeVar

from flask import Flask, has_app_context

from wagedispute.database import db

F = TypeVar("F", bound=Callable[..., Any])


@cache
def _process_app() -> Flask:
    from wagedispute import create_app

    return create_app()


def in_app_context(function: F) -> F:
    """Run the job body inside an app context and leave no session behind."""

    @wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            return function(*args, **kwargs)
        with _process_app().app_context():
            try:
                return function(*args, **kwargs)
            finally:
                db.session.remove()

    return run  # type: ignore[return-value]


@in_app_context
def run_outbox(outbox_id: int) -> None:
    """Carry out one outbox row's effect."""
    from wagedispute.outbox import run_outbox_row

    run_outbox_row(outbox_id)


@in_app_context
def run_periodic(target: str) -> None:
    """Run one periodic maintenance service named "module:function"."""
    from importlib import import_module

    module_name, _, function_name = target.partition(":")
    getattr(import_module(module_name), function_name)()
