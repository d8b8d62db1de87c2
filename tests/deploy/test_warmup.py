"""config.warmup: the web process imports the URLconf and every view before it serves (in gunicorn's master with
preload, so a recycled worker's replacement serves its first request warm), and opens no connection doing it."""

import json
import subprocess
import sys

from tests.processes import ROOT, base_env

PROBE = """
import json, sys
import config.wsgi
from django.db import connections
print(json.dumps({
    "views": sorted(m for m in ("partnerships.marketplace.api.views", "payouts.admin", "creators.pages.views")
                    if m in sys.modules),
    "open_connections": [alias for alias in connections if connections[alias].connection is not None],
}))
"""


def test_importing_the_wsgi_application_loads_every_view_without_connecting():
    env = base_env(DJANGO_SETTINGS_MODULE="config.settings_test", DATABASE_URL="sqlite:///unused.sqlite3")
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {"views": ["creators.pages.views", "partnerships.marketplace.api.views", "payouts.admin"],
                      "open_connections": []}
