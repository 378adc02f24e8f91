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
from typing import Any

from ventes import airflow_local
from ventes.errors import VentesError
from ventes.settings import Settings

log = logging.getLogger(__name__)

SILVER_TABLES = (
    "ventes_clean",
    "ventes_rejets",
    "ventes_aggreges",
    "top_produits",
    "hourly_sales",
    "ventes_par_segment",
    "pipeline_quality",
)
# Set this Airflow Variable to "false" to stop the DAG producing demo sales (real sales come
# from elsewhere); the DAG param ``produce_demo_sales`` does the same for one run.
PRODUCE_VARIABLE = "ventes_produce_demo_sales"
DEFAULT_DEMO_SALES = 50

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


def bronze_asset(settings: Settings):
    from airflow.sdk import Asset

    return Asset(name="bronze.ventes_raw", uri=settings.bronze_path.as_uri(), group="ventes")


def silver_assets(settings: Settings) -> list:
    from airflow.sdk import Asset

    return [
        Asset(name=f"silver.{table}", uri=settings.silver_path(table).as_uri(), group="ventes")
        for table in SILVER_TABLES
    ]


# --- the steps -----------------------------------------------------------------------------


def check_infrastructure(settings: Settings) -> dict[str, str]:
    """Kafka answers (the sales topic is created if missing, as ``ventes up`` does); the Spark
    Thrift Server answers a query."""
    from ventes import stack
    from ventes.kafka_admin import ensure_topic

    problems = []
    try:
        ensure_topic(settings)
    except Exception as exc:  # any failure means Kafka does not answer
        problems.append(f"Kafka does not answer at {settings.kafka_bootstrap_servers}: {exc}")
    if not stack.service("thrift").healthy(settings):
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

    report = produce(settings, count=count, progress=False)
    return {"sent": report.sent, "acknowledged": report.acknowledged, "seconds": round(report.seconds, 2)}


def bronze_has_every_offset(settings: Settings) -> bool:
    """Bronze already holds the last offset Kafka has in every partition of the topic.

    Then the Bronze job would find nothing to ingest, and its Spark start-up is not worth paying:
    an idle scheduled run costs seconds instead of a Spark application.
    """
    from ingestion.job import kafka_offsets

    if _delta_table(settings.bronze_path) is None:
        return False
    topic = settings.kafka_topic.replace("'", "''")
    sql = f'''select "partition", max("offset") as last from t where topic = '{topic}' group by "partition"'''
    last = {row["partition"]: row["last"] for row in _query(settings.bronze_path, sql)}
    return all(
        end <= earliest or last.get(partition, -1) >= end - 1
        for partition, (earliest, end) in kafka_offsets(settings).items()
    )


def run_bronze_processing(settings: Settings) -> dict[str, bool]:
    """The Bronze job (availableNow) in its own process: Spark never runs inside the worker.

    Its output goes to the task log line by line. If the task is stopped (timeout, kill), the
    job's whole process group (Python driver and Spark JVM) is stopped with it; the Bronze
    checkpoint makes the next attempt pick up exactly where this one stopped. Skipped when
    Bronze already holds everything Kafka has.
    """
    from ventes import stack

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
        env=stack.child_env(settings),
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


def _delta_table(path: Path):
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None


def _query(path: Path, sql: str) -> list[dict[str, Any]]:
    """Run ``sql`` against the Delta table at ``path`` registered as ``t``."""
    from deltalake import QueryBuilder

    table = _delta_table(path)
    if table is None:
        raise VentesError(f"no Delta table at {path}")
    result = QueryBuilder().register("t", table).execute(sql).read_all()
    columns = [result.column(name).to_pylist() for name in result.column_names]
    return [dict(zip(result.column_names, row, strict=True)) for row in zip(*columns, strict=True)]


