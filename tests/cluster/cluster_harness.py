"""What the cluster tests drive: a Kafka KRaft quorum, a Spark standalone cluster, PostgreSQL.

The fixtures that start them are in this folder's conftest.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from services import catalogue
from stack import kafka, processes
from ventes.net import port_open
from ventes.settings import Settings

TOPIC_REPLICATION_FACTOR = 3
TOPIC_MIN_INSYNC_REPLICAS = 2


def wait_for(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.5) -> float:
    """Poll ``check`` until it is true; return the seconds it took, fail the test after ``timeout``.

    An exception from ``check`` counts as "not yet" (a client may reach a broker that is down).
    """
    begin = time.monotonic()
    last_error: Exception | None = None
    while time.monotonic() - begin < timeout:
        try:
            if check():
                return time.monotonic() - begin
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout:.0f}s" + (f" (last error: {last_error})" if last_error else ""))


# --- Kafka: three KRaft nodes ------------------------------------------------------------


def quorum_properties(
    node: kafka.KafkaNode, quorum: list[kafka.KafkaNode], partitions: int
) -> dict[str, str]:
    """A node's ``server.properties`` as a member of ``quorum``: internal topics as durable as
    the sales topic (on 3 nodes, writable with one down)."""
    replicas, min_isr = str(min(3, len(quorum))), str(min(2, len(quorum)))
    return {
        **kafka.node_properties(node, partitions),
        "controller.quorum.bootstrap.servers": ",".join(f"127.0.0.1:{n.controller_port}" for n in quorum),
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
    }


def _directory_id(cluster_id: str, node_id: int) -> str:
    # Derived, so that every node formats with the same list of initial controllers.
    return kafka.kafka_uuid(uuid.uuid5(uuid.NAMESPACE_URL, f"kafka:{cluster_id}/{node_id}").bytes)


def prepare_quorum_node(
    settings: Settings, node: kafka.KafkaNode, quorum: list[kafka.KafkaNode], cluster_id: str
) -> None:
    """Every node of the quorum formatted with the same cluster id and initial controllers."""
    controllers = ",".join(
        f"{n.node_id}@127.0.0.1:{n.controller_port}:{_directory_id(cluster_id, n.node_id)}" for n in quorum
    )
    voters = ["--initial-controllers", controllers, f"--cluster-id={cluster_id}"]
    kafka.prepare_node(settings, node, quorum_properties(node, quorum, settings.kafka_partitions), voters)


@dataclasses.dataclass
class KafkaCluster:
    settings: Settings
    nodes: list[kafka.KafkaNode]
    cluster_id: str

    def service(self, node: kafka.KafkaNode) -> catalogue.Service:
        return catalogue.Service(
            f"kafka-{node.node_id}",
            port=lambda s: node.port,
            host=lambda s: node.host,
            command=lambda s: kafka.node_command(s, node, heap="384m"),
            # The controller listener opens before the quorum has a leader, so the nodes can be
            # started one after the other; the brokers answer once a majority is up.
            healthy=lambda s: port_open("127.0.0.1", node.controller_port),
            prepare=lambda s: prepare_quorum_node(s, node, self.nodes, self.cluster_id),
        )

    def node(self, node_id: int) -> kafka.KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def start(self, node_id: int) -> None:
        processes.start(self.settings, self.service(self.node(node_id)))

    def kill(self, node_id: int) -> None:
        """SIGKILL: no clean shutdown, no leadership hand-over."""
        pid = processes.read_pid(self.settings, f"kafka-{node_id}")
        assert pid is not None, f"kafka-{node_id} is not running"
        os.killpg(pid, signal.SIGKILL)
        wait_for(
            f"kafka-{node_id} to die",
            lambda: processes.read_pid(self.settings, f"kafka-{node_id}") is None,
            10,
        )

    def start_all(self) -> None:
        # In parallel: formatting and JVM start-up dominate, and no node waits for another.
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(self.start, [n.node_id for n in self.nodes]))

    def stop(self) -> None:
        # All at once: a node left alone without a quorum cannot finish a controlled shutdown.
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(
                pool.map(
                    lambda n: processes.stop(self.settings, f"kafka-{n.node_id}", timeout=15), self.nodes
                )
            )

    def admin(self):
        from ventes.kafka_admin import admin_client

        return admin_client(self.settings)

    def partitions(self) -> list[dict]:
        """Leader, replicas and in-sync replicas of each partition of the sales topic."""
        admin = self.admin()
        try:
            (topic,) = admin.describe_topics([self.settings.kafka_topic])
        finally:
            admin.close()
        return sorted(
            (
                {"partition": p["partition_index"], "leader": p["leader_id"],
                 "replicas": p["replica_nodes"], "isr": p["isr_nodes"]}
                for p in topic["partitions"]
            ),
            key=lambda p: p["partition"],
        )  # fmt: skip

    def topic_config(self) -> dict[str, str]:
        """The sales topic's settings that differ from the broker defaults."""
        from kafka.admin import ConfigResource, ConfigResourceType

        admin = self.admin()
        try:
            resource = ConfigResource(ConfigResourceType.TOPIC, self.settings.kafka_topic)
            configs = admin.describe_configs([resource])["topic"][self.settings.kafka_topic]
        finally:
            admin.close()
        return {key: entry["value"] for key, entry in configs.items()}


