"""The Celery application: `celery -A stream_portal worker` and `celery -A stream_portal beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stream_portal.settings")

app = Celery("stream_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
