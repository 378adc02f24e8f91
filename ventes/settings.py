"""The one place that reads the environment.

Every path, host and port used by the project comes from :func:`load`; nothing
else reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ventes.contract import BRONZE_TABLE
from ventes.errors import VentesError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(VentesError, ValueError):
    """Settings that cannot be used; each problem names its variable and what it allows."""

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(str(arg) for arg in self.args)

    def __str__(self) -> str:
        return "; ".join(self.problems)


_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_TOPIC = re.compile(r"(?!\.\.?$)[A-Za-z0-9._-]{1,249}")
_LOCAL_MASTER = re.compile(r"local(?:\[(?:\*|[1-9][0-9]*)(?:,[1-9][0-9]*)?\])?|yarn|k8s://\S+")
_JDBC_URL = re.compile(r"(?:jdbc:\S+)?")
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?#-]+")
_CRON_PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually")
_PORT = (1, 65535)
_NO_CONTROL = re.compile(r"[^\x00-\x1f\x7f]*")
# Spark puts the secret on JVM command lines and in its daemons' option strings (split on
# spaces): no white space, quotes or shell metacharacters, and long enough to resist guessing.
_SECRET = re.compile(r"(?:[A-Za-z0-9._~+/=-]{16,512})?")


def _valid_host(text: str) -> bool:
    """A DNS name (underscores allowed, as in container names) or an IPv4 or IPv6 address."""
    if _HOSTNAME.fullmatch(text) and not re.fullmatch(r"[0-9.]+", text):
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _host_port(item: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``host:port`` (``[v6]:port`` for IPv6), or None when it is not one."""
    host, _, port = item.rpartition(":")
    if not (re.fullmatch(r"[0-9]{1,5}", port) and 1 <= int(port) <= 65535):
        return None
    bracketed = host.startswith("[") and host.endswith("]")
    host = host[1:-1] if bracketed else host
    if not _valid_host(host) or (":" in host) != bracketed:
        return None
    return host, int(port)


