import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_init, worker_process_init
from django.conf import settings

from config.worker_threads import threads_limit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("palate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender, **kwargs):
    # kombu's filesystem transport expects its folders to exist. (After
    # configure: reading sender.conf inside on_configure recurses.)
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@worker_init.connect
@worker_process_init.connect
def _limit_compute_threads(**kwargs):
    # worker_init: the solo pool runs tasks in the main process (the trainer);
    # worker_process_init: each prefork child. See config/worker_threads.py.
    threads_limit(settings.PALATE_TORCH_THREADS)
