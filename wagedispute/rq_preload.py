"""Preloading for RQ workers: ``rq worker -c wagedispute.rq_preload <queue>``.

RQ imports this "settings" module in the worker's main process, before it forks a work-horse
per job. Importing the project and building the app here means every horse inherits them
instead of paying for the imports and ``create_app`` on each job (about a second of CPU each,
which capped a forking worker at about one job per second). Nothing connects yet: the database
pool and the Redis client connect lazily, inside each horse.
"""

from __future__ import annotations

import wagedispute.jobs  # imports every job body and the modules they call

wagedispute.jobs.process_app()
