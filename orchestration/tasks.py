"""The steps of Airflow's ``unified_sales_pipeline``, as plain functions of the settings.

``dags/unified_sales_pipeline.py`` only wires them together. Each step is idempotent: the
ingestion is exactly-once through its checkpoint, dbt rebuilds the same tables from the same
Bronze rows, and the checks only read. The demo producer is the exception by nature (it adds
sales), so it is not retried.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ventes import delta
from ventes.contract import BRONZE_TABLE, SILVER_TABLES
from ventes.errors import VentesError
from ventes.settings import Settings

if TYPE_CHECKING:
    from airflow.sdk import Asset

log = logging.getLogger(__name__)

DAG_ID = "unified_sales_pipeline"
# Set this Airflow Variable to "false" to stop the DAG producing demo sales (real sales come
# from elsewhere); the DAG param ``produce_demo_sales`` does the same for one run.
PRODUCE_VARIABLE = "ventes_produce_demo_sales"
DEFAULT_DEMO_SALES = 50
# The most demo sales one run may be asked for (the trigger form refuses more).
MAX_DEMO_SALES = 100_000
# A run still going after this is failed, so that the next scheduled run can start
# (max_active_runs=1): a normal run takes minutes.
DAGRUN_TIMEOUT = timedelta(minutes=60)

TIMEOUTS = {
    "check_infrastructure": timedelta(minutes=2),
    "produce_sales_data": timedelta(minutes=5),
    "run_bronze_processing": timedelta(minutes=30),
    "check_bronze_data_ready": timedelta(minutes=2),
    "dbt": timedelta(minutes=20),
    "verify_final_output": timedelta(minutes=5),
}


# --- DAG-level configuration ---------------------------------------------------------------


def default_args(settings: Settings) -> dict[str, Any]:
    """Retries with exponential backoff (delay doubles, capped at 10 minutes) for every task."""
    return {
        "owner": "ventes",
        "retries": settings.pipeline_retries,
        "retry_delay": timedelta(seconds=settings.pipeline_retry_delay),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": TIMEOUTS["dbt"],
    }


def _asset(layer: str, table: str, path: Path) -> Asset:
    """A table of the lake as an Airflow Asset. Its identity is logical (``ventes://silver/...``),
    not the table's path: Airflow refuses an asset whose name another asset's URI already holds,
    so a path-based URI would break the DAG the day DELTA_ROOT moves."""
    from airflow.sdk import Asset

    return Asset(
        name=f"{layer}.{table}", uri=f"ventes://{layer}/{table}", group="ventes", extra={"path": str(path)}
    )


def bronze_asset(settings: Settings) -> Asset:
    return _asset("bronze", BRONZE_TABLE, settings.bronze_path)


def silver_assets(settings: Settings) -> list[Asset]:
    return [_asset("silver", table, settings.silver_path(table)) for table in SILVER_TABLES]


# --- the steps -----------------------------------------------------------------------------


def check_infrastructure(settings: Settings) -> dict[str, str]:
    """Kafka answers (the sales topic is created if missing, as ``ventes up`` does); the Spark
    Thrift Server answers a query."""
    from transformation import thrift
    from ventes.kafka_admin import ensure_topic

    problems = []
    try:
        ensure_topic(settings)
    except Exception as exc:  # any failure means Kafka does not answer
        problems.append(f"Kafka does not answer at {settings.kafka_bootstrap_servers}: {exc}")
    if not thrift.answers(settings):
        problems.append(
            f"the Spark Thrift Server does not answer at {settings.thrift_host}:{settings.thrift_port}"
        )
    if problems:
        raise VentesError("; ".join(problems))
    return {
        "kafka": settings.kafka_bootstrap_servers,
        "topic": settings.kafka_topic,
        "thrift": f"{settings.thrift_host}:{settings.thrift_port}",
    }


def should_produce(param: bool, variable: str) -> bool:
    """Both switches must be on: the run's param and the Airflow Variable."""
    return bool(param) and variable.strip().lower() not in ("false", "0", "no", "off")


def produce_sales(settings: Settings, count: int) -> dict[str, Any]:
    from ingestion.producer import produce

    if not 1 <= count <= MAX_DEMO_SALES:
        raise ValueError(f"demo_sales_count must be from 1 to {MAX_DEMO_SALES}, got {count}")
    report = produce(settings, count=count, progress=False)
    return {"sent": report.sent, "acknowledged": report.acknowledged, "seconds": round(report.seconds, 2)}


def bronze_has_every_offset(settings: Settings) -> bool:
    """Bronze already holds the last offset Kafka has in every partition of the topic.

    Then the Bronze job would find nothing to ingest, and its Spark start-up is not worth paying:
    an idle scheduled run costs seconds instead of a Spark application.
    """
    from ingestion.offsets import kafka_offsets

    if delta.open_table(settings.bronze_path) is None:
        return False
    topic = settings.kafka_topic.replace("'", "''")
    sql = f'''select "partition", max("offset") as last from t where topic = '{topic}' group by "partition"'''
    last = {row["partition"]: row["last"] for row in delta.query(settings.bronze_path, sql)}
    return all(
        end <= earliest or last.get(partition, -1) >= end - 1
        for partition, (earliest, end) in kafka_offsets(settings).items()
    )


def run_bronze_processing(settings: Settings) -> dict[str, bool]:
    """Bring Bronze up to what Kafka holds now.

    When the Bronze streaming job runs (``ventes up`` starts it; the ``bronze`` service in
    docker-compose), wait until it has committed every offset Kafka holds now: no Spark
    application is started. Otherwise run the Bronze job (availableNow) in its own process, so
    Spark never runs inside the worker; its output goes to the task log line by line. If the
    task is stopped (timeout, kill), the job's whole process group (Python driver and Spark JVM)
    is stopped with it; the Bronze checkpoint makes the next attempt pick up exactly where this
    one stopped. Skipped when Bronze already holds everything Kafka has.
    """
    from ingestion import streaming
    from ventes.spark import child_env

    job = streaming.following_job(settings)
    if job is not None:
        added = streaming.catch_up(settings, job, echo=log.info)
        log.info("the Bronze streaming job committed %s new offsets", added)
        return {"job_ran": False}
    if bronze_has_every_offset(settings):
        log.info("Bronze already holds every offset of %s: nothing to ingest", settings.kafka_topic)
        return {"job_ran": False}
    command = [sys.executable, "-m", "ingestion.job"]
    log.info("running %s", " ".join(command))
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=child_env(settings),
        cwd=settings.project_root,
        start_new_session=True,
    ) as proc:
        try:
            for line in proc.stdout:
                log.info("ingest: %s", line.rstrip())
            code = proc.wait()
        except BaseException:
            _stop_group(proc)
            raise
    if code != 0:
        raise VentesError(f"the Bronze job exited with {code}; its output is above")
    return {"job_ran": True}


