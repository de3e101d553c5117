"""The process-side instruments, defined once. In multiprocess mode each
process writes its values to files in PROMETHEUS_MULTIPROC_DIR and the
/metrics view sums them (MultiProcessCollector)."""

from prometheus_client import Counter, Histogram

REQUEST_LATENCY = Histogram(
    "palate_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
TASKS = Counter("palate_celery_tasks_total", "Celery tasks finished, by task and outcome.",
                ["task", "state"])
TASK_LATENCY = Histogram(
    "palate_celery_task_duration_seconds", "Time a Celery task ran, by task.", ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 7200.0))
