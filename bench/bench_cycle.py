"""Benchmark: one pipeline cycle of 50 new sales, each way, side by side on one warm local stack.

A private VENTES_HOME with its own Kafka broker, Spark Thrift Server, Bronze streaming job,
dashboard and Airflow on reserved loopback ports (all stopped and removed at the end). After one
warm-up of each way, ``--rounds`` rounds, the ways in a rotated order each round:

  ventes run      50 sales produced, then ``ventes run`` (a fresh process): ingestion (the
                  streaming job commits them) and one ``dbt build``
  ventes transform  the dbt build alone, after 50 more sales were ingested
  DAG run         ``unified_sales_pipeline`` triggered through the REST API with 50 demo sales,
                  run by the scheduler (Cosmos watcher mode), until its state is success
  original design the card's way, on its own lake and topic: a Bronze Spark job per run
                  (``python -m ingestion.job``, a fresh JVM), then a Silver Spark job
                  (``spark-submit bench/original_silver_job.py``) reading Bronze and overwriting
                  four tables

Prints each run, the medians and spreads, the ratios the pipeline aims at, and where the DAG
run's time goes, then the CPU seconds each part of the stack spent in one DAG run and one
``ventes run`` (``bench/process_cpu.py``). ``--freshness N`` then unpauses the DAG on a
one-minute schedule (demo sales off) and times N sales from being produced to being served by
``/api/aggregated_sales``.

    .venv/bin/python bench/bench_cycle.py [--sales 50] [--rounds 3] [--freshness 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tests.airflow import rest
from tests.ports import stack_env

BENCH_DIR = Path(__file__).resolve().parent
DAG_PATH = "/api/v2/dags/unified_sales_pipeline"
SERVICES = ("kafka", "thrift", "bronze", "dashboard", "airflow")


def ventes(*args: str, env: dict[str, str] | None = None) -> float:
    """Run ``ventes ARGS`` as a user does (a fresh process); its wall time."""
    begin = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "stack.cli", *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"ventes {' '.join(args)} failed:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}")
    return time.monotonic() - begin


def timed(command: list[str], env: dict[str, str]) -> float:
    begin = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{command[:3]} failed:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}")
    return time.monotonic() - begin


class Bench:
    def __init__(self, home: Path, sales: int) -> None:
        from ventes import settings as settings_module

        self.home, self.sales = home, sales
        self.settings = settings_module.load()
        self.original_env = {
            **self.settings.env_for_children(),
            "DELTA_ROOT": str(home / "original_lake"),
            "KAFKA_TOPIC": "original_design",
        }
        self.dag_breakdown: list[dict[str, float]] = []
        self.last_tasks: list[dict] = []  # the last DAG run's task instances

    def produce(self, env: dict[str, str] | None = None) -> None:
        ventes("produce", "--count", str(self.sales), env=env)

    def ventes_run(self) -> float:
        self.produce()
        return ventes("run")

    def ventes_transform(self) -> float:
        self.produce()
        ventes("ingest")
        return ventes("transform")

    def dag_run(self) -> float:

        begin = time.monotonic()
        run = rest.api(
            self.settings,
            "POST",
            f"{DAG_PATH}/dagRuns",
            {"logical_date": None, "conf": {"demo_sales_count": self.sales}},
        )
        path = f"{DAG_PATH}/dagRuns/{run['dag_run_id']}"
        while (state := rest.api(self.settings, "GET", path)["state"]) not in ("success", "failed"):
            time.sleep(0.2)
        seconds = time.monotonic() - begin
        if state != "success":
            raise SystemExit(f"DAG run {run['dag_run_id']} failed; logs under {self.settings.airflow_home}")
        self.last_tasks = rest.api(self.settings, "GET", f"{path}/taskInstances")["task_instances"]
        self.dag_breakdown.append(breakdown(self.last_tasks))
        return seconds

    def wait_for_scheduled_run(self) -> None:

        path = f"{DAG_PATH}/dagRuns?run_type=scheduled"
        deadline = time.monotonic() + 900
        while not any(
            r["state"] in ("success", "failed") for r in rest.api(self.settings, "GET", path)["dag_runs"]
        ):
            if time.monotonic() > deadline:
                raise SystemExit("the DAG's first scheduled run did not end within 15 minutes")
            time.sleep(1)

    def original_bronze(self) -> float:
        self.produce(env=self.original_env)
        return timed([sys.executable, "-m", "ingestion.job"], self.original_env)

    def original_silver(self) -> float:
        from ventes.settings import load
        from ventes.spark import SPARK_SUBMIT, delta_conf

        conf = delta_conf(load())
        command = [str(SPARK_SUBMIT), "--master", self.settings.spark_master]
        for key, value in conf.items():
            command += ["--conf", f"{key}={value}"]
        command += [str(BENCH_DIR / "original_silver_job.py"), self.original_env["DELTA_ROOT"]]
        return timed(command, self.original_env)


def task_parts(tasks: list[dict]) -> dict[str, str]:
    """Each task instance's id and the part of a DAG run it is."""

    def part(task_id: str) -> str:
        if task_id == "dbt_build.dbt_producer_watcher":
            return "dbt build (Cosmos producer task)"
        if task_id.startswith("dbt_build."):
            return "dbt sensor tasks"
        return "other DAG tasks (checks, produce, Bronze)"

    return {t["id"]: part(t["task_id"]) for t in tasks}


