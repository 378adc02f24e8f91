"""Benchmark: the test suite's Spark drivers with its options, against the JVM's and Spark's defaults.

The suite starts its Spark drivers with ``SPARK_SUBMIT_OPTS`` set to
``tests.environment.TEST_SPARK_SUBMIT_OPTS`` (the JVM's quick compiler only, and no Spark code
generation) and the class-data-sharing archive of ``tests/jvm_archive.py``. Four contenders: the
defaults, the quick compiler alone, both, and both with the archive (the tests' options; the
archive is made first if missing, and the time that takes is printed).
Two workloads the suite repeats, each in a fresh process and VENTES_HOME, contenders alternated,
``--runs`` each:

- ``session``: a local Spark session with Delta writes 1,000 rows to a table, counts them, stops;
- ``thrift``: a Spark Thrift Server starts until it answers, then ``ventes transform`` (the whole
  dbt build, 30 nodes) runs on an empty Bronze table, then the server stops.

CPU is the whole machine's busy time (``/proc/stat``) over each step, so run it on an idle machine.

    .venv/bin/python bench/bench_test_jvm.py [--runs 3]
"""

from __future__ import annotations

import argparse
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
from tests import jvm_archive
from tests.environment import QUICK_COMPILER_OPTS, TEST_SPARK_SUBMIT_OPTS

WORKLOADS = ("session", "thrift")


def busy_seconds() -> float:
    """CPU seconds the machine has spent busy (not idle, not waiting for I/O) since boot."""
    with open("/proc/stat") as stat:
        ticks = [int(n) for n in stat.readline().split()[1:9]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks) - idle - iowait) / os.sysconf("SC_CLK_TCK")


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


def thrift_workload(home: Path) -> dict[str, dict[str, float]]:
    from ingestion.job import ensure_bronze_table
    from stack import processes
    from ventes import settings as settings_module

    settings = settings_module.load()
    settings.make_home()
    ensure_bronze_table(settings)
    thrift = processes.service("thrift")
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


def run(workload: str, options: str) -> dict[str, dict[str, float]]:
    return run_child(__file__, "--child", workload, env={"SPARK_SUBMIT_OPTS": options}, timeout=1200)


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):5.1f} ({min(values):.1f}..{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        home = Path(os.environ["VENTES_HOME"])
        workload = session_workload if args.child == "session" else thrift_workload
        print(json.dumps(workload(home)))
        return
    begin = time.monotonic()
    archive = jvm_archive.ensure_archive()
    print(f"class archive {archive.name}: ready in {time.monotonic() - begin:.0f} s", flush=True)
    options = {  # contender -> SPARK_SUBMIT_OPTS
        "defaults": "",
        "quick compiler": QUICK_COMPILER_OPTS,
        "no code gen": TEST_SPARK_SUBMIT_OPTS,
        "tests' options": f"{TEST_SPARK_SUBMIT_OPTS} {jvm_archive.java_options(archive)}",
    }
    results: dict[str, dict[str, list[dict[str, float]]]] = {}  # step -> contender -> runs
    for number in range(args.runs):
        for workload in WORKLOADS:
            for contender in options:
                for step, figures in run(workload, options[contender]).items():
                    results.setdefault(step, {}).setdefault(contender, []).append(figures)
                    print(
                        f"run {number + 1} {step} ({contender}): {figures['cpu']:.1f} CPU-s, "
                        f"{figures['wall']:.1f} s",
                        flush=True,
                    )
    print(f"\n{args.runs} runs each, a fresh process and VENTES_HOME each, alternated; median (min..max)")
    print(f"{'step':<14} {'contender':<15} {'CPU seconds':<20} {'wall seconds':<20}")
    for step, by_contender in results.items():
        for contender, runs in by_contender.items():
            cpu, wall = _spread([r["cpu"] for r in runs]), _spread([r["wall"] for r in runs])
            print(f"{step:<14} {contender:<15} {cpu:<20} {wall:<20}")
        default = by_contender["defaults"]
        for contender in list(options)[1:]:
            runs = by_contender[contender]
            ratio = statistics.median(r["cpu"] / d["cpu"] for r, d in zip(runs, default, strict=True))
            print(f"{step:<14} CPU, {contender} / defaults: {ratio:.2f}")


if __name__ == "__main__":
    main()
