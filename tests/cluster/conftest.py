"""Distributed deployments on loopback, without Docker.

A three-node Kafka KRaft quorum started from the project's own broker jars, a Spark standalone
cluster (a master and a worker) started from the installed pyspark, and a PostgreSQL server for
a shared Hive metastore. Each process is started through :func:`stack.processes.start` (pid file,
log file, bounded wait) and stopped by its pid at the end.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_harness import (
    POSTGRES_BIN,
    POSTGRES_INIT_SCRIPT,
    TOPIC_MIN_INSYNC_REPLICAS,
    TOPIC_REPLICATION_FACTOR,
    KafkaCluster,
    Postgres,
    Role,
    SparkCluster,
    spark_ui_alive,
    wait_for,
)

from services import catalogue
from stack import kafka, processes
from tests.ports import reserve_ports
from ventes import jars
from ventes.settings import Settings
from ventes.spark import child_env

# --- Kafka: three KRaft nodes ------------------------------------------------------------


@pytest.fixture(scope="module")
def kafka_cluster(test_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Three broker+controller nodes on loopback; the sales topic with RF 3, min ISR 2."""
    jars.ensure_jars(test_env)
    home = tmp_path_factory.mktemp("kafka_cluster")
    ports = reserve_ports(6)
    nodes = [
        kafka.KafkaNode(i + 1, "127.0.0.1", ports[2 * i], ports[2 * i + 1], home / "kafka" / f"node-{i + 1}")
        for i in range(3)
    ]
    settings = dataclasses.replace(
        test_env,
        home=home,
        delta_root=home / "delta",
        kafka_bootstrap_servers=",".join(f"{n.host}:{n.port}" for n in nodes),
    )
    cluster = KafkaCluster(settings, nodes, kafka.cluster_id())
    try:
        cluster.start_all()
        # The topic is created as docker-compose's kafka-init creates it.
        init = subprocess.run(
            [sys.executable, "-m", "services.container", "kafka-topic",
             "--replication-factor", str(TOPIC_REPLICATION_FACTOR),
             "--min-insync-replicas", str(TOPIC_MIN_INSYNC_REPLICAS), "--timeout", "90"],
            env=child_env(settings), capture_output=True, text=True, timeout=150, check=False,
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


@pytest.fixture(scope="module")
def spark_cluster(test_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    """A master and a worker with RPC authentication on, as docker-compose starts them."""
    home = tmp_path_factory.mktemp("spark_cluster")
    secret = secrets.token_hex(16)
    settings = dataclasses.replace(test_env, home=home, spark_auth_secret=secret)
    port, webui_port, worker_port, worker_webui_port = reserve_ports(4)
    cluster = SparkCluster(f"spark://127.0.0.1:{port}", webui_port, home / "work", secret)
    master = catalogue.Service(
        "spark-master",
        port=lambda s: port,
        host=lambda s: "127.0.0.1",
        command=lambda s: catalogue.spark_master_command("127.0.0.1", port, webui_port),
        healthy=lambda s: spark_ui_alive(f"http://127.0.0.1:{webui_port}/json/"),
    )
    worker = catalogue.Service(
        "spark-worker",
        port=lambda s: worker_port,
        host=lambda s: "127.0.0.1",
        command=lambda s: catalogue.spark_worker_command(
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
        processes.start(settings, master)
        processes.start(settings, worker)
        yield cluster
    finally:
        processes.stop(settings, "spark-worker")
        processes.stop(settings, "spark-master")


# --- PostgreSQL: a Hive metastore shared over JDBC -----------------------------------------


@pytest.fixture(scope="session")
def postgres(test_env: Settings) -> Iterator[Postgres]:
    """A throw-away PostgreSQL server on loopback, with password authentication, and the roles
    and databases docker-compose's init script creates (by running that script)."""
    if not POSTGRES_BIN:
        pytest.fail("PostgreSQL is needed for the shared metastore test: apt-get install postgresql")
    bin_dir = POSTGRES_BIN[-1].parent
    # PostgreSQL refuses to run as root: then it runs as `nobody`, in a folder nobody owns.
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="ventes-pg-"))
    server = Postgres(
        bin_dir,
        reserve_ports(1)[0],
        "postgres",
        secrets.token_hex(8),
        {
            "airflow": Role("airflow", secrets.token_hex(8), "airflow"),
            "metastore": Role("metastore", secrets.token_hex(8), "metastore"),
        },
    )
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

    service = catalogue.Service(
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
        processes.start(settings, service)
        server.run_init_script(POSTGRES_INIT_SCRIPT)
        yield server
    finally:
        processes.stop(settings, "postgres")
        shutil.rmtree(data, ignore_errors=True)
