"""Distributed deployments on loopback, without Docker.

A three-node Kafka KRaft quorum started from the project's own broker jars, and a Spark
standalone cluster (a master and a worker) started from the installed pyspark. Each process is
started through :func:`ventes.stack.start` (pid file, log file, bounded wait) and stopped by
its pid at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ventes import jars, stack
from ventes.settings import Settings

TOPIC_REPLICATION_FACTOR = 3
TOPIC_MIN_INSYNC_REPLICAS = 2


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all held open together, so none repeats)."""
    with contextlib.ExitStack() as stack_:
        socks = [stack_.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


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


@dataclasses.dataclass
class KafkaCluster:
    settings: Settings
    nodes: list[stack.KafkaNode]
    cluster_id: str

    def service(self, node: stack.KafkaNode) -> stack.Service:
        return stack.Service(
            f"kafka-{node.node_id}",
            port=lambda s: node.port,
            host=lambda s: node.host,
            command=lambda s: stack.kafka_node_command(s, node, heap="384m"),
            # The controller listener opens before the quorum has a leader, so the nodes can be
            # started one after the other; the brokers answer once a majority is up.
            healthy=lambda s: stack.port_open("127.0.0.1", node.controller_port),
            prepare=lambda s: stack.prepare_kafka_node(s, node, self.nodes, self.cluster_id),
        )

    def node(self, node_id: int) -> stack.KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def start(self, node_id: int) -> None:
        stack.start(self.settings, self.service(self.node(node_id)))

    def kill(self, node_id: int) -> None:
        """SIGKILL: no clean shutdown, no leadership hand-over."""
        pid = stack.read_pid(self.settings, f"kafka-{node_id}")
        assert pid is not None, f"kafka-{node_id} is not running"
        os.killpg(pid, signal.SIGKILL)
        wait_for(
            f"kafka-{node_id} to die", lambda: stack.read_pid(self.settings, f"kafka-{node_id}") is None, 10
        )

    def start_all(self) -> None:
        # In parallel: formatting and JVM start-up dominate, and no node waits for another.
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(self.start, [n.node_id for n in self.nodes]))

    def stop(self) -> None:
        # All at once: a node left alone without a quorum cannot finish a controlled shutdown.
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda n: stack.stop(self.settings, f"kafka-{n.node_id}", timeout=15), self.nodes))

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


