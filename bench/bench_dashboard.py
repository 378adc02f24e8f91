"""Benchmark of GET /api/aggregated_sales: the dashboard under gunicorn vs the seed's way.

    .venv/bin/python bench/bench_dashboard.py [--seconds 5] [--seed-requests 30]

Both read the same Silver ``ventes_aggreges`` Delta table, written here by Spark with the
catalogue's 20 products x 8 countries:

- ours: ``dashboard:create_app()`` under gunicorn, as ``ventes up`` runs it, with 1 then 2
  workers (4 threads each); the table is read with deltalake and cached by Delta version;
- the seed's way: a Flask handler that gets the Spark session and reads the Delta table on
  every request (the session is created once, lazily, as in the seed), served by Werkzeug.

Load comes from client processes on loopback, each holding one keep-alive HTTP/1.1
connection: first one connection alone (latency), then several at once (throughput).
Prints requests/s, p50 and p99, the server's CPU time per request (which does not depend on
what else the machine runs, unlike the rates), and the ratios.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from ingestion.catalogue import PAYS, PRODUCTS  # noqa: E402
from services import catalogue  # noqa: E402
from tests.ports import reserve_port  # noqa: E402
from ventes import settings as settings_module  # noqa: E402
from ventes.spark import child_env, delta_conf, new_session  # noqa: E402

PATH = "/api/aggregated_sales"


# --- load generator ----------------------------------------------------------------------


def _client(port: int, deadline: float, max_requests: int, out: multiprocessing.Queue) -> None:
    """One keep-alive connection sending requests until the deadline; reports latencies (s)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies = []
    errors = 0
    while time.perf_counter() < deadline and len(latencies) < max_requests:
        begin = time.perf_counter()
        conn.request("GET", PATH)
        response = conn.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - begin)
        if response.status != 200 or not body.startswith(b"["):
            errors += 1
    conn.close()
    out.put((latencies, errors))


@dataclass
class Result:
    label: str
    connections: int
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    server_cpu: float  # CPU seconds the server's processes used during the run

    @property
    def cpu_per_request(self) -> float:
        return self.server_cpu / max(1, self.requests)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.label:<34} {self.connections:>5} {self.requests:>8} {self.rate:>10,.0f} "
            f"{self.percentile(50) * 1000:>9.2f} {self.percentile(99) * 1000:>9.2f} "
            f"{self.cpu_per_request * 1e6:>14,.0f} {self.errors:>6}"
        )


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def gunicorn_pids(master: int) -> list[int]:
    return [master, *(child.pid for child in psutil.Process(master).children(recursive=True))]


def seed_pids() -> list[int]:
    """This process (Werkzeug, Flask, py4j) and the Spark driver JVM it started."""
    me = psutil.Process()
    return [me.pid, *(c.pid for c in me.children(recursive=True) if c.name() == "java")]


def load(
    label: str,
    port: int,
    connections: int,
    seconds: float,
    server_pids: Callable[[], list[int]],
    max_requests: int = 10**9,
) -> Result:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    pids = server_pids()
    cpu_before = cpu_seconds(pids)
    begin = time.perf_counter()
    deadline = begin + seconds
    workers = [
        ctx.Process(target=_client, args=(port, deadline, max_requests, out)) for _ in range(connections)
    ]
    for w in workers:
        w.start()
    parts = [out.get(timeout=seconds + 600) for _ in workers]
    elapsed = time.perf_counter() - begin
    server_cpu = cpu_seconds(pids) - cpu_before
    for w in workers:
        w.join()
    latencies = [lat for part, _ in parts for lat in part]
    return Result(
        label, connections, len(latencies), elapsed, latencies, sum(e for _, e in parts), server_cpu
    )