# --- Spark standalone: a master and a worker -----------------------------------------------


@dataclasses.dataclass
class SparkCluster:
    master_url: str
    webui_port: int
    work_dir: Path  # the worker's: one folder per application that ran executors there
    secret: str  # spark.authenticate.secret of the master, the worker and their applications

    def state(self) -> dict:
        url = f"http://127.0.0.1:{self.webui_port}/json/"
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)

    def alive_workers(self) -> int:
        try:
            return sum(1 for w in self.state()["workers"] if w["state"] == "ALIVE")
        except OSError:
            return 0

    def completed_apps(self) -> list[dict]:
        return self.state()["completedapps"]

    def app_ids(self) -> set[str]:
        """Every application the master admitted, running or finished."""
        state = self.state()
        return {app["id"] for app in state["activeapps"] + state["completedapps"]}


def spark_ui_alive(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response).get("status") == "ALIVE"
    except (OSError, ValueError):
        return False


# --- PostgreSQL -----------------------------------------------------------------------------


POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
# docker-compose mounts docker/postgres/ as the postgres container's docker-entrypoint-initdb.d.
POSTGRES_INIT_SCRIPT = Path(__file__).resolve().parents[2] / "docker" / "postgres" / "10-roles.sh"


@dataclasses.dataclass
class Role:
    """A login role and the one database it owns."""

    name: str
    password: str
    database: str


@dataclasses.dataclass
class Postgres:
    """A running server: its superuser, and a role per database (``airflow``, ``metastore``)."""

    bin_dir: Path
    port: int
    user: str
    password: str
    roles: dict[str, Role]

    @property
    def jdbc_url(self) -> str:
        """The metastore role's URL, as docker-compose gives the Thrift server (METASTORE_URL)."""
        role = self.roles["metastore"]
        return (
            f"jdbc:postgresql://127.0.0.1:{self.port}/{role.database}"
            f"?user={role.name}&password={role.password}"
        )

    def sqlalchemy_url(self, database: str) -> str:
        """The form docker-compose gives Airflow (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)."""
        role = self.roles[database]
        return f"postgresql+psycopg2://{role.name}:{role.password}@127.0.0.1:{self.port}/{role.database}"

    def superuser_env(self) -> dict[str, str]:
        """libpq's variables for the superuser on this server (psql, createdb)."""
        return {
            **os.environ,
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
        }

    def run_init_script(self, script: Path) -> subprocess.CompletedProcess:
        """Run an init script as the postgres image runs it, with docker-compose's variables."""
        airflow, metastore = self.roles["airflow"], self.roles["metastore"]
        env = {
            **self.superuser_env(),
            "POSTGRES_USER": self.user,
            "POSTGRES_DB": "postgres",
            "AIRFLOW_DB": airflow.database,
            "AIRFLOW_DB_USER": airflow.name,
            "AIRFLOW_DB_PASSWORD": airflow.password,
            "METASTORE_DB": metastore.database,
            "METASTORE_DB_USER": metastore.name,
            "METASTORE_DB_PASSWORD": metastore.password,
        }
        return subprocess.run([str(script)], env=env, check=True, capture_output=True, text=True)
