"""Celery's settings (read by config.celery through django.conf.settings, namespace CELERY): imported by
config/settings.py, kept here so the settings module stays readable."""

from config import queues
from config.env import env_int, env_str

# No broker configured means the embedded mode: tasks run eagerly, in process, and errors surface.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Long money computations: acknowledge only after the work committed, give the message back if a
# worker dies, take one message at a time, and let Redis wait longer than the longest run before
# handing an unacknowledged message to another worker.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600),
    # Workers look for messages whose visibility timeout passed (a worker died holding them) every 10 s; kombu's
    # default looks only every tenth time (100 s), which delays the redelivery for nothing.
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
# Separate queues for compute, ingestion and e-mail (config/queues.py); a worker without -Q consumes them all.
CELERY_TASK_QUEUES = queues.QUEUES
CELERY_TASK_DEFAULT_QUEUE = queues.DEFAULT_QUEUE
CELERY_TASK_ROUTES = queues.ROUTES
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Fixed housekeeping, installed into the database schedule by beat at start (money schedules are data, in
# migrations, editable in the admin).
CELERY_BEAT_SCHEDULE = {
    "Re-queue payout runs left computing (every 10 minutes)": {
        "task": "payouts.requeue_stalled_runs", "schedule": 600.0,
    },
    # Daily metrics' partition of each month exists before the month starts; old months retire when the setting says.
    "Daily metrics' monthly partitions ahead (daily)": {
        "task": "partnerships.metric_partitions_ensure", "schedule": 86400.0,
    },
    "Daily metrics' old months to the archive (daily; METRIC_RETENTION_MONTHS)": {
        "task": "partnerships.metric_partitions_retire", "schedule": 86400.0,
    },
    # Creators hear of invitations about to expire (a day before) and expired, once each.
    "Invitation deadlines to creators (hourly)": {
        "task": "creators.notify_invitation_deadlines", "schedule": 3600.0,
    },
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through LOGGING above (JSON in production) instead of Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
