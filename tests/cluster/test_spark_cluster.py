"""The Bronze job on a Spark standalone cluster (a master and a worker from the installed
pyspark) writes the same Bronze table as in local mode; only SPARK_MASTER differs.

Both runs read the same Kafka topic, each into its own lake and checkpoint; the cluster run is
``python -m ingestion.job`` with ``SPARK_MASTER=spark://127.0.0.1:<port>`` and the cluster's
``SPARK_AUTH_SECRET``. The master and the worker authenticate every connection (as in
docker-compose): a client without the secret, or with another one, is refused, while the
client holding it runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
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
        start_new_session=True,  # its own process group: its JVM is killed with it
    )


def _run_bronze_job(settings: Settings, root: Path, cluster: SparkCluster) -> tuple[Settings, float]:
    begin = time.monotonic()
    with _bronze_job(settings, root, cluster, cluster.secret) as proc:
        try:
            _, stderr = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: nothing else stops it
            raise
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


def _wait_refused(proc: subprocess.Popen, root: Path) -> None:
    """Wait for a client the master refused to give up, then check what it left behind."""
    proc.communicate(timeout=300)
    assert proc.returncode != 0, f"{root.name}: the job ran on an authenticated cluster"
    spark_log = (root / "home" / "logs" / LOG_NAME).read_text()
    assert "Failed to connect to master" in spark_log, f"{root.name}: {spark_log[-2000:]}"
    assert not list((root / "delta").rglob("*.parquet")), f"{root.name}: Bronze written"


def test_bronze_job_on_a_standalone_cluster_matches_local_mode_and_other_clients_are_refused(
    kafka: Settings, spark_cluster: SparkCluster, tmp_path: Path, record_property
) -> None:
    source = dataclasses.replace(kafka, kafka_topic="ventes_spark_cluster")
    report = produce(source, EVENTS, seed=11, bad_ratio=0.2, progress=False)
    assert report.acknowledged == EVENTS

    # Side by side with the rest: a client without the secret and one with another secret, each
    # waiting out Spark's attempts to register with the master (three of 20 s) before it fails.
    refused: dict[Path, subprocess.Popen] = {}
    try:
        for name, secret in {"no_secret": "", "another_secret": secrets.token_hex(16)}.items():
            refused[tmp_path / name] = _bronze_job(source, tmp_path / name, spark_cluster, secret)
        # Local mode in this process (sharing the test session's Spark when there is one).
        local = dataclasses.replace(
            source, home=tmp_path / "local" / "home", delta_root=tmp_path / "local" / "delta"
        )
        begin = time.monotonic()
        ingest(local)
        local_seconds = time.monotonic() - begin
        remote, cluster_seconds = _run_bronze_job(source, tmp_path / "cluster", spark_cluster)
        for root, proc in refused.items():
            _wait_refused(proc, root)
    finally:
        for proc in refused.values():  # the whole group: a JVM may outlive its Python client
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    # The job really ran on the cluster: the master saw it finish, the worker ran its executor;
    # the master admitted no other application.
    apps = [app for app in spark_cluster.completed_apps() if app["name"] == APP_NAME]
    assert len(apps) == 1 and apps[0]["state"] == "FINISHED", spark_cluster.completed_apps()
    assert spark_cluster.app_ids() == {apps[0]["id"]}, "the master admitted an application without the secret"
    assert {p.name for p in spark_cluster.work_dir.glob("app-*")} == {apps[0]["id"]}, "another executor ran"
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
