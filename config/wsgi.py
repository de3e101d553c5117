import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from config.celery import app as celery_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Import every view now (the URL patterns pull them in) rather than on the first
# request, then move everything loaded so far out of the garbage collector's
# reach: a full collection over the ~120,000 objects of Django, DRF and Celery
# takes ~40 ms and used to land in random requests as their p99. Frozen objects
# are never scanned (and, with gunicorn --preload, never copied-on-write by a
# collection in the forked workers).
get_resolver().url_patterns  # noqa: B018 - evaluated for its imports
# Likewise register Celery's tasks now: done lazily, the first task a process
# sends (a submission's quality recompute) costs it ~25 ms more. Connections are
# still made on first use, after gunicorn forks.
celery_app.finalize(auto=True)
gc.freeze()