def _stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def check_bronze_data_ready(settings: Settings) -> dict[str, int]:
    """The Bronze table exists and holds rows for dbt to build from."""
    table = delta.open_table(settings.bronze_path)
    if table is None:
        raise VentesError(f"no Bronze table at {settings.bronze_path} yet: nothing was ingested")
    rows = delta.query(settings.bronze_path, "select count(*) as n from t")[0]["n"]
    if rows == 0:
        raise VentesError(f"the Bronze table at {settings.bronze_path} is empty")
    return {"bronze_rows": rows, "bronze_version": table.version()}


def silver_versions(settings: Settings) -> dict[str, int | None]:
    """Current Delta version of each Silver table (None when it does not exist)."""
    versions = {}
    for name in SILVER_TABLES:
        table = delta.open_table(settings.silver_path(name))
        versions[name] = None if table is None else table.version()
    return versions


def verify_final_output(settings: Settings, bronze_rows: int) -> dict[str, Any]:
    """Every Silver table exists, and counts are conserved from Bronze to Silver.

    dbt's tests passed by construction: each model's test task is upstream of this one.
    """
    missing = [name for name, version in silver_versions(settings).items() if version is None]
    if missing:
        raise VentesError(f"Silver tables missing after dbt build: {', '.join(missing)}")
    quality_rows = delta.query(settings.silver_path("pipeline_quality"), "select * from t")
    if len(quality_rows) != 1:
        raise VentesError(f"pipeline_quality should hold one row, holds {len(quality_rows)}")
    quality = quality_rows[0]
    clean = delta.query(settings.silver_path("ventes_clean"), "select count(*) as n from t")[0]["n"]
    rejected = delta.query(settings.silver_path("ventes_rejets"), "select count(*) as n from t")[0]["n"]
    accounted = quality["valid_sales"] + quality["rejected_rows"] + quality["duplicates_dropped"]
    checks = {
        f"Bronze rows ({quality['bronze_rows']}) = valid + rejected + duplicates ({accounted})": (
            quality["bronze_rows"] == accounted
        ),
        f"dbt saw the Bronze rows checked before it ({bronze_rows})": quality["bronze_rows"] == bronze_rows,
        f"ventes_clean rows ({clean}) = valid_sales": clean == quality["valid_sales"],
        f"ventes_rejets rows ({rejected}) = rejected_rows": rejected == quality["rejected_rows"],
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise VentesError(f"conservation broken ({quality}): {'; '.join(failed)}")
    summary = {
        key: quality[key] for key in ("bronze_rows", "valid_sales", "rejected_rows", "duplicates_dropped")
    }
    log.info("Silver verified: %s", summary)
    return summary
