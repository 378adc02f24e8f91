"""CPU seconds spent by each part of the local stack while something runs, from ``psutil``.

A thread samples every process of the machine a few times a second; each process's CPU time
gained since the last sample (from zero for one started during the window) goes to a part
named by its command line as it is then (Airflow names its executor workers after the task
they run), so the figures say which part used the cores: the Thrift server, the dbt build,
the sensor tasks, the scheduler...
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
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
    ("dbt build (ventes command)", r"bin/dbt build"),
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


# Airflow titles a task's processes (the executor worker supervising it, the task runner) with
# the task instance's id; ``by_part`` names them from a map of ids to parts.
TASK_INSTANCE = re.compile(r"airflow worker -- (?:LocalExecutor: )?([0-9a-f]{8}-[0-9a-f-]{27})")


class Sampler:
    """CPU seconds per part, each sample's increase put in the part the process is in *now*
    (an executor worker changes its title with each task it runs)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.seen: dict[tuple[int, float], float] = {}
        self.totals: dict[str, float] = {}
        self.others: dict[str, float] = {}
        self.own_pid = os.getpid()  # the sampler itself is not part of the stack
        self._stop = threading.Event()

    def sample(self, baseline: bool) -> None:
        for proc in psutil.process_iter(["pid", "create_time", "cmdline", "cpu_times"]):
            info = proc.info
            if not info["cpu_times"] or info["pid"] == self.own_pid:
                continue
            key = (info["pid"], info["create_time"])
            cpu = info["cpu_times"].user + info["cpu_times"].system
            before = self.seen.get(key, cpu if baseline else 0.0)
            self.seen[key] = cpu
            if cpu <= before:
                continue
            title = " ".join(info["cmdline"] or [])
            task = TASK_INSTANCE.search(title)
            part = f"task {task.group(1)}" if task else part_of(title)
            self.totals[part] = self.totals.get(part, 0.0) + cpu - before
            if part == "other":
                self.others[title[:160]] = self.others.get(title[:160], 0.0) + cpu - before

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample(baseline=False)

    def by_part(self, tasks: Mapping[str, str]) -> dict[str, float]:
        """Totals per part; ``tasks`` maps task instance ids to parts (others: "other tasks")."""
        named: dict[str, float] = {}
        for part, cpu in self.totals.items():
            if part.startswith("task "):
                part = tasks.get(part.removeprefix("task "), "other Airflow tasks")
            named[part] = named.get(part, 0.0) + cpu
        return dict(sorted(named.items(), key=lambda item: -item[1]))

    def busiest_others(self, count: int = 5) -> list[tuple[float, str]]:
        return sorted(((cpu, title) for title, cpu in self.others.items()), reverse=True)[:count]


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
