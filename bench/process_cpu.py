"""CPU seconds spent by each part of the local stack while something runs, from ``psutil``.

A thread samples every process of the machine a few times a second and keeps, per process
(pid and start time), its CPU time when first and last seen; a process started during the
window counts from zero. Each process is put in a part by its command line (Airflow names its
task processes after their task), so the figures say which part used the cores: the Thrift
server, the dbt build, the sensor tasks, the scheduler...
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

# (part, pattern on the command line), first match wins.
PARTS = (
    ("Thrift server", r"HiveThriftServer2"),
    ("Kafka broker", r"kafka\.Kafka\b"),
    ("Bronze streaming job (JVM)", r"pyspark-shell|SparkSubmit.*ingestion"),
    ("Bronze streaming job (Python)", r"ingestion\.job"),
    ("dashboard", r"gunicorn|dashboard"),
    ("dbt build (Cosmos producer task)", r"dbt_producer_watcher"),
    ("other Airflow tasks (sensors, checks)", r"airflow (task|supervisor|worker).*unified_sales_pipeline"),
    ("Airflow executor workers", r"LocalExecutor|airflow worker"),
    ("Airflow scheduler", r"airflow scheduler"),
    ("Airflow API server", r"api[-_]server|uvicorn"),
    ("Airflow DAG processor", r"dag[-_]processor"),
    ("Airflow triggerer", r"triggerer"),
    ("ventes command (dbt in-process)", r"stack\.cli|bin/ventes"),
)


def part_of(cmdline: str) -> str:
    for part, pattern in PARTS:
        if re.search(pattern, cmdline):
            return part
    return "other"


class Sampler:
    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.first: dict[tuple[int, float], float] = {}
        self.last: dict[tuple[int, float], float] = {}
        self.part: dict[tuple[int, float], str] = {}
        self.titles: dict[tuple[int, float], str] = {}
        self.own_pid = os.getpid()  # the sampler itself is not part of the stack
        self._stop = threading.Event()

    def sample(self, baseline: bool) -> None:
        for proc in psutil.process_iter(["pid", "create_time", "cmdline", "cpu_times"]):
            info = proc.info
            if not info["cpu_times"] or info["pid"] == self.own_pid:
                continue
            key = (info["pid"], info["create_time"])
            cpu = info["cpu_times"].user + info["cpu_times"].system
            if key not in self.first:
                self.first[key] = cpu if baseline else 0.0
                title = " ".join(info["cmdline"] or [])
                self.part[key], self.titles[key] = part_of(title), title[:160]
            self.last[key] = cpu

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample(baseline=False)

    def by_part(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for key, last in self.last.items():
            totals[self.part[key]] = totals.get(self.part[key], 0.0) + last - self.first[key]
        return dict(sorted(totals.items(), key=lambda item: -item[1]))

    def busiest_others(self, count: int = 5) -> list[tuple[float, str]]:
        others = [
            (self.last[k] - self.first[k], self.titles[k]) for k in self.last if self.part[k] == "other"
        ]
        return sorted(others, reverse=True)[:count]


@contextmanager
def cpu_by_part(interval: float = 0.25) -> Iterator[Sampler]:
    """Sample while the block runs; read ``.by_part()`` afterwards."""
    sampler = Sampler(interval)
    sampler.sample(baseline=True)
    thread = threading.Thread(target=sampler.run, name="cpu-sampler", daemon=True)
    thread.start()
    try:
        yield sampler
    finally:
        sampler._stop.set()
        thread.join()
        sampler.sample(baseline=False)
