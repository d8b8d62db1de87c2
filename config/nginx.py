"""Render config/nginx.conf (a template) into a complete nginx configuration: nginx in front of gunicorn.

    python -m config.nginx --listen 80 --upstream 127.0.0.1:8000 --prefix /var/lib/cp-nginx > /etc/cp-nginx.conf
    nginx -c /etc/cp-nginx.conf -e stderr -g 'daemon off;'

Standard library only, like config/gunicorn.py: it runs before the project is importable (no Django settings).
The values that vary between a deployment, a test and a benchmark — ports, the folder for nginx's pid, temporary
files and cache, the upstream gunicorn — are options; everything else (buffering, timeouts, the health probes'
cache, the forwarded headers) is the template's and the same everywhere.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().with_name("nginx.conf")
NGINX = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# The subfolders of the prefix the template names (nginx creates the temporary ones' children, not these).
FOLDERS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "health_cache")
DEFAULTS = {
    # One worker: the probes' cache entry is then replaced and read in one process. With two, a reader could open
    # the new file with the old entry's header size, log "cache file has too long header" and pass the probe
    # through (65 such probes in one 30 s flood, nginx 1.22). One worker answered ~3,000 cached probes a second for
    # about 0.16 of a core (bench/health_load.py --proxy nginx): plenty for a back office.
    "worker_processes": "1",
    "error_log": "stderr",
    "access_log": "/dev/stdout",
    "session_cookie": "sessionid",  # Django's SESSION_COOKIE_NAME (tests/deploy/test_nginx.py checks they agree)
    "forwarded_proto": "$scheme",
    "max_body": "25m",
    "max_ingest_body": "2g",
}


def render(*, listen: str, upstream: str, prefix: str | Path, tls_certificate: str = "", tls_key: str = "",
           **values: str) -> str:
    """The configuration text. ``listen`` is nginx's (a port, or address:port); ``upstream`` gunicorn's
    address:port; ``prefix`` a folder nginx may write (pid, temporary bodies, the probes' cache). With
    ``tls_certificate`` and ``tls_key`` nginx terminates TLS on ``listen`` (X-Forwarded-Proto is then https)."""
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown template values: {', '.join(sorted(unknown))}")
    if bool(tls_certificate) != bool(tls_key):
        raise ValueError("TLS needs both a certificate and its key")
    tls = (f"\n        ssl_certificate {tls_certificate};\n        ssl_certificate_key {tls_key};"
           "\n        ssl_protocols TLSv1.2 TLSv1.3;") if tls_certificate else ""
    filled = {**DEFAULTS, **values, "listen": listen, "upstream": upstream, "prefix": str(prefix),
              "listen_tls": " ssl" if tls else "", "tls": tls}
    text = TEMPLATE.read_text()
    missing = {name for name in PLACEHOLDER.findall(text) if name not in filled}
    if missing:
        raise ValueError(f"the template names values nobody gave: {', '.join(sorted(missing))}")
    return PLACEHOLDER.sub(lambda match: filled[match.group(1)], text)


def make_folders(prefix: Path) -> None:
    """The prefix's folders. Started as root, nginx's workers run as an unprivileged user (nobody) and write the
    cache and temporary files there: the prefix (and the folders above it) must let them in."""
    prefix.mkdir(parents=True, exist_ok=True)
    prefix.chmod(0o755)
    if os.geteuid() == 0:
        closed = [folder for folder in prefix.resolve().parents if not folder.stat().st_mode & 0o001]
        if closed:
            raise ValueError(f"nginx's workers (nobody) cannot reach {prefix}: {closed[0]} is closed to others")
    for folder in FOLDERS:
        (prefix / folder).mkdir(parents=True, exist_ok=True)


def write(path: Path, *, prefix: Path, **options: str) -> Path:
    """Render into ``path`` and create the prefix's folders; the path, for ``nginx -c``."""
    make_folders(prefix)
    path.write_text(render(prefix=prefix, **options))
    return path


def command(config: Path, *, foreground: bool = True) -> list[str]:
    """nginx's command line for a rendered configuration: in the foreground (stopped with SIGQUIT or SIGTERM)."""
    return [NGINX, "-c", str(config), "-e", "stderr", *(["-g", "daemon off;"] if foreground else [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="80", help="nginx's port or address:port (default 80)")
    parser.add_argument("--upstream", default="127.0.0.1:8000", help="gunicorn's address:port")
    parser.add_argument("--prefix", required=True, help="a folder nginx writes: pid, temporary files, cache")
    parser.add_argument("--tls-certificate", default="")
    parser.add_argument("--tls-key", default="")
    for name, default in DEFAULTS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", default=default)
    args = vars(parser.parse_args(argv))
    prefix = Path(args.pop("prefix")).resolve()
    make_folders(prefix)
    sys.stdout.write(render(prefix=prefix, **args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