@pytest.fixture(scope="module")
def kafka_cluster(test_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Three broker+controller nodes on loopback; the sales topic with RF 3, min ISR 2."""
    jars.ensure_jars(test_env)
    home = tmp_path_factory.mktemp("kafka_cluster")
    ports = free_ports(6)
    nodes = [
        stack.KafkaNode(i + 1, "127.0.0.1", ports[2 * i], ports[2 * i + 1], home / "kafka" / f"node-{i + 1}")
        for i in range(3)
    ]
    settings = dataclasses.replace(
        test_env,
        home=home,
        delta_root=home / "delta",
        kafka_bootstrap_servers=",".join(f"{n.host}:{n.port}" for n in nodes),
    )
    cluster = KafkaCluster(settings, nodes, stack.kafka_cluster_id())
    try:
        cluster.start_all()
        # The topic is created as docker-compose's kafka-init creates it.
        init = subprocess.run(
            [sys.executable, str(settings.project_root / "docker" / "serve.py"), "kafka-topic",
             "--replication-factor", str(TOPIC_REPLICATION_FACTOR),
             "--min-insync-replicas", str(TOPIC_MIN_INSYNC_REPLICAS), "--timeout", "90"],
            env=stack.child_env(settings), capture_output=True, text=True, timeout=150, check=False,
        )  # fmt: skip
        assert init.returncode == 0, init.stdout[-1000:] + init.stderr[-1000:]
        wait_for(
            "every partition fully in sync",
            lambda: all(len(p["isr"]) == TOPIC_REPLICATION_FACTOR for p in cluster.partitions()),
            30,
        )
        yield cluster
    finally:
        cluster.stop()


# --- Spark standalone: a master and a worker -----------------------------------------------


@dataclasses.dataclass
class SparkCluster:
    master_url: str
    webui_port: int
    work_dir: Path  # the worker's: one folder per application that ran executors there

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


@pytest.fixture(scope="module")
def spark_cluster(test_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    home = tmp_path_factory.mktemp("spark_cluster")
    settings = dataclasses.replace(test_env, home=home)
    port, webui_port, worker_port, worker_webui_port = free_ports(4)
    cluster = SparkCluster(f"spark://127.0.0.1:{port}", webui_port, home / "work")
    master = stack.Service(
        "spark-master",
        port=lambda s: port,
        host=lambda s: "127.0.0.1",
        command=lambda s: stack.spark_master_command("127.0.0.1", port, webui_port),
        healthy=lambda s: _http_json_ok(f"http://127.0.0.1:{webui_port}/json/"),
    )
    worker = stack.Service(
        "spark-worker",
        port=lambda s: worker_port,
        host=lambda s: "127.0.0.1",
        command=lambda s: stack.spark_worker_command(
            cluster.master_url,
            "127.0.0.1",
            worker_port,
            worker_webui_port,
            cores=1,
            memory="1g",
            work_dir=cluster.work_dir,
        ),
        healthy=lambda s: cluster.alive_workers() == 1,
    )
    try:
        stack.start(settings, master)
        stack.start(settings, worker)
        yield cluster
    finally:
        stack.stop(settings, "spark-worker")
        stack.stop(settings, "spark-master")


def _http_json_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response).get("status") == "ALIVE"
    except (OSError, ValueError):
        return False


# --- PostgreSQL: a Hive metastore shared over JDBC -----------------------------------------


POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))


@dataclasses.dataclass
class Postgres:
    port: int
    user: str
    password: str
    database: str

    @property
    def jdbc_url(self) -> str:
        return (
            f"jdbc:postgresql://127.0.0.1:{self.port}/{self.database}"
            f"?user={self.user}&password={self.password}"
        )


@pytest.fixture(scope="module")
def postgres(test_env: Settings) -> Iterator[Postgres]:
    """A throw-away PostgreSQL server on loopback, with password authentication."""
    if not POSTGRES_BIN:
        pytest.fail("PostgreSQL is needed for the shared metastore test: apt-get install postgresql")
    bin_dir = POSTGRES_BIN[-1].parent
    # PostgreSQL refuses to run as root: then it runs as `nobody`, in a folder nobody owns.
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="ventes-pg-"))
    server = Postgres(free_ports(1)[0], "ventes", secrets.token_hex(8), "metastore")
    settings = dataclasses.replace(test_env, home=data / "home")
    (data / "pwfile").write_text(server.password + "\n")
    if as_user:
        shutil.chown(data, "nobody")
        shutil.chown(data / "pwfile", "nobody")

    def prepare(s: Settings) -> None:
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", server.user,
             "--auth=scram-sha-256", f"--pwfile={data / 'pwfile'}", "--no-sync"],
            check=True, capture_output=True,
        )  # fmt: skip

    def healthy(s: Settings) -> bool:
        return (
            subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(server.port)],
                capture_output=True, check=False,
            ).returncode == 0
        )  # fmt: skip

    service = stack.Service(
        "postgres",
        port=lambda s: server.port,
        host=lambda s: "127.0.0.1",
        command=lambda s: [
            *as_user, str(bin_dir / "postgres"), "-D", str(data / "db"), "-p", str(server.port),
            "-k", str(data), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
        ],
        healthy=healthy,
        prepare=prepare,
    )  # fmt: skip
    try:
        stack.start(settings, service)
        env = {**os.environ, "PGPASSWORD": server.password}
        subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", server.user,
             server.database],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        yield server
    finally:
        stack.stop(settings, "postgres")
        shutil.rmtree(data, ignore_errors=True)
