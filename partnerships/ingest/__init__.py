"""Bulk ingestion of CSV files (plain or gzip) into the back-office's tables: see engine.py for how and what it
guarantees, metrics.py for daily metrics; payouts.ingest adds ad revenue."""
