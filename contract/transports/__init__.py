"""Transport implementations: the local event log (embedded) and Kafka (distributed)."""
