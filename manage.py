#!/usr/bin/env python
import os
import sys

# Commands that only read the code (no request served, nothing signed or stored with the key) run without a
# SECRET_KEY; every other command outside DEBUG still needs the real one (config/settings.py).
KEYLESS_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate", "spectacular"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(sys.argv) > 1 and sys.argv[1] in KEYLESS_COMMANDS:
        os.environ.setdefault("SECRET_KEY", "not-a-secret-for-offline-commands")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