def breakdown(tasks: list[dict]) -> dict[str, float]:
    """Where a DAG run's seconds went: before dbt, the dbt build, after it, and in all."""
    when = {t["task_id"]: (parse(t["start_date"]), parse(t["end_date"])) for t in tasks}
    first = min(start for start, _ in when.values())
    last = max(end for _, end in when.values())
    producer_start, producer_end = when["dbt_build.dbt_producer_watcher"]
    return {
        "before dbt (check, produce, ingest, Bronze check)": (producer_start - first).total_seconds(),
        "dbt build (producer task)": (producer_end - producer_start).total_seconds(),
        "after the build (last sensors, verify)": (last - producer_end).total_seconds(),
        "first task start to last task end": (last - first).total_seconds(),
    }


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def summary(values: list[float]) -> str:
    median = statistics.median(values)
    return f"median {median:6.1f}s  (min {min(values):.1f}, max {max(values):.1f}, n={len(values)})"


def rounds(bench: Bench, count: int) -> dict[str, list[float]]:
    """Each way once to warm up, then ``count`` rounds in an order rotated each round."""

    def original() -> dict[str, float]:
        # Its Silver job reads what its Bronze job wrote: the two keep their order.
        return {
            "original: Bronze job": bench.original_bronze(),
            "original: Silver job": bench.original_silver(),
        }

    ways: dict[str, Callable[[], dict[str, float]]] = {
        "ventes run": lambda: {"ventes run": bench.ventes_run()},
        "ventes transform": lambda: {"ventes transform (dbt build)": bench.ventes_transform()},
        "DAG run": lambda: {"DAG run": bench.dag_run()},
        "original design": original,
    }
    print("warm-up: each way once (not counted)", flush=True)
    for way in ways.values():
        way()
    bench.dag_breakdown.clear()
    times: dict[str, list[float]] = {}
    names = list(ways)
    for number in range(count):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            for label, seconds in ways[name]().items():
                times.setdefault(label, []).append(seconds)
                print(f"  round {number + 1}: {label:<30} {seconds:6.1f}s", flush=True)
    return times


def report(times: dict[str, list[float]], bench: Bench) -> None:
    print()
    for name, values in times.items():
        print(f"{name:<32} {summary(values)}")
    med = {name: statistics.median(values) for name, values in times.items()}
    original = med["original: Bronze job"] + med["original: Silver job"]
    print(f"{'original: whole cycle':<32} median {original:6.1f}s")
    print("\nratios (medians):")
    for label, ratio, aim in (
        ("DAG run / ventes run", med["DAG run"] / med["ventes run"], "at most 1.2"),
        (
            "dbt build / original Silver job",
            med["ventes transform (dbt build)"] / med["original: Silver job"],
            "at most 0.5",
        ),
        ("ventes run / original whole cycle", med["ventes run"] / original, "at most 0.5"),
    ):
        print(f"  {label:<40} {ratio:5.2f}x   (aim: {aim})")
    print(f"  {'ventes run':<40} {med['ventes run']:5.1f}s   (aim: at most 20 s)")
    print("\nwhere a DAG run's time goes (medians):")
    for key in bench.dag_breakdown[0]:
        print(f"  {key:<52} {statistics.median(b[key] for b in bench.dag_breakdown):6.1f}s")


def where_the_time_goes(bench: Bench) -> None:
    """One ``ventes transform`` and one original Bronze job, taken apart."""
    import psutil

    from stack import processes

    settings = bench.settings
    bench.produce()
    ventes("ingest")
    thrift = psutil.Process(processes.read_pid(settings, "thrift"))
    cpu_before = sum(thrift.cpu_times()[:2])
    wall = ventes("transform")
    cpu = sum(thrift.cpu_times()[:2]) - cpu_before
    results = json.loads((settings.dbt_target_dir / "run_results.json").read_text())
    by_kind: dict[str, list[float]] = {}
    for result in results["results"]:
        by_kind.setdefault(result["unique_id"].split(".")[0], []).append(result["execution_time"])
    nodes = sum(len(times) for kind, times in by_kind.items() if kind != "operation")
    print("\nwhere `ventes transform` goes (one run):")
    print(
        f"  wall {wall:.1f}s = dbt start-up, parse and relation cache {wall - results['elapsed_time']:.1f}s"
    )
    print(f"     + the build {results['elapsed_time']:.1f}s on {settings.thrift_host}:{settings.thrift_port}")
    for kind, times in sorted(by_kind.items()):
        print(
            f"  {kind:<10} {len(times):3d} nodes, {sum(times):6.1f}s of node time, longest {max(times):.1f}s"
        )
    print(f"  Thrift server CPU during the build: {cpu:.1f}s, {cpu / max(nodes, 1):.2f}s per node")

    bench.produce(env=bench.original_env)
    begin = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "ingestion.job"],
        env=bench.original_env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.monotonic() - begin
    inside = float(result.stdout.rsplit(" in ", 1)[1].split("s", 1)[0])
    print(
        f"original Bronze job: {wall:.1f}s wall = {wall - inside:.1f}s Python, JVM and Spark session start,"
    )
    print(f"  table and offset checks + {inside:.1f}s streaming {bench.sales} rows into Delta")


