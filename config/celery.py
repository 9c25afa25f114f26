import os
import signal

from celery import Celery
from celery.signals import beat_embedded_init

from training.ml.lifetime import die_with_parent

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ladderlab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_embedded_init.connect
def embedded_beat_dies_with_its_worker(**kwargs) -> None:
    """A worker's `--beat` child, orphaned by a worker killed outright, would schedule beside its successor's."""
    die_with_parent(signal.SIGTERM)
