from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"
    verbose_name = "Payouts"

    def ready(self) -> None:
        from ingestion.registry import register_kind
        from payouts import checks, closed_months  # noqa: F401  (checks registers the deployment's checks)
        from payouts.ingest import KIND

        closed_months.register()
        from partnerships.services.partitions import register_metric_retention_need
        from payouts.metric_retention import metric_days_needed

        register_metric_retention_need("payouts", metric_days_needed)
        register_kind(KIND)
