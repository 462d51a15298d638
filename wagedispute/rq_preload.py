"""Preloading for RQ workers: ``rq worker -c wagedispute.rq_preload <queue>``.

RQ imports this "settings" module in the worker's main process, before it forks a work-horse
per job. Importing the project and building the app here means every horse inherits them
instead of paying for the imports and ``create_app`` on each job (about a second of CPU each,
which capped a forking worker at about one job per second). Nothing connects yet: the database
pool and the Redis client connect lazily, inside each horse.
"""

from __future__ import annotations

import wagedispute.jobs as _jobs
import wagedispute.notifications  # noqa: F401  (the job bodies' modules, imported once here)
import wagedispute.outbox  # noqa: F401

_jobs._process_app()
