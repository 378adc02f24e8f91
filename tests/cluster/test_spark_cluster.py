"""The Bronze job on a Spark standalone cluster (a master and a worker from the installed
pyspark) writes the same Bronze table as in local mode; only SPARK_MASTER differs.

Both runs read the same Kafka topic, each into its own lake and checkpoint; the cluster run is
``python -m ingestion.job`` with ``SPARK_MASTER=spark://127.0.0.1:<port>`` and the cluster's
``SPARK_AUTH_SECRET``. The master and the worker authenticate every connection (as in
docker-compose): a client without the secret, or with another one, is refused.
"""

from __future__ import annotations

import dataclasses
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_harness import SparkCluster
from deltalake import DeltaTable, QueryBuilder

from ingestion.job import ingest
from ingestion.producer import produce
from ingestion.session import APP_NAME, LOG_NAME
from ventes.settings import Settings
from ventes.spark import child_env

pytestmark = [pytest.mark.stack, pytest.mark.slow]

EVENTS = 400
# Every Bronze column but the two that record when the row was written.
COMPARED = (
    "value_bytes", "value", "key", "topic", "partition", "offset", "kafka_timestamp", "parse_status",
    "parse_error", "vente_id", "client_id", "produit_id", "event_timestamp", "quantite", "montant",
    "client_nom", "produit_nom", "categorie", "pays", "segment",
)  # fmt: skip


def _bronze_job(settings: Settings, root: Path, cluster: SparkCluster, secret: str) -> subprocess.Popen:
    """``python -m ingestion.job`` on the cluster, as a client holding ``secret`` ("": none)."""
    settings = dataclasses.replace(
        settings,
        home=root / "home",
        delta_root=root / "delta",
        spark_master=cluster.master_url,
        spark_auth_secret=secret,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "ingestion.job"],
        env=child_env(settings),
        cwd=settings.project_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_bronze_job(settings: Settings, root: Path, cluster: SparkCluster) -> tuple[Settings, float]:
    begin = time.monotonic()
    with _bronze_job(settings, root, cluster, cluster.secret) as proc:
        _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"{cluster.master_url}: {stderr[-2000:]}"
    return dataclasses.replace(
        settings, home=root / "home", delta_root=root / "delta"
    ), time.monotonic() - begin


def _bronze(settings: Settings) -> list[tuple]:
    columns = ", ".join(f'"{name}"' for name in COMPARED)
    table = (
        QueryBuilder()
        .register("bronze", DeltaTable(str(settings.bronze_path)))
        .execute(f'select {columns} from bronze order by "partition", "offset"')
        .read_all()
    )
    return list(zip(*(table.column(name).to_pylist() for name in COMPARED), strict=True))


def test_bronze_job_on_a_standalone_cluster_matches_local_mode(
    kafka: Settings, spark_cluster: SparkCluster, tmp_path: Path, record_property
) -> None:
    source = dataclasses.replace(kafka, kafka_topic="ventes_spark_cluster")
    report = produce(source, EVENTS, seed=11, bad_ratio=0.2, progress=False)
    assert report.acknowledged == EVENTS

    # Local mode in this process (sharing the test session's Spark when there is one).
    local = dataclasses.replace(
        source, home=tmp_path / "local" / "home", delta_root=tmp_path / "local" / "delta"
    )
    begin = time.monotonic()
    ingest(local)
    local_seconds = time.monotonic() - begin
    remote, cluster_seconds = _run_bronze_job(source, tmp_path / "cluster", spark_cluster)

    # The job really ran on the cluster: the master saw it finish, the worker ran its executor.
    apps = [app for app in spark_cluster.completed_apps() if app["name"] == APP_NAME]
    assert len(apps) == 1 and apps[0]["state"] == "FINISHED", spark_cluster.completed_apps()
    assert list(spark_cluster.work_dir.glob(f"{apps[0]['id']}/*/stderr")), "no executor ran on the worker"

    local_rows, cluster_rows = _bronze(local), _bronze(remote)
    assert len(local_rows) == EVENTS
    assert cluster_rows == local_rows
    statuses = {row[COMPARED.index("parse_status")] for row in cluster_rows}
    assert "ok" in statuses and len(statuses) > 1  # bad records too, parsed the same way

    figures = {
        "events": EVENTS,
        "bronze_rows_local": len(local_rows),
        "bronze_rows_cluster": len(cluster_rows),
        "parse_statuses": sorted(statuses),
        "job_local_s": round(local_seconds, 1),
        "job_cluster_s": round(cluster_seconds, 1),
    }
    for key, value in figures.items():
        record_property(key, value)
    print(f"\nspark cluster figures: {figures}")


def test_a_client_without_the_secret_is_refused(
    kafka: Settings, spark_cluster: SparkCluster, tmp_path: Path, record_property
) -> None:
    source = dataclasses.replace(kafka, kafka_topic="ventes_spark_refused")
    assert produce(source, 20, seed=5, progress=False).acknowledged == 20
    admitted = spark_cluster.app_ids()
    clients = {"no_secret": "", "another_secret": secrets.token_hex(16)}
    begin = time.monotonic()
    # Side by side: each client waits out its attempts to register with the master.
    procs = {
        name: _bronze_job(source, tmp_path / name, spark_cluster, secret) for name, secret in clients.items()
    }
    for name, proc in procs.items():
        with proc:
            proc.communicate(timeout=300)
        assert proc.returncode != 0, f"{name}: the job ran on an authenticated cluster"
        spark_log = (tmp_path / name / "home" / "logs" / LOG_NAME).read_text()
        assert "Failed to connect to master" in spark_log, f"{name}: {spark_log[-2000:]}"
        assert not list((tmp_path / name / "delta").rglob("*.parquet")), f"{name}: Bronze written"
    assert spark_cluster.app_ids() == admitted, "the master admitted an application without the secret"
    assert {p.name for p in spark_cluster.work_dir.glob("app-*")} <= admitted, "an executor ran"
    record_property("refused_after_s", round(time.monotonic() - begin, 1))
