from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import sql

        sql.install()  # SQLite gets the exact integer functions that PostgreSQL has from payouts' migration 0002
