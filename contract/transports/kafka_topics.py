"""Create or update the Kafka topics, keeping retention within the raw-event TTL."""

from __future__ import annotations

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from contract.errors import TransportError
from contract.settings import Settings


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Topic name → config; retention.ms is capped by the raw TTL (a privacy invariant)."""
    retention_ms = min(settings.kafka_retention_hours, settings.raw_ttl_days * 24) * 3_600_000
    common = {"retention.ms": str(retention_ms), "cleanup.policy": "delete",
              "compression.type": "producer"}
    return {settings.kafka_topic: common, settings.kafka_dlq_topic: dict(common)}


def ensure_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """Create missing topics and set the configs on existing ones; return what was set."""
    configs = topic_configs(settings)
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","),
                                 request_timeout_ms=15_000)
    except KafkaError as exc:
        raise TransportError(f"cannot reach Kafka at {settings.kafka_bootstrap}: "
                             f"{type(exc).__name__}") from exc
    try:
        existing = set(admin.list_topics())
        for name, config in configs.items():
            partitions = settings.kafka_partitions if name == settings.kafka_topic else 1
            if name not in existing:
                try:
                    admin.create_topics({name: {"num_partitions": partitions,
                                                "replication_factor": -1, "configs": config}},
                                        wait_for_metadata=True)
                except TopicAlreadyExistsError:
                    pass
            admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name,
                                                configs=config)])
        return configs
    except KafkaError as exc:
        raise TransportError(f"topic set-up on {settings.kafka_bootstrap} failed: {exc}") from exc
    finally:
        admin.close()


def live_retention_ms(settings: Settings, topic: str) -> int:
    """retention.ms of a topic as the broker has it now."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","))
    try:
        # kafka-python 3: {resource_type: {resource_name: {config_key: {config data}}}}
        result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        for by_name in result.values():
            entry = by_name.get(topic, {}).get("retention.ms")
            if entry is not None:
                return int(entry["value"] if isinstance(entry, dict) else entry)
        raise TransportError(f"topic {topic} has no retention.ms")
    finally:
        admin.close()
