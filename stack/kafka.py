"""The local stack's Kafka: one KRaft node (broker and controller in one JVM) from the jars of
``ventes/poms/kafka-broker.xml``. The cluster runs Apache's own Kafka image instead."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from services.catalogue import Service
from ventes import jars
from ventes.errors import VentesError
from ventes.kafka_admin import admin_client, ensure_topic
from ventes.net import port_open
from ventes.settings import Settings


@dataclass(frozen=True)
class KafkaNode:
    node_id: int
    host: str
    port: int
    controller_port: int
    data_dir: Path

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"


def local_node(settings: Settings) -> KafkaNode:
    host, port = settings.kafka_host_port
    return KafkaNode(1, host, port, settings.kafka_controller_port, settings.kafka_data_dir)


def node_properties(node: KafkaNode, partitions: int) -> dict[str, str]:
    """``server.properties`` of a node that is its own quorum."""
    bind = "127.0.0.1" if node.host in ("localhost", "127.0.0.1") else node.host
    return {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{node.controller_port}",
        "listeners": f"PLAINTEXT://{bind}:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{node.host}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(node.data_dir / "logs"),
        "num.partitions": str(partitions),
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "log.retention.hours": "168",
    }


def _log4j(settings: Settings) -> Path:
    path = settings.kafka_data_dir / "log4j2.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.stdout.ref = STDOUT\n"
        "appender.stdout.type = Console\n"
        "appender.stdout.name = STDOUT\n"
        "appender.stdout.layout.type = PatternLayout\n"
        "appender.stdout.layout.pattern = [%d] %p %m (%c)%n\n"
        "logger.kafka.name = kafka\nlogger.kafka.level = WARN\n"
        "logger.apache.name = org.apache.kafka\nlogger.apache.level = WARN\n"
        "logger.server.name = kafka.server.KafkaRaftServer\nlogger.server.level = INFO\n"
    )
    return path


def java_command(settings: Settings, main_class: str, *args: str, heap: str = "512m") -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise VentesError("Java 17 is required: no 'java' on PATH")
    return [
        java,
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        f"-Dlog4j2.configurationFile={settings.kafka_data_dir / 'log4j2.properties'}",
        "-cp",
        jars.kafka_classpath(settings),
        *settings.kafka_opts.split(),  # KAFKA_OPTS, last: they win over the options above
        main_class,
        *args,
    ]


def kafka_uuid(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cluster_id() -> str:
    return kafka_uuid(uuid.uuid4().bytes)


def prepare_node(
    settings: Settings, node: KafkaNode, properties: dict[str, str], voters: list[str] | None = None
) -> None:
    """Write the node's configuration and, on first start, format its storage, as its own
    quorum (``--standalone``) unless ``voters`` says otherwise."""
    path = node.properties_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
    _log4j(settings)
    if (node.data_dir / "logs" / "meta.properties").exists():
        return
    formatting = java_command(
        settings,
        "kafka.tools.StorageTool",
        "format",
        *(voters or ["--standalone", f"--cluster-id={cluster_id()}"]),
        "-c",
        str(path),
        heap="256m",
    )
    result = subprocess.run(formatting, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise VentesError(
            f"kafka: formatting {node.data_dir} failed: {(result.stderr or result.stdout).strip()[-300:]}"
        )


def node_command(settings: Settings, node: KafkaNode, heap: str = "768m") -> list[str]:
    return java_command(settings, "kafka.Kafka", str(node.properties_file), heap=heap)


def _prepare(settings: Settings) -> None:
    node = local_node(settings)
    prepare_node(settings, node, node_properties(node, settings.kafka_partitions))


def healthy(settings: Settings) -> bool:
    host, port = settings.kafka_host_port
    if not port_open(host, port):
        return False
    try:
        admin = admin_client(settings)
        try:
            admin.list_topics()
        finally:
            admin.close()
    except Exception:  # any failure means the broker does not answer yet
        return False
    return True


KAFKA = Service(
    "kafka",
    port=lambda s: s.kafka_host_port[1],
    host=lambda s: s.kafka_host_port[0],
    command=lambda s: node_command(s, local_node(s)),
    healthy=healthy,
    prepare=_prepare,
    on_ready=lambda s: ensure_topic(s),
    url=lambda s: s.kafka_bootstrap_servers,
)