def check_bronze_data_ready(settings: Settings) -> dict[str, int]:
    """The Bronze table exists and holds rows for dbt to build from."""
    table = _delta_table(settings.bronze_path)
    if table is None:
        raise VentesError(f"no Bronze table at {settings.bronze_path} yet: nothing was ingested")
    rows = _query(settings.bronze_path, "select count(*) as n from t")[0]["n"]
    if rows == 0:
        raise VentesError(f"the Bronze table at {settings.bronze_path} is empty")
    return {"bronze_rows": rows, "bronze_version": table.version()}


def silver_versions(settings: Settings) -> dict[str, int | None]:
    """Current Delta version of each Silver table (None when it does not exist)."""
    versions = {}
    for name in SILVER_TABLES:
        table = _delta_table(settings.silver_path(name))
        versions[name] = None if table is None else table.version()
    return versions


def verify_final_output(settings: Settings, bronze_rows: int) -> dict[str, Any]:
    """Every Silver table exists, and counts are conserved from Bronze to Silver.

    dbt's tests passed by construction: each model's test task is upstream of this one.
    """
    missing = [name for name, version in silver_versions(settings).items() if version is None]
    if missing:
        raise VentesError(f"Silver tables missing after dbt build: {', '.join(missing)}")
    quality_rows = _query(settings.silver_path("pipeline_quality"), "select * from t")
    if len(quality_rows) != 1:
        raise VentesError(f"pipeline_quality should hold one row, holds {len(quality_rows)}")
    quality = quality_rows[0]
    clean = _query(settings.silver_path("ventes_clean"), "select count(*) as n from t")[0]["n"]
    rejected = _query(settings.silver_path("ventes_rejets"), "select count(*) as n from t")[0]["n"]
    checks = {
        "Bronze rows = valid + rejected + duplicates dropped": quality["bronze_rows"]
        == quality["valid_sales"] + quality["rejected_rows"] + quality["duplicates_dropped"],
        f"pipeline_quality.bronze_rows = Bronze rows checked before dbt ({bronze_rows})": quality[
            "bronze_rows"
        ]
        == bronze_rows,
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


# --- dbt, rendered by Cosmos ---------------------------------------------------------------


def _dbt_profile(settings: Settings) -> tuple[str, str]:
    """The profile the dbt project names, and that profile's default target."""
    import yaml

    project = yaml.safe_load((settings.dbt_project_dir / "dbt_project.yml").read_text())
    profiles = yaml.safe_load((settings.dbt_profiles_dir / "profiles.yml").read_text())
    name = project["profile"]
    return name, profiles[name]["target"]


def dbt_task_group(settings: Settings, group_id: str = "dbt_build"):
    """Each dbt model as a task followed by a task running its tests (astronomer-cosmos).

    The graph comes from the manifest ``ventes up`` compiles, so parsing the DAG does not run
    dbt; without a current manifest Cosmos falls back to ``dbt ls`` (cached per project hash).
    """
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    profile_name, target_name = _dbt_profile(settings)
    if airflow_local.manifest_is_current(settings):
        load_method, manifest = LoadMode.DBT_MANIFEST, airflow_local.manifest_file(settings)
    else:
        log.warning(
            "no current dbt manifest at %s: rendering from dbt ls", airflow_local.manifest_file(settings)
        )
        load_method, manifest = LoadMode.DBT_LS, None
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=settings.dbt_project_dir,
            manifest_path=manifest,
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name=profile_name,
            target_name=target_name,
            profiles_yml_filepath=settings.dbt_profiles_dir / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
            # Also the `dbt ls` of the fallback rendering, whatever the PATH.
            dbt_executable_path=airflow_local.BIN / "dbt",
        ),
        render_config=RenderConfig(
            load_method=load_method,
            test_behavior=TestBehavior.AFTER_EACH,
            # A test reading several models (e.g. Bronze-to-Silver conservation) runs once, after
            # all of them, instead of inside the first parent's test task.
            should_detach_multiple_parents_tests=True,
            # Lineage events need the OpenLineage provider; the DAG declares its own Assets.
            emit_datasets=False,
        ),
        operator_args={"execution_timeout": TIMEOUTS["dbt"]},
    )
