"""Sinks: durable, batched, idempotent writes of processed events to ClickHouse."""