def where_the_cpu_goes(bench: Bench) -> None:
    """One DAG run and one ``ventes run`` more, each part of the stack's CPU seconds sampled."""
    from process_cpu import cpu_by_part

    print("\nwhere the CPU goes (one run each, CPU seconds by part of the stack):")
    for label, way in (("DAG run", bench.dag_run), ("ventes run", bench.ventes_run)):
        with cpu_by_part() as sampler:
            wall = way()
        parts = sampler.by_part(task_parts(bench.last_tasks) if label == "DAG run" else {})
        print(f"  {label}: {wall:.1f}s wall, {sum(parts.values()):.1f}s CPU on 2 cores")
        for part, cpu in parts.items():
            if cpu >= 0.1:
                print(f"    {part:<40} {cpu:6.1f}s")
        for cpu, title in sampler.busiest_others():
            print(f"    (other) {cpu:5.1f}s  {title}")


def served_quantity(settings) -> int:
    url = f"http://{settings.dashboard_host}:{settings.dashboard_port}/api/aggregated_sales"
    with urllib.request.urlopen(url, timeout=10) as response:
        return sum(row["total_quantite"] for row in json.load(response))


def private_stack(prefix: str, **settings: str) -> Path:
    """A private VENTES_HOME and reserved loopback ports for every service, set in this process's
    environment with ``settings``. Stopped with SIGTERM (or Ctrl-C), the benchmark still stops
    what it started: SIGTERM exits through its ``finally`` blocks."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    home = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.update(stack_env(home), **settings)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--freshness", type=int, default=0, metavar="N", help="sales batches to time")
    args = parser.parse_args()

    # Yearly: no scheduled run gets in the way of the triggered ones.
    home = private_stack("bench_cycle_", PIPELINE_SCHEDULE="0 0 1 1 *")

    from stack import processes

    bench = Bench(home, args.sales)
    finished = False
    try:
        begin = time.monotonic()
        processes.up(bench.settings, list(SERVICES), echo=lambda line: None)
        print(f"stack up in {time.monotonic() - begin:.0f}s: {', '.join(SERVICES)}", flush=True)
        # Unpausing starts a run for the latest tick of the schedule: let it end (a warm-up) so
        # that no two builds ever run at once.
        rest.api(bench.settings, "PATCH", DAG_PATH, {"is_paused": False})
        bench.wait_for_scheduled_run()
        report(rounds(bench, args.rounds), bench)
        where_the_time_goes(bench)
        where_the_cpu_goes(bench)
        if args.freshness:
            measure_freshness(bench, args.freshness)
        finished = True
    finally:
        processes.down(bench.settings, echo=lambda line: None)
        if finished:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"kept {home} for inspection", file=sys.stderr)


def measure_freshness(bench: Bench, samples: int) -> None:
    """From sales produced to sales served, with the DAG scheduled every minute."""

    from orchestration.tasks import PRODUCE_VARIABLE
    from stack import processes

    rest.api(bench.settings, "PATCH", DAG_PATH, {"is_paused": True})
    processes.stop(bench.settings, "airflow")
    settings = dataclasses.replace(bench.settings, pipeline_schedule="* * * * *")
    processes.start(settings, processes.service("airflow"))
    rest.api(settings, "POST", "/api/v2/variables", {"key": PRODUCE_VARIABLE, "value": "false"})
    rest.api(settings, "PATCH", DAG_PATH, {"is_paused": False})
    print("\nfreshness, DAG every minute, demo sales off:", flush=True)
    latencies = []
    for number in range(samples):
        before = served_quantity(settings)
        begin = time.monotonic()
        bench.produce()
        while served_quantity(settings) == before:
            if time.monotonic() - begin > 600:
                raise SystemExit("sales not served within 10 minutes")
            time.sleep(0.5)
        latencies.append(time.monotonic() - begin)
        print(f"  sample {number + 1}: produced to served in {latencies[-1]:5.1f}s", flush=True)
        time.sleep(17 * (number + 1) % 60)  # land the next sample elsewhere in the minute
    print(f"  {summary(latencies)}")


if __name__ == "__main__":
    main()
