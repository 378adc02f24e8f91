"""The one place that reads the environment.

Every path, host and port used by the project comes from :func:`load`; nothing
else reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    home: Path
    delta_root: Path
    kafka_bootstrap_servers: str
    kafka_topic: str
    kafka_partitions: int
    kafka_controller_port: int
    spark_master: str
    thrift_host: str
    thrift_port: int
    dashboard_host: str
    dashboard_port: int
    docs_port: int
    airflow_port: int
    max_offsets_per_trigger: int
    jars_dir: Path
    # Airflow's unified_sales_pipeline: cron schedule, retries of each task, first retry delay.
    pipeline_schedule: str = "*/15 * * * *"
    pipeline_retries: int = 2
    pipeline_retry_delay: int = 30
    # Where Spark executors reach this process's driver: loopback locally, the container's
    # name in docker-compose.
    spark_driver_host: str = "127.0.0.1"
    # JDBC URL of a metastore shared by every Spark JVM (PostgreSQL in docker-compose); empty:
    # the Thrift server alone owns an embedded Derby metastore under VENTES_HOME.
    metastore_url: str = ""
    # The dashboard warns when Bronze saw no commit, or Silver lags Bronze, for this many seconds.
    dashboard_stale_after: int = 1800

    # Lake layout.
    @property
    def bronze_path(self) -> Path:
        return self.delta_root / "bronze" / "ventes_raw"

    @property
    def silver_root(self) -> Path:
        return self.delta_root / "silver"

    def silver_path(self, table: str) -> Path:
        return self.silver_root / table

    @property
    def checkpoint_dir(self) -> Path:
        # Beside the lake, not in VENTES_HOME: the checkpoint belongs to the Bronze table it
        # describes, and a cluster's workers share the lake volume.
        return self.delta_root / "_checkpoints" / "bronze_ventes_raw"

    # Runtime state of the local stack.
    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def kafka_data_dir(self) -> Path:
        return self.home / "kafka"

    @property
    def metastore_dir(self) -> Path:
        return self.home / "metastore"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    # Project files.
    @property
    def project_root(self) -> Path:
        return PROJECT_ROOT

    @property
    def dbt_project_dir(self) -> Path:
        return PROJECT_ROOT / "dbt_ventes"

    @property
    def dbt_profiles_dir(self) -> Path:
        return PROJECT_ROOT

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target folder (manifest, run_results.json): runtime state, not in the checkout."""
        return self.home / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.home / "dbt" / "logs"

    @property
    def dags_dir(self) -> Path:
        return PROJECT_ROOT / "dags"

    @property
    def kafka_host_port(self) -> tuple[str, int]:
        """Host and port of the first bootstrap server (the local broker's listener)."""
        first = self.kafka_bootstrap_servers.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        return (host or "localhost"), int(port or 9092)

    def env_for_children(self) -> dict[str, str]:
        """The environment a child process (dbt, Spark, Airflow) needs to see the same settings."""
        env = dict(os.environ)
        env.update(
            VENTES_HOME=str(self.home),
            DELTA_ROOT=str(self.delta_root),
            KAFKA_BOOTSTRAP_SERVERS=self.kafka_bootstrap_servers,
            KAFKA_TOPIC=self.kafka_topic,
            SPARK_MASTER=self.spark_master,
            THRIFT_HOST=self.thrift_host,
            THRIFT_PORT=str(self.thrift_port),
            DASHBOARD_HOST=self.dashboard_host,
            DASHBOARD_PORT=str(self.dashboard_port),
            KAFKA_PARTITIONS=str(self.kafka_partitions),
            KAFKA_CONTROLLER_PORT=str(self.kafka_controller_port),
            DBT_DOCS_PORT=str(self.docs_port),
            AIRFLOW_PORT=str(self.airflow_port),
            MAX_OFFSETS_PER_TRIGGER=str(self.max_offsets_per_trigger),
            VENTES_JARS=str(self.jars_dir),
            AIRFLOW_HOME=str(self.airflow_home),
            PIPELINE_SCHEDULE=self.pipeline_schedule,
            PIPELINE_RETRIES=str(self.pipeline_retries),
            PIPELINE_RETRY_DELAY=str(self.pipeline_retry_delay),
            SPARK_DRIVER_HOST=self.spark_driver_host,
            METASTORE_URL=self.metastore_url,
            DASHBOARD_STALE_AFTER=str(self.dashboard_stale_after),
        )
        return env


def load() -> Settings:
    """Read the settings from the environment, with the documented defaults."""
    home = Path(_env("VENTES_HOME", str(PROJECT_ROOT / ".ventes"))).expanduser().resolve()
    delta_root = Path(_env("DELTA_ROOT", str(home / "delta"))).expanduser().resolve()
    return Settings(
        home=home,
        delta_root=delta_root,
        kafka_bootstrap_servers=_env("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
        kafka_topic=_env("KAFKA_TOPIC", "ventes_stream"),
        kafka_partitions=_env_int("KAFKA_PARTITIONS", 3),
        kafka_controller_port=_env_int("KAFKA_CONTROLLER_PORT", 9093),
        spark_master=_env("SPARK_MASTER", "local[*]"),
        thrift_host=_env("THRIFT_HOST", "127.0.0.1"),
        thrift_port=_env_int("THRIFT_PORT", 10000),
        dashboard_host=_env("DASHBOARD_HOST", "127.0.0.1"),
        dashboard_port=_env_int("DASHBOARD_PORT", 5000),
        docs_port=_env_int("DBT_DOCS_PORT", 8081),
        airflow_port=_env_int("AIRFLOW_PORT", 8080),
        max_offsets_per_trigger=_env_int("MAX_OFFSETS_PER_TRIGGER", 200_000),
        # Shared by every VENTES_HOME of a checkout (tests make many), so jars download once.
        jars_dir=Path(_env("VENTES_JARS", str(PROJECT_ROOT / ".ventes" / "jars"))).expanduser().resolve(),
        pipeline_schedule=_env("PIPELINE_SCHEDULE", "*/15 * * * *"),
        pipeline_retries=_env_int("PIPELINE_RETRIES", 2),
        pipeline_retry_delay=_env_int("PIPELINE_RETRY_DELAY", 30),
        spark_driver_host=_env("SPARK_DRIVER_HOST", "127.0.0.1"),
        metastore_url=_env("METASTORE_URL", ""),
        dashboard_stale_after=_env_int("DASHBOARD_STALE_AFTER", 1800),
    )
