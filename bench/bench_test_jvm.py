"""Benchmark: the test suite's Spark drivers and Kafka brokers with its options, against the
JVM's and Spark's defaults.

The suite starts its Spark drivers with ``SPARK_SUBMIT_OPTS`` set to
``tests.environment.TEST_SPARK_SUBMIT_OPTS`` (the JVM's quick compiler only, and no Spark code
generation) and the class-data-sharing archive of ``tests/jvm_archive.py``, and its Kafka brokers
with ``KAFKA_OPTS`` set to ``TEST_KAFKA_OPTS`` (the quick compiler). Four contenders: the
defaults, the quick compiler alone, both, and both with the archive (the tests' options; the
archive is made first if missing, and the time that takes is printed). A fifth, for the Thrift
server only: the tests' options with Hive's default pool of statement threads (100 threads, an
idle one ended after 10 s) instead of the server's 8 kept alive (services/catalogue.py).
Three workloads the suite repeats, each in a fresh process and VENTES_HOME, contenders
alternated, ``--runs`` each:

- ``session``: a local Spark session with Delta writes 1,000 rows to a table, counts them, stops;
- ``thrift``: a Spark Thrift Server starts until it answers, then ``ventes transform`` (the whole
  dbt build, 30 nodes) runs on an empty Bronze table, then the server stops;
- ``kafka``: a Kafka broker is formatted and started, takes 2,000 sales, and stops;
- ``ingest``: the Bronze job (``python -m ingestion.job``) drains 20,000 sales from a broker of
  its own in micro-batches of 1,000, as the crash test's runs do; only the job is measured.

CPU is the whole machine's busy time (``/proc/stat``) over each step, so run it on an idle machine;
time the host of a virtual machine gave to others (steal) is not counted.

    .venv/bin/python bench/bench_test_jvm.py [--runs 3] [--workloads thrift kafka ingest]
        [--contenders "tests' options"]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fresh_process import run_child
from services.catalogue import THRIFT_STATEMENT_POOL, Service
from tests import jvm_archive
from tests.environment import QUICK_COMPILER_OPTS, TEST_KAFKA_OPTS, TEST_SPARK_SUBMIT_OPTS

WORKLOADS = ("session", "thrift", "kafka", "ingest")
INGEST_SALES, INGEST_BATCH = 20_000, 1_000
HIVE_POOL = "tests' options, Hive's thread pool"


def busy_seconds() -> float:
    """CPU seconds the machine has spent busy since boot: user, nice, system and interrupts; not
    idle, nor waiting for I/O, nor stolen (a virtual machine's CPU time its host gave to others)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq = (int(n) for n in stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def measured(step: Callable[[], object]) -> dict[str, float]:
    begin, cpu = time.monotonic(), busy_seconds()
    step()
    return {"wall": time.monotonic() - begin, "cpu": busy_seconds() - cpu}


def session_workload(home: Path) -> dict[str, dict[str, float]]:
    from ventes import settings as settings_module
    from ventes.spark import new_session

    settings = settings_module.load()

    def step() -> None:
        spark = new_session(settings, "bench-test-jvm", master="local[2]", log_level="ERROR")
        table = str(home / "table")
        spark.range(1000).write.format("delta").save(table)
        assert spark.read.format("delta").load(table).count() == 1000
        spark.stop()

    return {"session": measured(step)}


def _with_hive_pool(thrift: Service) -> Service:
    """The Thrift service, its command without the server's own statement pool: Hive's default."""

    def command(settings) -> list[str]:
        args = thrift.command(settings)
        for option in THRIFT_STATEMENT_POOL:
            at = args.index(option)
            del args[at - 1 : at + 1]  # "--hiveconf", option
        return args

    return dataclasses.replace(thrift, command=command)


def thrift_workload(home: Path) -> dict[str, dict[str, float]]:
    from ingestion.job import ensure_bronze_table
    from stack import processes
    from ventes import settings as settings_module

    settings = settings_module.load()
    settings.make_home()
    ensure_bronze_table(settings)
    thrift = processes.service("thrift")
    if os.environ.get("BENCH_HIVE_POOL"):
        thrift = _with_hive_pool(thrift)
    try:
        start = measured(lambda: processes.start(settings, thrift))
        build = measured(
            lambda: subprocess.run(
                [sys.executable, "-m", "stack.cli", "transform"], capture_output=True, check=True, timeout=900
            )
        )
    finally:
        processes.stop(settings, "thrift")
    return {"thrift start": start, "dbt build": build}


def kafka_workload(home: Path) -> dict[str, dict[str, float]]:
    from ingestion.producer import produce
    from stack import processes
    from ventes import settings as settings_module

    settings = settings_module.load()
    settings.make_home()

    def step() -> None:
        processes.start(settings, processes.service("kafka"))
        try:
            assert produce(settings, 2000, seed=1, progress=False).acknowledged == 2000
        finally:
            processes.stop(settings, "kafka")

    return {"kafka broker": measured(step)}


def ingest_workload(home: Path) -> dict[str, dict[str, float]]:
    from ingestion.producer import produce
    from stack import processes
    from ventes import settings as settings_module
    from ventes.spark import child_env

    settings = settings_module.load()
    settings.make_home()
    processes.start(settings, processes.service("kafka"))
    try:
        assert produce(settings, INGEST_SALES, seed=1, progress=False).acknowledged == INGEST_SALES
        env = {**child_env(settings), "MAX_OFFSETS_PER_TRIGGER": str(INGEST_BATCH)}
        job = [sys.executable, "-m", "ingestion.job"]

        def step() -> None:
            subprocess.run(job, env=env, cwd=settings.project_root, capture_output=True, check=True)

        return {"Bronze job": measured(step)}
    finally:
        processes.stop(settings, "kafka")


def run(workload: str, env: dict[str, str]) -> dict[str, dict[str, float]]:
    return run_child(__file__, "--child", workload, env={"BENCH_HIVE_POOL": "", **env}, timeout=1200)


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):5.1f} ({min(values):.1f}..{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--contenders", nargs="+", help="some of the contenders only, by name")
    parser.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        home = Path(os.environ["VENTES_HOME"])
        workload = {
            "session": session_workload,
            "thrift": thrift_workload,
            "kafka": kafka_workload,
            "ingest": ingest_workload,
        }
        print(json.dumps(workload[args.child](home)))
        return
    begin = time.monotonic()
    archive = jvm_archive.ensure_archive()
    print(f"class archive {archive.name}: ready in {time.monotonic() - begin:.0f} s", flush=True)
    tests_options = f"{TEST_SPARK_SUBMIT_OPTS} {jvm_archive.java_options(archive)}"
    options = {  # contender -> its environment
        "defaults": {"SPARK_SUBMIT_OPTS": "", "KAFKA_OPTS": ""},
        "quick compiler": {"SPARK_SUBMIT_OPTS": QUICK_COMPILER_OPTS, "KAFKA_OPTS": QUICK_COMPILER_OPTS},
        "no code gen": {"SPARK_SUBMIT_OPTS": TEST_SPARK_SUBMIT_OPTS, "KAFKA_OPTS": TEST_KAFKA_OPTS},
        "tests' options": {"SPARK_SUBMIT_OPTS": tests_options, "KAFKA_OPTS": TEST_KAFKA_OPTS},
        HIVE_POOL: {"SPARK_SUBMIT_OPTS": tests_options, "BENCH_HIVE_POOL": "1"},
    }
    unknown = set(args.contenders or ()) - set(options)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; known: {', '.join(options)}")
    options = {name: env for name, env in options.items() if name in (args.contenders or options)}
    results: dict[str, dict[str, list[dict[str, float]]]] = {}  # step -> contender -> runs
    for number in range(args.runs):
        for workload in args.workloads:
            for contender in options:
                if contender == HIVE_POOL and workload != "thrift":
                    continue
                for step, figures in run(workload, options[contender]).items():
                    results.setdefault(step, {}).setdefault(contender, []).append(figures)
                    print(
                        f"run {number + 1} {step} ({contender}): {figures['cpu']:.1f} CPU-s, "
                        f"{figures['wall']:.1f} s",
                        flush=True,
                    )
    print(f"\n{args.runs} runs each, a fresh process and VENTES_HOME each, alternated; median (min..max)")
    width = max(map(len, options))
    print(f"{'step':<14} {'contender':<{width}} {'CPU seconds':<20} {'wall seconds':<20}")
    for step, by_contender in results.items():
        for contender, runs in by_contender.items():
            cpu, wall = _spread([r["cpu"] for r in runs]), _spread([r["wall"] for r in runs])
            print(f"{step:<14} {contender:<{width}} {cpu:<20} {wall:<20}")
        pairs = [(c, "defaults") for c in ("quick compiler", "no code gen", "tests' options")]
        for contender, base in [*pairs, (HIVE_POOL, "tests' options")]:
            if contender in by_contender and base in by_contender:
                ratio = _ratio(by_contender[contender], by_contender[base])
                print(f"{step:<14} CPU, {contender} / {base}: {ratio}")


def _ratio(runs: list[dict[str, float]], base: list[dict[str, float]]) -> str:
    return f"{statistics.median(r['cpu'] / b['cpu'] for r, b in zip(runs, base, strict=True)):.2f}"


if __name__ == "__main__":
    main()
