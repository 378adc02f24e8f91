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
from typing import Any

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
_ANY_COUNT = (1, 2**31 - 1)
_NO_CONTROL = re.compile(r"[^\x00-\x1f\x7f]*")
_JVM_OPTION = re.compile(r"-(?:X\S+|D[^=\s]+(?:=\S*)?|javaagent:\S+|agent(?:lib|path):\S+|-[a-z][a-z-]*=\S+)")
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

    def integer(self, name: str, default: int, bounds: tuple[int, int] = _ANY_COUNT) -> int:
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

    def jvm_options(self, name: str, default: str) -> str:
        """JVM options separated by whitespace, each a whole option (never a launcher action such
        as -version, nor one whose value would be the next word, such as -cp)."""

        def valid(v: str) -> bool:
            return _NO_CONTROL.fullmatch(v) is not None and all(_JVM_OPTION.fullmatch(o) for o in v.split())

        allowed = "JVM options separated by spaces: -X..., -XX:..., -D...=..., -javaagent:..., --option=value"
        text = self.check(name, default, valid, allowed)
        return " ".join(text.split()) if valid(text) else default

    def topic(self, name: str, default: str) -> str:
        return self.check(
            name, default, _TOPIC.fullmatch, "1 to 249 characters among A-Z a-z 0-9 . _ - (not . or ..)"
        )

    def jdbc_url(self, name: str, default: str) -> str:
        return self.check(name, default, _JDBC_URL.fullmatch, "empty or a JDBC URL (jdbc:...)")

    def secret(self, name: str, default: str) -> str:
        """Like :meth:`check`, but a refused value is not repeated in the message (it goes to logs)."""
        value = self.environ.get(name, "").strip() or default
        if not _SECRET.fullmatch(value):
            allowed = "empty or 16 to 512 of A-Z a-z 0-9 . _ ~ + / = -"
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
    """Every setting, read and validated once by :func:`load` (see ``_VARIABLES``)."""

    home: Path
    delta_root: Path
    kafka_bootstrap_servers: str
    kafka_topic: str
    kafka_partitions: int
    kafka_controller_port: int
    kafka_opts: str
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
    pipeline_schedule: str
    pipeline_retries: int
    pipeline_retry_delay: int
    # Where Spark executors reach this process's driver: loopback locally, the container's
    # name in docker-compose.
    spark_driver_host: str
    # The address the driver listens on: its host by default; 0.0.0.0 in a container on several
    # networks, where the container's name resolves to one of its addresses only.
    spark_driver_bind_address: str
    # Spark's RPC authentication (spark.authenticate): the secret shared by the master, the
    # workers and every application of a standalone cluster; empty: no authentication (local).
    spark_auth_secret: str = field(repr=False)
    # JDBC URL of a metastore shared by every Spark JVM (PostgreSQL in docker-compose); empty:
    # the Thrift server alone owns an embedded Derby metastore under VENTES_HOME.
    metastore_url: str
    # The dashboard warns when Bronze saw no commit, or Silver lags Bronze, for this many seconds.
    dashboard_stale_after: int

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
        env.update({variable: str(getattr(self, name)) for name, variable, _, _ in _VARIABLES})
        env["AIRFLOW_HOME"] = str(self.airflow_home)
        return env


def _integer(bounds: tuple[int, int]) -> Callable[[_Reader, str, int], int]:
    return lambda env, name, default: env.integer(name, default, bounds)


def _driver_bind_default(got: dict[str, Any]) -> str:
    host = got["spark_driver_host"]
    return host if _valid_host(host) else "127.0.0.1"


# Each setting once: its field, its environment variable, how it is read and validated, and its
# default (a value, or a function of the settings read before it).
_VARIABLES: tuple[tuple[str, str, Callable[[_Reader, str, Any], Any], Any], ...] = (
    ("home", "VENTES_HOME", _Reader.path, str(PROJECT_ROOT / ".ventes")),
    ("delta_root", "DELTA_ROOT", _Reader.path, lambda got: str(got["home"] / "delta")),
    ("kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS", _Reader.servers, "localhost:9092"),
    ("kafka_topic", "KAFKA_TOPIC", _Reader.topic, "ventes_stream"),
    ("kafka_partitions", "KAFKA_PARTITIONS", _integer((1, 10_000)), 3),
    ("kafka_controller_port", "KAFKA_CONTROLLER_PORT", _integer(_PORT), 9093),
    ("kafka_opts", "KAFKA_OPTS", _Reader.jvm_options, ""),
    ("spark_master", "SPARK_MASTER", _Reader.spark_master, "local[*]"),
    ("thrift_host", "THRIFT_HOST", _Reader.host, "127.0.0.1"),
    ("thrift_port", "THRIFT_PORT", _integer(_PORT), 10000),
    ("dashboard_host", "DASHBOARD_HOST", _Reader.host, "127.0.0.1"),
    ("dashboard_port", "DASHBOARD_PORT", _integer(_PORT), 5000),
    ("docs_port", "DBT_DOCS_PORT", _integer(_PORT), 8081),
    ("airflow_port", "AIRFLOW_PORT", _integer(_PORT), 8080),
    ("max_offsets_per_trigger", "MAX_OFFSETS_PER_TRIGGER", _integer(_ANY_COUNT), 200_000),
    # Shared by every VENTES_HOME of a checkout (tests make many), so jars download once.
    ("jars_dir", "VENTES_JARS", _Reader.path, str(PROJECT_ROOT / ".ventes" / "jars")),
    ("pipeline_schedule", "PIPELINE_SCHEDULE", _Reader.cron, "*/15 * * * *"),
    ("pipeline_retries", "PIPELINE_RETRIES", _integer((0, 100)), 2),
    ("pipeline_retry_delay", "PIPELINE_RETRY_DELAY", _integer((1, 86_400)), 30),
    ("spark_driver_host", "SPARK_DRIVER_HOST", _Reader.host, "127.0.0.1"),
    ("spark_driver_bind_address", "SPARK_DRIVER_BIND_ADDRESS", _Reader.host, _driver_bind_default),
    ("spark_auth_secret", "SPARK_AUTH_SECRET", _Reader.secret, ""),
    ("metastore_url", "METASTORE_URL", _Reader.jdbc_url, ""),
    ("dashboard_stale_after", "DASHBOARD_STALE_AFTER", _integer(_ANY_COUNT), 1800),
)


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings from the environment, with the documented defaults.

    Raises :class:`SettingsError` naming every variable that is not allowed, and what would be.
    """
    env = _Reader(os.environ if environ is None else environ)
    got: dict[str, Any] = {}
    for name, variable, read, default in _VARIABLES:
        got[name] = read(env, variable, default(got) if callable(default) else default)
    if env.problems:
        raise SettingsError(*env.problems)
    return Settings(**got)