class _Reader:
    """Reads each variable once and validates it; collects every problem, for one error."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def check(self, name: str, default: str, valid: Callable[[str], object], allowed: str) -> str:
        value = self.environ.get(name, "").strip() or default
        if not valid(value):
            self.problems.append(f"{name} must be {allowed}, got {value!r}")
        return value

    def path(self, name: str, default: str) -> Path:
        text = self.check(name, default, _NO_CONTROL.fullmatch, "a path without control characters")
        return Path(text if _NO_CONTROL.fullmatch(text) else default).expanduser().resolve()

    def integer(self, name: str, default: int, bounds: tuple[int, int] = (1, 2**31 - 1)) -> int:
        low, high = bounds
        allowed = "a port number 1..65535" if bounds == _PORT else f"an integer {low}..{high}"

        def valid(v: str) -> bool:
            return re.fullmatch(r"[+-]?[0-9]{1,12}", v) is not None and low <= int(v) <= high

        text = self.check(name, str(default), valid, allowed)
        return int(text) if valid(text) else default

    def host(self, name: str, default: str) -> str:
        return self.check(name, default, _valid_host, "a host name or an IP address")

    def servers(self, name: str, default: str) -> str:
        def valid(v: str) -> bool:
            return all(_host_port(item.strip()) for item in v.split(","))

        value = self.check(name, default, valid, "a comma-separated list of host:port, ports 1..65535")
        return ",".join(item.strip() for item in value.split(","))

    def secret(self, name: str, valid: Callable[[str], object], allowed: str) -> str:
        """Like :meth:`check`, but a refused value is not repeated in the message (it goes to logs)."""
        value = self.environ.get(name, "").strip()
        if not valid(value):
            self.problems.append(f"{name} must be {allowed} (the value given is not shown)")
            return ""
        return value

    def spark_master(self, name: str, default: str) -> str:
        def valid(v: str) -> bool:
            cluster = v.startswith("spark://") and all(_host_port(hp) for hp in v[8:].split(","))
            return cluster or bool(_LOCAL_MASTER.fullmatch(v))

        allowed = "local, local[N], local[*], spark://host:port[,host:port...], yarn or k8s://..."
        return self.check(name, default, valid, allowed)

    def cron(self, name: str, default: str) -> str:
        def valid(v: str) -> bool:
            fields = v.split()
            return v in _CRON_PRESETS or (len(fields) == 5 and all(map(_CRON_FIELD.fullmatch, fields)))

        return self.check(name, default, valid, f"5 cron fields or one of {', '.join(_CRON_PRESETS)}")


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
    # The address the driver listens on: its host by default; 0.0.0.0 in a container on several
    # networks, where the container's name resolves to one of its addresses only.
    spark_driver_bind_address: str = "127.0.0.1"
    # Spark's RPC authentication (spark.authenticate): the secret shared by the master, the
    # workers and every application of a standalone cluster; empty: no authentication (local).
    spark_auth_secret: str = field(default="", repr=False)
    # JDBC URL of a metastore shared by every Spark JVM (PostgreSQL in docker-compose); empty:
    # the Thrift server alone owns an embedded Derby metastore under VENTES_HOME.
    metastore_url: str = ""
    # The dashboard warns when Bronze saw no commit, or Silver lags Bronze, for this many seconds.
    dashboard_stale_after: int = 1800

    # Lake layout.
    @property
    def bronze_path(self) -> Path:
        return self.delta_root / "bronze" / BRONZE_TABLE

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
    def make_home(self) -> Path:
        """Create VENTES_HOME for its owner alone (mode 0700): it holds the Airflow secrets and
        metadata DB, logs and pids. A folder that exists already keeps its mode."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.home

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
    def dbt_manifest_dir(self) -> Path:
        """Where the manifest the DAG renders its dbt tasks from is compiled (``dbt parse``)."""
        return self.airflow_home / "dbt_target"

    @property
    def dags_dir(self) -> Path:
        return PROJECT_ROOT / "dags"

    @property
    def kafka_host_port(self) -> tuple[str, int]:
        """Host and port of the first bootstrap server (the local broker's listener)."""
        return _host_port(self.kafka_bootstrap_servers.split(",")[0].strip()) or ("localhost", 9092)

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
            SPARK_DRIVER_BIND_ADDRESS=self.spark_driver_bind_address,
            SPARK_AUTH_SECRET=self.spark_auth_secret,
            METASTORE_URL=self.metastore_url,
            DASHBOARD_STALE_AFTER=str(self.dashboard_stale_after),
        )
        return env


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings from the environment, with the documented defaults.

    Raises :class:`SettingsError` naming every variable that is not allowed, and what would be.
    """
    env = _Reader(os.environ if environ is None else environ)
    home = env.path("VENTES_HOME", str(PROJECT_ROOT / ".ventes"))
    settings = Settings(
        home=home,
        delta_root=env.path("DELTA_ROOT", str(home / "delta")),
        kafka_bootstrap_servers=env.servers("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
        kafka_topic=env.check(
            "KAFKA_TOPIC",
            "ventes_stream",
            _TOPIC.fullmatch,
            "1 to 249 characters among A-Z a-z 0-9 . _ - (not . or ..)",
        ),
        kafka_partitions=env.integer("KAFKA_PARTITIONS", 3, (1, 10_000)),
        kafka_controller_port=env.integer("KAFKA_CONTROLLER_PORT", 9093, _PORT),
        spark_master=env.spark_master("SPARK_MASTER", "local[*]"),
        thrift_host=env.host("THRIFT_HOST", "127.0.0.1"),
        thrift_port=env.integer("THRIFT_PORT", 10000, _PORT),
        dashboard_host=env.host("DASHBOARD_HOST", "127.0.0.1"),
        dashboard_port=env.integer("DASHBOARD_PORT", 5000, _PORT),
        docs_port=env.integer("DBT_DOCS_PORT", 8081, _PORT),
        airflow_port=env.integer("AIRFLOW_PORT", 8080, _PORT),
        max_offsets_per_trigger=env.integer("MAX_OFFSETS_PER_TRIGGER", 200_000),
        # Shared by every VENTES_HOME of a checkout (tests make many), so jars download once.
        jars_dir=env.path("VENTES_JARS", str(PROJECT_ROOT / ".ventes" / "jars")),
        pipeline_schedule=env.cron("PIPELINE_SCHEDULE", "*/15 * * * *"),
        pipeline_retries=env.integer("PIPELINE_RETRIES", 2, (0, 100)),
        pipeline_retry_delay=env.integer("PIPELINE_RETRY_DELAY", 30, (1, 86_400)),
        spark_driver_host=(driver_host := env.host("SPARK_DRIVER_HOST", "127.0.0.1")),
        spark_driver_bind_address=env.host(
            "SPARK_DRIVER_BIND_ADDRESS", driver_host if _valid_host(driver_host) else "127.0.0.1"
        ),
        spark_auth_secret=env.secret(
            "SPARK_AUTH_SECRET", _SECRET.fullmatch, "empty or 16 to 512 of A-Z a-z 0-9 . _ ~ + / = -"
        ),
        metastore_url=env.check("METASTORE_URL", "", _JDBC_URL.fullmatch, "empty or a JDBC URL (jdbc:...)"),
        dashboard_stale_after=env.integer("DASHBOARD_STALE_AFTER", 1800),
    )
    if env.problems:
        raise SettingsError(*env.problems)
    return settings
