"""Benchmark: producer events/s for 1,000,000 sales, beside the naive way, in the same run.

The project's way (``ingestion.producer.produce``): events built from the catalogue's
pre-rendered fragments, handed to librdkafka, which batches (``linger.ms``, ``batch.size``)
and compresses as ``ingestion.producer.COMPRESSION`` says, one flush at the end, errors
collected by a delivery callback. The naive way: the same client with its defaults but
idempotence, ``json.dumps`` per event and one ``produce`` + ``flush`` per event, timed on a
smaller count. Both keep idempotent ``acks=all`` sends (librdkafka's default with idempotence).

Each contender runs in a fresh process (a new interpreter and Kafka client), on a topic of its
own, the contenders alternated (A B C A B C ...) ``--runs`` times; medians and the spread
(min..max) are printed, and the ratio to the naive way per round. ``--codecs`` adds the
project's loop with each compression codec librdkafka has. A broker of its own on
free ports, removed at the end.

    .venv/bin/python bench/bench_producer.py [--count 1000000] [--naive-count 5000] [--runs 3] [--codecs]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingestion.events import messages
from ingestion.producer import COMPRESSION, kafka_producer, produce, send_all
from stack import processes
from ventes import jars
from ventes import settings as settings_module
from ventes.kafka_admin import ensure_topic
from ventes.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.ports import reserve_port, start_service

CODECS = ("gzip", "lz4", "zstd", "snappy", "none")


@contextmanager
def own_broker() -> Iterator[Settings]:
    """A Kafka broker on reserved loopback ports with a private VENTES_HOME, removed at the end."""
    home = tempfile.mkdtemp(prefix="ventes-bench-")
    os.environ.update(
        VENTES_HOME=home,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{reserve_port()}",
        KAFKA_CONTROLLER_PORT=str(reserve_port()),
    )
    settings = settings_module.load()
    jars.ensure_jars(settings)
    settings = start_service(settings, "kafka", export=True)
    try:
        yield settings
    finally:
        processes.stop(settings, "kafka")
        shutil.rmtree(home, ignore_errors=True)


def on_topic(settings: Settings, topic: str) -> Settings:
    os.environ["KAFKA_TOPIC"] = topic
    settings = settings_module.load()
    ensure_topic(settings)
    return settings


def naive(settings: Settings, count: int) -> tuple[int, float]:
    """The client's defaults but idempotence; one ``json.dumps``, send and flush per event."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True})
    events = [json.loads(m.value) for m in messages(count, seed=1)]
    begin = time.perf_counter()
    for event in events:
        producer.produce(settings.kafka_topic, json.dumps(event).encode(), str(event["client_id"]).encode())
        producer.flush()
    seconds = time.perf_counter() - begin
    return count, seconds


def codec(settings: Settings, compression: str, count: int) -> tuple[int, float]:
    """The project's sending loop with another codec: (events, seconds)."""
    producer = kafka_producer(settings, {"compression.type": compression})
    begin = time.perf_counter()
    sent, _, failures = send_all(producer, settings.kafka_topic, messages(count, seed=2))
    seconds = time.perf_counter() - begin
    assert not failures, failures[0]
    return sent, seconds


def child(contender: str, count: int) -> dict:
    """One contender in this fresh process."""
    settings = settings_module.load()
    if contender == "project":
        report = produce(settings, count, seed=1, progress=False)
        assert report.acknowledged == report.sent == count
        sent, seconds = report.sent, report.seconds
    elif contender == "naive":
        sent, seconds = naive(settings, count)
    else:
        sent, seconds = codec(settings, contender.removeprefix("codec:"), count)
    return {"sent": sent, "seconds": seconds}


def run(contender: str, broker: Settings, topic: str, count: int) -> dict:
    """``contender`` in a fresh process on a new topic; its figures and the process's wall time."""
    on_topic(broker, topic)
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    begin = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", contender, "--count", str(count)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    wall = time.perf_counter() - begin
    if done.returncode != 0:
        raise SystemExit(f"{contender} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "wall": wall, "rate": result["sent"] / result["seconds"]}


def _spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}..{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--naive-count", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--codecs", action="store_true", help="also the project's loop with each codec")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.count)))
        return

    contenders = {"project": args.count, "naive": args.naive_count}
    if args.codecs:
        contenders.update({f"codec:{c}": args.count for c in CODECS})
    results: dict[str, list[dict]] = {name: [] for name in contenders}
    with own_broker() as broker:
        for number in range(args.runs):
            for name, count in contenders.items():
                topic = f"bench_{name.replace(':', '_')}_{number}"
                results[name].append(run(name, broker, topic, count))
                print(f"run {number + 1} {name}: {results[name][-1]['rate']:,.0f} events/s", flush=True)

    print()
    print(
        f"{args.runs} runs each, a fresh process each, alternated; idempotent acks=all; "
        f"{COMPRESSION or 'no'} compression for the project's way; median (min..max)"
    )
    for name, runs in results.items():
        rates, walls = [r["rate"] for r in runs], [r["wall"] for r in runs]
        print(
            f"{name:<14} {contenders[name]:>10,} events: {_spread(rates):>28} events/s, "
            f"process {_spread(walls, '{:.1f}')} s"
        )
    ratios = [p["rate"] / n["rate"] for p, n in zip(results["project"], results["naive"], strict=True)]
    print(f"ratio project / naive (per round):  {_spread(ratios, '{:.1f}')}x")
    met = "met" if statistics.median(r["rate"] for r in results["project"]) >= 30_000 else "not met"
    print(f"aim: >= 30,000 events/s from one process: {met}")


if __name__ == "__main__":
    main()
