"""Preloading for RQ workers: ``-c wagedispute.rq_preload`` in ``queues.worker_command``.

RQ imports this "settings" module in the worker pool's parent process, before it forks its
long-lived worker processes. Importing the project and building the app here means every worker
inherits them: a job pays neither for the imports nor for ``create_app`` (about a second of CPU
each). Nothing connects yet: each forked process opens its own database connections and Redis
client on first use and keeps them for every job it runs (``jobs.in_app_context`` returns the
session's connection to the pool after each job).
"""

from __future__ import annotations

import os

import wagedispute.jobs  # imports every job body and the modules they call
from wagedispute.platform.database import db

app = wagedispute.jobs.process_app()


def _fresh_pool_in_child() -> None:
    """A forked process never shares a connection its parent may have opened."""
    with app.app_context():
        db.engine.dispose(close=False)


os.register_at_fork(after_in_child=_fresh_pool_in_child)
