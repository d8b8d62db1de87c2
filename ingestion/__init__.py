"""Bulk ingestion of CSV files (plain or gzip) into the back-office's tables: the import job, the engine
(ingestion.engine), the kinds registry that apps join in their AppConfig.ready (ingestion.registry), period
guards, the jobs' admin and commands' base. Imports only core; daily metrics are partnerships' kind
(partnerships.ingest_metrics), ad revenue payouts' (payouts.ingest)."""
