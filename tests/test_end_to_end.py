"""The whole pipeline on the real stack, through the real command line.

Kafka and the Spark Thrift Server run as in `ventes up`; sales are produced with `ventes
produce`, read back from Kafka to compute the expected figures independently of Silver, then
`ventes run` ingests and builds, and the dashboard under gunicorn must serve exactly those figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from stack import processes
from tests.environment import env_overrides
from tests.ports import start_service
from ventes import settings as settings_module
from ventes.kafka_admin import ensure_topic
from ventes.settings import Settings

pytestmark = pytest.mark.stack

SALES = 50


def ventes(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "stack.cli", *args],
        env=settings.env_for_children(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"ventes {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def read_topic(settings: Settings, expected: int, timeout: float = 120) -> list[dict]:
    """Every message of the topic, read from the beginning up to its end offsets."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    try:
        parts = [
            TopicPartition(settings.kafka_topic, p)
            for p in consumer.partitions_for_topic(settings.kafka_topic) or ()
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        events = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in parts):
            assert time.monotonic() < deadline, f"{len(events)} of {sum(end.values())} messages in {timeout}s"
            for batch in consumer.poll(timeout_ms=1000).values():
                events += [json.loads(message.value) for message in batch]
    finally:
        consumer.close()
    assert len(events) == expected
    return events


def utc_hour(timestamp: str) -> datetime:
    moment = datetime.fromisoformat(timestamp)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def get_json(settings: Settings, path: str) -> list[dict]:
    url = f"http://{settings.dashboard_host}:{settings.dashboard_port}{path}"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.load(response)


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


@pytest.fixture(scope="module")
def pipeline(kafka: Settings, thrift: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    lake: Path = tmp_path_factory.mktemp("e2e_lake")
    with env_overrides(DELTA_ROOT=str(lake), KAFKA_TOPIC="e2e_ventes"):
        settings = settings_module.load()
        ensure_topic(settings)
        ventes(settings, "produce", "--count", str(SALES), "--seed", "42")
        events = read_topic(settings, SALES)
        ventes(settings, "run")
        settings = start_service(settings, "dashboard")
        try:
            yield settings, events
        finally:
            processes.stop(settings, "dashboard")


def test_aggregated_sales(pipeline: tuple) -> None:
    settings, events = pipeline
    expected: dict[tuple[str, str], list] = defaultdict(lambda: [Decimal(0), 0])
    for e in events:
        expected[(e["produit_nom"], e["pays"])][0] += Decimal(str(e["montant"]))
        expected[(e["produit_nom"], e["pays"])][1] += e["quantite"]
    rows = get_json(settings, "/api/aggregated_sales")
    assert all(set(r) == {"produit_nom", "pays", "total_montant", "total_quantite"} for r in rows)
    got = {(r["produit_nom"], r["pays"]): [money(r["total_montant"]), r["total_quantite"]] for r in rows}
    assert got == {k: [money(m), q] for k, (m, q) in expected.items()}
    assert all(isinstance(r["total_quantite"], int) for r in rows)


def test_top_products(pipeline: tuple) -> None:
    settings, events = pipeline
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for e in events:
        revenue[e["produit_nom"]] += Decimal(str(e["montant"]))
    ranked = sorted(revenue.items(), key=lambda item: (-item[1], item[0]))[:10]
    rows = get_json(settings, "/api/top_products")
    assert [set(r) for r in rows] == [{"produit_nom", "total_montant", "rank"}] * len(ranked)
    assert [(r["rank"], r["produit_nom"], money(r["total_montant"])) for r in rows] == [
        (i, name, money(total)) for i, (name, total) in enumerate(ranked, start=1)
    ]


def test_hourly_sales(pipeline: tuple) -> None:
    settings, events = pipeline
    expected: dict[datetime, list] = defaultdict(lambda: [Decimal(0), 0])
    for e in events:
        expected[utc_hour(e["timestamp"])][0] += Decimal(str(e["montant"]))
        expected[utc_hour(e["timestamp"])][1] += e["quantite"]
    rows = get_json(settings, "/api/hourly_sales")
    got = {datetime.fromisoformat(r["heure"]): [money(r["total_montant"]), r["total_quantite"]] for r in rows}
    assert all(hour.tzinfo is not None and hour.utcoffset().total_seconds() == 0 for hour in got)
    assert got == {k: [money(m), q] for k, (m, q) in expected.items()}


def test_product_by_segment(pipeline: tuple) -> None:
    settings, events = pipeline
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for e in events:
        expected[(e["produit_nom"], e["segment"])] += Decimal(str(e["montant"]))
    rows = get_json(settings, "/api/product_by_segment")
    assert all(set(r) == {"produit", "segment", "montant"} for r in rows)
    assert {(r["produit"], r["segment"]): money(r["montant"]) for r in rows} == {
        k: money(v) for k, v in expected.items()
    }


def test_second_run_adds_nothing(pipeline: tuple) -> None:
    """Running the pipeline again with nothing new in Kafka leaves the figures unchanged."""
    settings, _ = pipeline
    before = get_json(settings, "/api/aggregated_sales")
    ventes(settings, "run")
    assert sorted(map(json.dumps, get_json(settings, "/api/aggregated_sales"))) == sorted(
        map(json.dumps, before)
    )


def test_status_shows_the_running_services(pipeline: tuple) -> None:
    settings, _ = pipeline
    out = ventes(settings, "status").stdout
    for name, port in (("kafka", settings.kafka_host_port[1]), ("thrift", settings.thrift_port)):
        line = next(ln for ln in out.splitlines() if ln.startswith(name))
        assert f":{port}" in line and " up " in line


def test_up_is_idempotent(pipeline: tuple) -> None:
    settings, _ = pipeline
    out = ventes(settings, "up", "kafka", "thrift").stdout
    assert out.count("already running") == 2
