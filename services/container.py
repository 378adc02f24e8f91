"""The project image's long-running roles and health checks (``docker/entrypoint.sh``), from the
same service definitions as ``ventes up``.

    python -m services.container service thrift|dashboard|bronze   exec the service's command
    python -m services.container spark-master --host H             a Spark standalone master
    python -m services.container spark-worker URL --host H ...     a Spark standalone worker
    python -m services.container kafka-topic --replication-factor 3 --min-insync-replicas 2
                                       wait for the brokers, create the sales topic
    python -m services.container health thrift|dashboard|bronze|spark|http URL
                                       exit 0 when it answers

Every setting comes from the environment through ``ventes.settings``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request

from services import catalogue
from ventes import settings as settings_module
from ventes.errors import VentesError
from ventes.kafka_admin import admin_client, ensure_topic
from ventes.spark import child_env

ROLES = {svc.name: svc for svc in (catalogue.THRIFT, catalogue.DASHBOARD, catalogue.BRONZE)}


def _exec(settings: settings_module.Settings, command: list[str]) -> None:
    print(" ".join(command), flush=True)
    os.execvpe(command[0], command, child_env(settings))


def service(args: argparse.Namespace) -> None:
    settings = settings_module.load()
    svc = ROLES[args.name]
    settings.make_home()
    svc.prepare(settings)
    _exec(settings, svc.command(settings))


def spark_master(args: argparse.Namespace) -> None:
    _exec(settings_module.load(), catalogue.spark_master_command(args.host, args.port, args.webui_port))


def spark_worker(args: argparse.Namespace) -> None:
    settings = settings_module.load()
    work_dir = settings.home / "spark-work"
    work_dir.mkdir(parents=True, exist_ok=True)
    command = catalogue.spark_worker_command(
        args.master_url, args.host, args.port, args.webui_port, args.cores, args.memory, work_dir
    )
    _exec(settings, command)


def kafka_topic(args: argparse.Namespace) -> None:
    """Create the sales topic once ``replication_factor`` brokers are registered."""
    settings = settings_module.load()
    deadline = time.monotonic() + args.timeout
    brokers: list = []
    while time.monotonic() < deadline:
        try:
            admin = admin_client(settings)
            try:
                brokers = admin.describe_cluster()["brokers"]
            finally:
                admin.close()
        except Exception as exc:  # not answering yet
            print(f"waiting for Kafka at {settings.kafka_bootstrap_servers}: {exc}", flush=True)
        if len(brokers) >= args.replication_factor:
            break
        time.sleep(2)
    else:
        raise VentesError(
            f"{len(brokers)} of {args.replication_factor} brokers registered after {args.timeout}s "
            f"at {settings.kafka_bootstrap_servers}"
        )
    ensure_topic(settings, args.replication_factor, args.min_insync_replicas)
    topic = _described_topic(settings, deadline)
    replicas = {len(p["replica_nodes"]) for p in topic["partitions"]}
    print(
        f"topic {settings.kafka_topic}: {len(topic['partitions'])} partitions, "
        f"replication factor {sorted(replicas)}, min.insync.replicas {args.min_insync_replicas}"
    )
    if replicas != {args.replication_factor}:
        raise VentesError(
            f"topic {settings.kafka_topic} exists with replication factor {sorted(replicas)}, "
            f"not {args.replication_factor}: delete it or recreate the brokers' volumes"
        )


def _described_topic(settings: settings_module.Settings, deadline: float) -> dict:
    """The topic as the brokers describe it, once its partitions show: a topic just created
    is listed by a broker before that broker has its partitions' metadata."""
    while True:
        admin = admin_client(settings)
        try:
            (topic,) = admin.describe_topics([settings.kafka_topic])
        finally:
            admin.close()
        if topic["partitions"] or time.monotonic() > deadline:
            return topic
        time.sleep(1)


def _http_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def health(args: argparse.Namespace) -> None:
    settings = settings_module.load()
    if args.target in ("thrift", "dashboard", "bronze"):
        ok = ROLES[args.target].healthy(settings)
    elif args.target == "spark":  # a standalone master or worker web UI
        ok = "ALIVE" in json.dumps(_http_json(args.url))
    elif args.target == "http":
        with urllib.request.urlopen(args.url, timeout=5) as response:
            ok = response.status == 200
    else:
        raise VentesError(f"unknown health target {args.target!r}")
    if not ok:
        raise VentesError(f"{args.target} does not answer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.container")
    sub = parser.add_subparsers(dest="role", required=True)

    p = sub.add_parser("service")
    p.add_argument("name", choices=["thrift", "dashboard", "bronze"])
    p.set_defaults(run=service)

    p = sub.add_parser("spark-master")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=7077)
    p.add_argument("--webui-port", type=int, default=8080)
    p.set_defaults(run=spark_master)

    p = sub.add_parser("spark-worker")
    p.add_argument("master_url")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=7078)
    p.add_argument("--webui-port", type=int, default=8081)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--memory", default="2g")
    p.set_defaults(run=spark_worker)

    p = sub.add_parser("kafka-topic")
    p.add_argument("--replication-factor", type=int, default=3)
    p.add_argument("--min-insync-replicas", type=int, default=2)
    p.add_argument("--timeout", type=int, default=180)
    p.set_defaults(run=kafka_topic)

    p = sub.add_parser("health")
    p.add_argument("target", choices=["thrift", "dashboard", "bronze", "spark", "http"])
    p.add_argument("url", nargs="?")
    p.set_defaults(run=health)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (VentesError, OSError) as exc:
        print(f"{args.role}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
