from django.apps import AppConfig


class PartnershipsConfig(AppConfig):
    name = "partnerships"
    verbose_name = "Partnerships"

    def ready(self) -> None:
        from ingestion.registry import register_kind
        from partnerships import checks  # noqa: F401  (registers the deployment's system checks)
        from partnerships.ingest_metrics import KIND
        from partnerships.marketplace.search_cache import connect_signals

        register_kind(KIND)
        connect_signals()
