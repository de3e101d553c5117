"""Prometheus metrics at /metrics.

Two sources, one page:

- **Process instruments** (instruments.py): request latency and status by
  route (middleware.py) and Celery task counts and durations (worker.py),
  recorded by every web and worker process into prometheus-client's
  multiprocess directory (PROMETHEUS_MULTIPROC_DIR, set by the settings to
  PALATE_METRICS_DIR), so gunicorn's forked workers and Celery's prefork
  children add up instead of each answering for itself.
- **State read from the database at scrape time** (collector.py): labels per
  project in the last minute, open items and live leases, jobs by kind and
  status, worker heartbeats and their age, training progress, generation
  tokens/s, and whether the database and the broker answer. The database is
  the source of truth, so any web process gives the same answer.
"""
