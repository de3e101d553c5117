"""Durable jobs: one base for every row that a Celery task works on.

A job is a row first and a broker message second. The row owns the status
(``JobStatus``); a worker takes it with a compare-and-set that bumps
``attempt`` (``job_claim``), and every later write of that worker is
conditional on ``status=running`` and its own attempt (``job_mine``), so a
job that was cancelled, or requeued by the watchdog and claimed again, stops
its old worker at the next write instead of racing the new one: the attempt
is a fencing token. Workers heartbeat (``job_heartbeat``); the watchdog
(``jobs_requeue_stale``) sends jobs whose heartbeat stopped back to the
queue; and the redelivery sweep (config/redelivery.py) re-sends every kind
registered here (``job_kind_register``) whose row stayed queued, in case the
broker lost the message.

Models: ``core.jobs.models``; helpers: ``core.jobs.fencing``; kinds:
``core.jobs.registry``.
"""