def count_rows(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("GET", PATH)
    return len(json.loads(conn.getresponse().read()))


def wait_http(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answers on port {port}")


# --- the table -----------------------------------------------------------------------------


def spark_session(settings: settings_module.Settings):
    return new_session(settings, "bench-dashboard-seed", master="local[2]", log_level="ERROR")


def quiet_spark_conf(settings: settings_module.Settings) -> dict[str, str]:
    return {**delta_conf(settings), "spark.ui.showConsoleProgress": "false"}


def write_aggregates(spark, path: Path) -> int:
    from pyspark.sql.types import DecimalType, LongType, StringType, StructField, StructType

    schema = StructType(
        [
            StructField("produit_nom", StringType(), False),
            StructField("pays", StringType(), False),
            StructField("total_montant", DecimalType(18, 2), False),
            StructField("total_quantite", LongType(), False),
        ]
    )
    rows = [
        (p.produit_nom, pays, p.prix * Decimal(3 * i + weight), 3 * i + weight)
        for i, p in enumerate(PRODUCTS)
        for pays, weight in PAYS
    ]
    spark.createDataFrame(rows, schema).write.format("delta").mode("overwrite").save(str(path))
    return len(rows)


# --- the two servers ---------------------------------------------------------------------


def start_gunicorn(settings: settings_module.Settings, workers: int, log: Path) -> subprocess.Popen:
    command = [
        str(catalogue.GUNICORN), "--bind", f"127.0.0.1:{settings.dashboard_port}",
        "--workers", str(workers), "--threads", "4", "--no-control-socket",
        "--access-logfile", str(log), "--chdir", str(ROOT), "dashboard:create_app()",
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        env=child_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=open(log.with_suffix(".err"), "wb"),
        start_new_session=True,
    )


def seed_app(spark_conf: dict[str, str], path: Path):
    """The seed's dashboard handler: a Spark session (created on first use) reads Delta per request."""
    from flask import Flask, jsonify

    app = Flask("seed_dashboard")
    state: dict = {}

    def get_spark():
        if "spark" not in state:
            from pyspark.sql import SparkSession

            builder = SparkSession.builder.master("local[2]").appName("seed-dashboard")
            for key, value in spark_conf.items():
                builder = builder.config(key, value)
            state["spark"] = builder.getOrCreate()
        return state["spark"]

    @app.get(PATH)
    def aggregated_sales():
        df = get_spark().read.format("delta").load(str(path))
        return jsonify(
            [
                {
                    "produit_nom": r["produit_nom"],
                    "pays": r["pays"],
                    "total_montant": float(r["total_montant"]),
                    "total_quantite": int(r["total_quantite"]),
                }
                for r in df.collect()
            ]
        )

    @app.get("/api/health")
    def health():
        return {"status": "ok"}

    return app


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run")
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections for throughput")
    parser.add_argument("--seed-requests", type=int, default=30, help="requests to the seed's way")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_dashboard_") as tmp:
        home = Path(tmp)
        os.environ.update(
            VENTES_HOME=str(home), DELTA_ROOT=str(home / "delta"), DASHBOARD_PORT=str(reserve_port())
        )
        settings = settings_module.load()
        path = settings.silver_path("ventes_aggreges")
        print(f"machine: {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")

        print("writing ventes_aggreges with Spark ...", flush=True)
        spark = spark_session(settings)
        n_rows = write_aggregates(spark, path)
        spark.stop()  # no JVM busy beside our server; the seed starts its own session below
        print(f"ventes_aggreges: {n_rows} rows at {path}\n")

        header = (
            f"{'server':<34} {'conns':>5} {'requests':>8} {'req/s':>10} "
            f"{'p50 ms':>9} {'p99 ms':>9} {'server CPU µs/req':>14} {'errors':>6}"
        )
        print(header)
        print("-" * len(header))

        results: dict[str, Result] = {}
        for workers in (1, 2):
            server = start_gunicorn(settings, workers, home / f"gunicorn-{workers}.log")
            try:
                wait_http(settings.dashboard_port)
                assert count_rows(settings.dashboard_port) == n_rows, "the dashboard must serve every row"
                pids = functools.partial(gunicorn_pids, server.pid)
                load("warm-up", settings.dashboard_port, 1, 1.0, pids)
                label = f"ours: gunicorn {workers} worker{'s' if workers > 1 else ''}"
                for connections in (1, args.connections):
                    result = load(label, settings.dashboard_port, connections, args.seconds, pids)
                    results[f"{workers}/{connections}"] = result
                    print(result.line(), flush=True)
            finally:
                os.killpg(server.pid, 15)
                server.wait(timeout=30)

        # The seed's way, in this process: Werkzeug serving a Flask app that holds the JVM.
        import logging

        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)

        seed_port = reserve_port()
        seed_server = make_server(
            "127.0.0.1", seed_port, seed_app(quiet_spark_conf(settings), path), threaded=True
        )
        thread = threading.Thread(target=seed_server.serve_forever, daemon=True)
        thread.start()
        try:
            wait_http(seed_port)
            assert count_rows(seed_port) == n_rows
            # The first requests start the session, as a first visit would.
            load("warm-up", seed_port, 1, 600, seed_pids, max_requests=3)
            seed = load("seed: Spark read per request", seed_port, 1, 600, seed_pids, args.seed_requests)
            print(seed.line())
            per_connection = max(1, args.seed_requests // args.connections)
            seed_conc = load(
                "seed: Spark read per request", seed_port, args.connections, 600, seed_pids, per_connection
            )
            print(seed_conc.line())
        finally:
            seed_server.shutdown()

        ours = results[f"1/{args.connections}"]
        ours_latency = results["1/1"]
        print()
        two = results[f"2/{args.connections}"]
        conns = args.connections
        print(f"throughput, 1 worker vs seed ({conns} connections): {ours.rate / seed_conc.rate:,.0f}x")
        print(f"throughput, 2 workers vs seed ({conns} connections): {two.rate / seed_conc.rate:,.0f}x")
        cpu = ours.cpu_per_request
        print(
            f"server CPU per request, 1 worker: {cpu * 1e6:,.0f} µs, i.e. {1 / cpu:,.0f} req/s for one "
            f"worker with a core to itself (seed: {seed_conc.cpu_per_request * 1000:,.0f} ms CPU/request)"
        )
        latency_ratio = seed.percentile(50) / ours_latency.percentile(50)
        print(f"p50 latency, seed / ours (1 connection): {latency_ratio:,.0f}x")
        aims = [
            ("p50 < 5 ms (1 worker, 1 connection)", ours_latency.percentile(50) < 0.005),
            ("1,000 req/s on one worker (measured)", max(ours.rate, ours_latency.rate) >= 1000),
            ("1,000 req/s on one worker (its CPU per request)", 1 / cpu >= 1000),
            ("at least 100x the seed's throughput", ours.rate / seed_conc.rate >= 100),
        ]
        for aim, met in aims:
            print(f"  {'met' if met else 'NOT met'}: {aim}")
        failures = sum(r.errors for r in (*results.values(), seed, seed_conc))
        if failures:
            print(f"{failures} requests failed", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
