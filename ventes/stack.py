"""The local stack as plain processes: Kafka (KRaft), the Spark Thrift Server, the dashboard.

Each service is started detached, with its pid in ``VENTES_HOME/run/<name>.pid`` and its
output in ``VENTES_HOME/logs/<name>.log``; ``up`` waits until each one really answers.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingestion.streaming import following_job
from ventes import airflow_local, jars, logfiles
from ventes.errors import VentesError
from ventes.net import pid_alive, port_open
from ventes.settings import Settings
from ventes.spark import SPARK_HOME, SPARK_SUBMIT, daemon_env, delta_conf, metastore_conf

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


# --- process bookkeeping ---------------------------------------------------------------


def pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.pid"


def log_file(settings: Settings, name: str) -> Path:
    return settings.log_dir / f"{name}.log"


def read_pid(settings: Settings, name: str) -> int | None:
    """The pid of the service this project started, or None when it no longer runs.

    The pid file holds the pid and the process's start time: a pid the kernel gave to another
    program since is stale, so ``down`` never signals a process it did not start.
    """
    try:
        fields = pid_file(settings, name).read_text().split()
        pid = int(fields[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    if not pid_alive(pid):
        return None
    if len(fields) > 1:
        return pid if fields[1] == _start_time(pid) else None
    # The former format, the pid alone: only a process that looks like the one started here.
    return pid if _started_here(settings, name, pid) else None


def write_pid(settings: Settings, name: str, pid: int) -> None:
    pid_file(settings, name).write_text(f"{pid} {_start_time(pid) or ''}".strip())


def _start_time(pid: int) -> str | None:
    """When the process started, in clock ticks after boot (field 22 of /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1].split()[19]
    except (OSError, IndexError):
        pass
    import psutil

    try:
        return repr(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _started_here(settings: Settings, name: str, pid: int) -> bool:
    """Whether ``pid`` runs the service's command, or is a session leader working in
    VENTES_HOME, as ``start`` leaves every service (spark-submit rewrites its command line)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        cmdline, leader = proc.cmdline(), os.getsid(pid) == pid
        if leader and Path(proc.cwd()) == settings.home:
            return True
    except (psutil.Error, OSError):
        return False
    try:
        command = service(name).command(settings)
    except (VentesError, OSError):
        return False
    return len(cmdline) >= len(command) and cmdline[len(cmdline) - len(command) :] == command


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


# --- Kafka -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KafkaNode:
    """One KRaft node (broker and controller in one JVM); a quorum is a list of them."""

    node_id: int
    host: str
    port: int
    controller_port: int
    data_dir: Path

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"


def local_kafka_node(settings: Settings) -> KafkaNode:
    """The single node of the local stack."""
    host, port = settings.kafka_host_port
    return KafkaNode(1, host, port, settings.kafka_controller_port, settings.kafka_data_dir)


def kafka_properties(node: KafkaNode, quorum: Sequence[KafkaNode], partitions: int) -> Path:
    """Write ``server.properties`` of ``node`` as a member of ``quorum`` (itself alone when local)."""
    bind = "127.0.0.1" if node.host in ("localhost", "127.0.0.1") else node.host
    # Internal topics as durable as the sales topic: on up to 3 nodes, writable with one down.
    replicas, min_isr = str(min(3, len(quorum))), str(min(2, len(quorum)))
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.bootstrap.servers": ",".join(f"127.0.0.1:{n.controller_port}" for n in quorum),
        "listeners": f"PLAINTEXT://{bind}:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{node.host}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(node.data_dir / "logs"),
        "num.partitions": str(partitions),
        "offsets.topic.replication.factor": replicas,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "log.retention.hours": "168",
    }
    path = node.properties_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


def _kafka_log4j(settings: Settings) -> Path:
    path = settings.kafka_data_dir / "log4j2.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.stdout.ref = STDOUT\n"
        "appender.stdout.type = Console\n"
        "appender.stdout.name = STDOUT\n"
        "appender.stdout.layout.type = PatternLayout\n"
        "appender.stdout.layout.pattern = [%d] %p %m (%c)%n\n"
        "logger.kafka.name = kafka\nlogger.kafka.level = WARN\n"
        "logger.apache.name = org.apache.kafka\nlogger.apache.level = WARN\n"
        "logger.server.name = kafka.server.KafkaRaftServer\nlogger.server.level = INFO\n"
    )
    return path


def java_command(settings: Settings, main_class: str, *args: str, heap: str = "512m") -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise VentesError("Java 17 is required: no 'java' on PATH")
    return [
        java,
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        f"-Dlog4j2.configurationFile={settings.kafka_data_dir / 'log4j2.properties'}",
        "-cp",
        jars.kafka_classpath(settings),
        main_class,
        *args,
    ]


def prepare_kafka_node(
    settings: Settings, node: KafkaNode, quorum: Sequence[KafkaNode], cluster_id: str | None = None
) -> None:
    """Write the node's configuration and, on first start, format its storage.

    Every node of a multi-node quorum must be formatted with the same ``cluster_id``.
    """
    props = kafka_properties(node, quorum, settings.kafka_partitions)
    _kafka_log4j(settings)
    if (node.data_dir / "logs" / "meta.properties").exists():
        return
    cluster_id = cluster_id or kafka_cluster_id()
    if len(quorum) == 1:
        voters = ["--standalone"]
    else:
        voters = [
            "--initial-controllers",
            ",".join(
                f"{n.node_id}@127.0.0.1:{n.controller_port}:{_kafka_directory_id(cluster_id, n.node_id)}"
                for n in quorum
            ),
        ]
    result = subprocess.run(
        java_command(
            settings,
            "kafka.tools.StorageTool",
            "format",
            *voters,
            f"--cluster-id={cluster_id}",
            "-c",
            str(props),
            heap="256m",
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise VentesError(
            f"kafka: formatting {node.data_dir} failed: {(result.stderr or result.stdout).strip()[-300:]}"
        )


def _kafka_prepare(settings: Settings) -> None:
    node = local_kafka_node(settings)
    prepare_kafka_node(settings, node, [node])


def _kafka_uuid(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def kafka_cluster_id() -> str:
    return _kafka_uuid(uuid.uuid4().bytes)


def _kafka_directory_id(cluster_id: str, node_id: int) -> str:
    # Derived, so that every node formats with the same list of initial controllers.
    return _kafka_uuid(uuid.uuid5(uuid.NAMESPACE_URL, f"kafka:{cluster_id}/{node_id}").bytes)


def kafka_node_command(settings: Settings, node: KafkaNode, heap: str = "768m") -> list[str]:
    return java_command(settings, "kafka.Kafka", str(node.properties_file), heap=heap)


def _kafka_command(settings: Settings) -> list[str]:
    return kafka_node_command(settings, local_kafka_node(settings))


def _kafka_healthy(settings: Settings) -> bool:
    host, port = settings.kafka_host_port
    if not port_open(host, port):
        return False
    from ventes.kafka_admin import admin_client

    try:
        admin = admin_client(settings)
        try:
            admin.list_topics()
        finally:
            admin.close()
    except Exception:
        return False
    return True


def _kafka_ready(settings: Settings) -> None:
    from ventes.kafka_admin import ensure_topic

    ensure_topic(settings)


# --- Spark Thrift Server -----------------------------------------------------------------


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
    ]
    return args


def _thrift_prepare(settings: Settings) -> None:
    settings.metastore_dir.mkdir(parents=True, exist_ok=True)


def _thrift_healthy(settings: Settings) -> bool:
    if not port_open(settings.thrift_host, settings.thrift_port):
        return False
    try:
        from pyhive import hive

        conn = hive.connect(host=settings.thrift_host, port=settings.thrift_port, auth="NOSASL")
        try:
            cursor = conn.cursor()
            cursor.execute("select 1")
            return cursor.fetchall() == [(1,)]
        finally:
            conn.close()
    except Exception:
        return False


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


# --- Bronze streaming job ------------------------------------------------------------------


def _bronze_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "ingestion.job", "--follow"]


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


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _dashboard_url(settings: Settings) -> str:
    return f"http://{settings.dashboard_host}:{settings.dashboard_port}/"


def _dashboard_healthy(settings: Settings) -> bool:
    return _http_ok(_dashboard_url(settings) + "api/health")


SERVICES: list[Service] = [
    Service(
        "kafka",
        port=lambda s: s.kafka_host_port[1],
        host=lambda s: s.kafka_host_port[0],
        command=_kafka_command,
        healthy=_kafka_healthy,
        prepare=_kafka_prepare,
        on_ready=_kafka_ready,
        url=lambda s: s.kafka_bootstrap_servers,
    ),
    Service(
        "thrift",
        port=lambda s: s.thrift_port,
        host=lambda s: s.thrift_host,
        command=thrift_command,
        healthy=_thrift_healthy,
        prepare=_thrift_prepare,
        start_timeout=180.0,
        url=lambda s: f"thrift://{s.thrift_host}:{s.thrift_port}",
    ),
    # The Bronze job following the topic (``ventes ingest --follow``): one-off ingestions wait
    # for it instead of starting a Spark application each (ingestion/streaming.py).
    Service(
        "bronze",
        port=lambda s: None,
        host=lambda s: "-",
        command=_bronze_command,
        healthy=lambda s: following_job(s) is not None,
        start_timeout=180.0,
        url=lambda s: f"{s.kafka_topic} -> {s.bronze_path}",
    ),
    Service(
        "dashboard",
        port=lambda s: s.dashboard_port,
        host=lambda s: s.dashboard_host,
        command=_dashboard_command,
        healthy=_dashboard_healthy,
        url=_dashboard_url,
    ),
    # API server, scheduler and DAG processor under one supervisor (ventes/airflow_local.py).
    Service(
        "airflow",
        port=lambda s: s.airflow_port,
        host=lambda s: airflow_local.HOST,
        command=airflow_local.service_command,
        healthy=airflow_local.healthy,
        prepare=airflow_local.prepare,
        on_ready=airflow_local.refresh_manifest,
        start_timeout=240.0,
        url=lambda s: airflow_local.url(s) + "/",
    ),
]


def service(name: str) -> Service:
    for svc in SERVICES:
        if svc.name == name:
            return svc
    raise VentesError(f"unknown service {name!r}; known: {', '.join(s.name for s in SERVICES)}")


# --- lifecycle -------------------------------------------------------------------------


class PortTaken(VentesError):
    """Another program holds the port a service needs (found before or during its start)."""

    def __init__(self, message: str, port: int) -> None:
        super().__init__(message)
        self.port = port


# What a server that could not listen on its port logs: Java and Kafka, Hive's Thrift server,
# gunicorn, Python and uvicorn servers, PostgreSQL.
_BIND_FAILURE = re.compile(r"address already in use|could not create serversocket|connection in use", re.I)
_ADDRESS_PORT = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}'?(?::|, )(\d{1,5})\b")


def _bind_failure(log: Path, since: int, port: int) -> tuple[int, str] | None:
    """The port a service could not bind, and the log line saying so, from log offset ``since``."""
    try:
        with open(log, "rb") as f:
            f.seek(since)
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    failures = [ln.strip() for ln in lines if _BIND_FAILURE.search(ln)]
    if not failures:
        return None
    named = [int(p) for ln in failures for p in _ADDRESS_PORT.findall(ln)]
    return (port if port in named or not named else named[0]), failures[0][:300]


def start(settings: Settings, svc: Service) -> str:
    """Start one service unless it already runs; wait until it answers. Returns a status word."""
    host, port = svc.host(settings), svc.port(settings)
    log = log_file(settings, svc.name)
    pid = read_pid(settings, svc.name)
    if pid is not None and svc.healthy(settings):
        svc.on_ready(settings)
        return "already running"
    if pid is None and port is not None and port_open(host, port):
        raise PortTaken(
            f"{svc.name}: port {host}:{port} is taken by another program; "
            f"stop it or set another port (see README, Configuration)",
            port,
        )
    if pid is None:
        settings.make_home()
        logfiles.rotate(log)
    since = log.stat().st_size if log.exists() else 0
    if pid is None:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        svc.prepare(settings)
        with open(log, "ab") as out:
            out.write(f"\n=== starting {svc.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')} ===\n".encode())
            out.flush()
            proc = subprocess.Popen(
                svc.command(settings),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env(settings),
                cwd=settings.home,
                start_new_session=True,
            )
        pid = proc.pid
        write_pid(settings, svc.name, pid)
    deadline = time.monotonic() + svc.start_timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            pid_file(settings, svc.name).unlink(missing_ok=True)
            failure = None if port is None else _bind_failure(log, since, port)
            if failure is not None:
                taken, line = failure
                raise PortTaken(
                    f"{svc.name}: port {host}:{taken} is taken by another program "
                    f"(it exited during start-up); see {log}: {line}",
                    taken,
                )
            raise VentesError(
                f"{svc.name} exited during start-up ({_address(settings, svc)}); see {log}: {_last_line(log)}"
            )
        if svc.healthy(settings):
            svc.on_ready(settings)
            return "started"
        time.sleep(0.5)
    raise VentesError(
        f"{svc.name} did not answer ({_address(settings, svc)}) within {svc.start_timeout:.0f}s; see {log}"
    )


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of a child process: the settings, plus Spark's home in the venv (and
    the RPC authentication of a standalone master or worker, when the secret is set)."""
    env = settings.env_for_children()
    env["SPARK_HOME"] = str(SPARK_HOME)
    env.update(daemon_env(settings))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errors = [ln for ln in lines if "ERROR" in ln or "Exception" in ln or "Error" in ln]
    return (errors or lines or [""])[-1].strip()[:300]


def stop(settings: Settings, name: str, timeout: float = 30.0) -> str:
    """Stop a service this project started (by its recorded pid and process group)."""
    pid = read_pid(settings, name)
    path = pid_file(settings, name)
    if pid is None:
        path.unlink(missing_ok=True)
        return "not running"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    _kill_stragglers(pid)
    path.unlink(missing_ok=True)
    return "stopped"


def _kill_stragglers(group: int, timeout: float = 10.0) -> None:
    """SIGKILL what is left of a service's own process group: the service itself if it did not
    stop in time, and any child forked while it was stopping (a LocalExecutor task starting,
    say), which would otherwise outlive it. Bounded: exited members may await their reaper."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            return
        _reap(group)
        time.sleep(0.2)


def _reap(group: int) -> None:
    """Collect exited members of ``group`` that are this process's children (a process that
    started the service itself, such as a test, is their parent until it waits for them)."""
    while True:
        try:
            reaped, _ = os.waitpid(-group, os.WNOHANG)
        except ChildProcessError:
            return
        if reaped == 0:
            return


def up(settings: Settings, names: list[str] | None = None, echo: Callable[[str], None] = print) -> None:
    jars.ensure_jars(settings)
    for svc in SERVICES:
        if names and svc.name not in names:
            continue
        begin = time.monotonic()
        echo(f"{svc.name:<10} starting...")
        word = start(settings, svc)
        echo(
            f"{svc.name:<10} {word} in {time.monotonic() - begin:.1f}s  "
            f"{svc.url(settings) if svc.url else ''}  (log: {log_file(settings, svc.name)})"
        )


def down(settings: Settings, names: list[str] | None = None, echo: Callable[[str], None] = print) -> None:
    for svc in reversed(SERVICES):
        if names and svc.name not in names:
            continue
        echo(f"{svc.name:<10} {stop(settings, svc.name)}")


def _address(settings: Settings, svc: Service) -> str:
    port = svc.port(settings)
    return "-" if port is None else f"{svc.host(settings)}:{port}"


def status(settings: Settings) -> list[dict[str, object]]:
    rows = []
    for svc in SERVICES:
        pid = read_pid(settings, svc.name)
        rows.append(
            {
                "service": svc.name,
                "pid": pid,
                "address": _address(settings, svc),
                "health": ("up" if svc.healthy(settings) else "not answering") if pid else "stopped",
                "rss_mb": round(rss_bytes(pid) / 2**20) if pid else 0,
                "log": str(log_file(settings, svc.name)),
            }
        )
    return rows
