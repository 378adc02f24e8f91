"""The long-running services of the project, as the local stack (``ventes up``) and the cluster's
containers (``services.container``) both run them: each one's command, preparation and health
check. Where a service runs and who supervises it is the caller's business.
"""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingestion.streaming import following_job
from transformation import thrift
from ventes.settings import Settings
from ventes.spark import SPARK_HOME, SPARK_SUBMIT, delta_conf, metastore_conf

GUNICORN = Path(sys.executable).parent / "gunicorn"


@dataclass(frozen=True)
class Service:
    name: str
    # None for a service that listens on no port (the Bronze streaming job).
    port: Callable[[Settings], int | None]
    host: Callable[[Settings], str]
    command: Callable[[Settings], list[str]]
    healthy: Callable[[Settings], bool]
    prepare: Callable[[Settings], None] = lambda s: None
    # Runs once the service answers, on every `up` (so it must be idempotent).
    on_ready: Callable[[Settings], None] = lambda s: None
    start_timeout: float = 120.0
    url: Callable[[Settings], str] | None = None


# --- Spark Thrift Server -----------------------------------------------------------------


# Statements run on a few threads kept alive. A thread's first metastore call builds its own
# metastore store (a HiveConf parsed anew, a DataNucleus store): with Hive's default pool of 100
# threads, where idle ones end after 10 s, most statements of a dbt build got a new thread, and a
# first build took 1.07 times the CPU (bench/bench_test_jvm.py).
THRIFT_STATEMENT_POOL = ("hive.server2.async.exec.threads=8", "hive.server2.async.exec.keepalive.time=3600s")


def thrift_command(settings: Settings) -> list[str]:
    conf = delta_conf(settings)
    metastore = settings.metastore_dir
    conf.update(
        {
            "spark.master": settings.spark_master,
            "spark.sql.warehouse.dir": str(metastore / "warehouse"),
            **metastore_conf(settings),
            "spark.driver.memory": "1g",
            "spark.sql.hive.thriftServer.singleSession": "false",
        }
    )
    jars_csv = conf.pop("spark.jars")
    args = [
        str(SPARK_SUBMIT),
        "--class",
        "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "--name",
        "ventes-thrift-server",
        "--jars",
        jars_csv,
        "--driver-java-options",
        f"-Dderby.system.home={metastore}",
    ]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    args += [
        "spark-internal",
        "--hiveconf",
        f"hive.server2.thrift.port={settings.thrift_port}",
        "--hiveconf",
        f"hive.server2.thrift.bind.host={settings.thrift_host}",
        "--hiveconf",
        "hive.server2.authentication=NOSASL",
        # Statements run as the server's own user. With impersonation each Thrift session is a
        # new user identity, and the shared metastore client, finding a different owner, closes
        # and reopens its embedded metastore on most calls: a quarter of the server's CPU in a
        # dbt build went to that.
        "--hiveconf",
        "hive.server2.enable.doAs=false",
    ]
    for option in THRIFT_STATEMENT_POOL:
        args += ["--hiveconf", option]
    return args


def _thrift_prepare(settings: Settings) -> None:
    settings.metastore_dir.mkdir(parents=True, exist_ok=True)


THRIFT = Service(
    "thrift",
    port=lambda s: s.thrift_port,
    host=lambda s: s.thrift_host,
    command=thrift_command,
    healthy=thrift.answers,
    prepare=_thrift_prepare,
    start_timeout=180.0,
    url=lambda s: f"thrift://{s.thrift_host}:{s.thrift_port}",
)


# --- Bronze streaming job ------------------------------------------------------------------


def _bronze_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "ingestion.job", "--follow"]


# The Bronze job following the topic (``ventes ingest --follow``): one-off ingestions wait for it
# instead of starting a Spark application each (ingestion/streaming.py).
BRONZE = Service(
    "bronze",
    port=lambda s: None,
    host=lambda s: "-",
    command=_bronze_command,
    healthy=lambda s: following_job(s) is not None,
    start_timeout=180.0,
    url=lambda s: f"{s.kafka_topic} -> {s.bronze_path}",
)


# --- Dashboard -------------------------------------------------------------------------


def _dashboard_command(settings: Settings) -> list[str]:
    return [
        str(GUNICORN),
        "--bind",
        f"{settings.dashboard_host}:{settings.dashboard_port}",
        "--workers",
        "2",
        "--threads",
        "4",
        "--access-logfile",
        "-",
        # gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl),
        # which a second dashboard (tests beside a developer's stack) would take over.
        "--no-control-socket",
        "--chdir",
        str(settings.project_root),
        "dashboard:create_app()",
    ]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _dashboard_url(settings: Settings) -> str:
    return f"http://{settings.dashboard_host}:{settings.dashboard_port}/"


def _dashboard_healthy(settings: Settings) -> bool:
    return http_ok(_dashboard_url(settings) + "api/health")


DASHBOARD = Service(
    "dashboard",
    port=lambda s: s.dashboard_port,
    host=lambda s: s.dashboard_host,
    command=_dashboard_command,
    healthy=_dashboard_healthy,
    url=_dashboard_url,
)


# --- Spark standalone cluster -------------------------------------------------------------


def spark_master_command(host: str, port: int, webui_port: int) -> list[str]:
    """A Spark standalone master from the installed pyspark (as in docker-compose)."""
    return [
        str(SPARK_HOME / "bin" / "spark-class"),
        "org.apache.spark.deploy.master.Master",
        "--host", host,
        "--port", str(port),
        "--webui-port", str(webui_port),
    ]  # fmt: skip


def spark_worker_command(
    master_url: str, host: str, port: int, webui_port: int, cores: int, memory: str, work_dir: Path
) -> list[str]:
    """A Spark standalone worker offering ``cores`` and ``memory`` to the master's applications."""
    return [
        str(SPARK_HOME / "bin" / "spark-class"),
        "org.apache.spark.deploy.worker.Worker",
        "--host", host,
        "--port", str(port),
        "--webui-port", str(webui_port),
        "--cores", str(cores),
        "--memory", memory,
        "--work-dir", str(work_dir),
        master_url,
    ]  # fmt: skip
