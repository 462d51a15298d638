"""What foremen and teams do with a case: the foreman's triage and dispatch, the team's work, and
the follow-up (回访) with the worker."""
