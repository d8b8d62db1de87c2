import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.health import fast_path  # noqa: E402 - needs the settings configured above

application = fast_path(application)

from config.warmup import warm_up  # noqa: E402

warm_up()
