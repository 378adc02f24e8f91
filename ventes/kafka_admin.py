"""Topic administration with kafka-python."""

from __future__ import annotations

import contextlib

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from ventes.settings import Settings


def admin_client(settings: Settings, timeout_ms: int = 5000) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        request_timeout_ms=timeout_ms,
        client_id="ventes-admin",
    )


def ensure_topic(
    settings: Settings, replication_factor: int = 1, min_insync_replicas: int | None = None
) -> None:
    """Create the sales topic with ``kafka_partitions`` partitions if it does not exist."""
    admin = admin_client(settings)
    try:
        if settings.kafka_topic in admin.list_topics():
            return
        configs = {}
        if min_insync_replicas is not None:
            configs["min.insync.replicas"] = str(min_insync_replicas)
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(
                [
                    NewTopic(
                        settings.kafka_topic,
                        settings.kafka_partitions,
                        replication_factor,
                        topic_configs=configs,
                    )
                ]
            )
    finally:
        admin.close()
