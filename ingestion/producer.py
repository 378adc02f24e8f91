"""Fake sales to Kafka, fast.

Events are built from the catalogue's pre-rendered JSON fragments (no per-event ``json.dumps``),
keyed by ``client_id`` with the partition looked up once per client, batched and gzip-compressed
by an idempotent ``acks=all`` producer, flushed once at the end. Delivery failures are collected
by callbacks instead of blocking on each message.

``vente_id`` scheme (64-bit, positive, Snowflake-like), unique across runs and processes::

    41 bits  milliseconds since 2024-01-01T00:00:00Z   (good until 2093)
    10 bits  producer instance, random per run
    12 bits  sequence within the millisecond            (4096 ids/ms; then borrows the next ms)

Within a process ids strictly increase (a clock stepping back never repeats one). Runs one
after the other differ by time; two producers running at the same moment differ by their
instance bits, which clash with probability 1/1024 per pair of simultaneous runs.

With a ``seed`` the events are a replayable data set: clients, products, quantities, bad
records and event times (a simulated clock from ``start``, by default ``SEEDED_START``) are
the same on every run; only ``vente_id`` differs. Without a seed, event times are the real
time of production.
"""

from __future__ import annotations

import json
import random
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from ingestion.catalogue import PRODUCTS, clients
from ventes.errors import VentesError
from ventes.settings import Settings

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SEEDED_START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
SEEDED_MEAN_GAP_S = 1.0
QUANTITES = (1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5)
COMPRESSION = "gzip"  # in the standard library; lz4 and zstd need extra packages (see bench/)
VALID = "valid"
LATE = "late"
DUPLICATE = "duplicate"
BAD_KINDS = (
    "negative_montant",
    "null_client_id",
    "malformed_json",
    "not_an_object",
    "wrong_type",
    DUPLICATE,
    LATE,
)
_RECENT = 1024  # valid messages remembered for duplicates


class VenteIds:
    """Snowflake-like 64-bit ids; see the module docstring."""

    def __init__(self, instance: int | None = None) -> None:
        self.instance = secrets.randbits(10) if instance is None else instance & 0x3FF
        self._ms = 0
        self._seq = 0

    def next(self) -> int:
        ms = int(time.time() * 1000) - EPOCH_MS
        if ms > self._ms:
            self._ms, self._seq = ms, 0
        else:
            self._seq += 1
            if self._seq > 0xFFF:
                self._ms, self._seq = self._ms + 1, 0
        return (self._ms << 22) | (self.instance << 12) | self._seq


class Message(NamedTuple):
    key: bytes | None
    value: bytes
    kind: str  # VALID or one of BAD_KINDS


@dataclass(frozen=True)
class ProduceReport:
    sent: int
    acknowledged: int
    seconds: float
    events_per_second: float
    topic: str = ""
    bad: int = 0


class _Clock:
    """ISO-8601 UTC text of epoch seconds, with the per-second prefix cached."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def iso(self, t: float) -> str:
        second = int(t)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((t - second) * 1000):03d}Z"


def _json(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def messages(
    count: int,
    seed: int | None = None,
    bad_ratio: float = 0.0,
    start: datetime | None = None,
    ids: VenteIds | None = None,
) -> Iterator[Message]:
    """The ``count`` Kafka messages of a run: valid sales, with ``bad_ratio`` of them bad."""
    rng = random.Random(seed)
    rand = rng.random
    ids = ids or VenteIds()
    clock = _Clock()
    simulated = seed is not None or start is not None
    now = (start or SEEDED_START).timestamp() if simulated else 0.0
    client_rows = [
        (
            c.client_id,
            str(c.client_id).encode(),
            f'"client_nom":{_json(c.client_nom)}',
            f'"pays":{_json(c.pays)},"segment":{_json(c.segment)}',
        )
        for c in clients()
    ]
    product_rows = [
        (p.produit_id, p.prix_cents, f'"produit_nom":{_json(p.produit_nom)},"categorie":{_json(p.categorie)}')
        for p in PRODUCTS
    ]
    n_clients, n_products, n_quantites = len(client_rows), len(product_rows), len(QUANTITES)
    recent: list[Message] = []

    for _ in range(count):
        if simulated:
            now += rng.expovariate(1.0 / SEEDED_MEAN_GAP_S)
        else:
            now = time.time()
        kind = VALID if bad_ratio <= 0.0 or rand() >= bad_ratio else BAD_KINDS[int(rand() * len(BAD_KINDS))]
        if kind == DUPLICATE and recent:
            yield recent[int(rand() * len(recent))]._replace(kind=DUPLICATE)
            continue
        if kind == DUPLICATE:  # nothing to repeat yet
            kind = VALID
        client_id, key, client_head, client_tail = client_rows[int(rand() * n_clients)]
        produit_id, prix_cents, product_part = product_rows[int(rand() * n_products)]
        quantite = QUANTITES[int(rand() * n_quantites)]
        cents = prix_cents * quantite
        event_time = now - rng.uniform(3600.0, 6 * 3600.0) if kind == LATE else now
        text = (
            f'{{"vente_id":{ids.next()},"client_id":{client_id},"produit_id":{produit_id},'
            f'"timestamp":"{clock.iso(event_time)}","quantite":{quantite},'
            f'"montant":{cents // 100}.{cents % 100:02d},{client_head},{product_part},{client_tail}}}'
        )
        if kind in (VALID, LATE):
            message = Message(key, text.encode(), kind)
            if len(recent) < _RECENT:
                recent.append(message)
            else:
                recent[int(rand() * _RECENT)] = message
            yield message
        else:
            yield _spoil(rng, kind, key, text, client_id, quantite)


def _spoil(rng: random.Random, kind: str, key: bytes, text: str, client_id: int, quantite: int) -> Message:
    """A bad record made from a valid event's text."""
    if kind == "negative_montant":
        text = text.replace('"montant":', '"montant":-', 1)
    elif kind == "null_client_id":
        text = text.replace(f'"client_id":{client_id},', '"client_id":null,', 1)
        return Message(None, text.encode(), kind)
    elif kind == "malformed_json":
        text = text[: rng.randrange(1, len(text) - 1)]  # no closing brace: never valid JSON
    elif kind == "not_an_object":
        text = rng.choice((f"[{text}]", '"vente"', "42", "null", "true"))
    elif kind == "wrong_type":
        text = rng.choice(
            (
                text.replace(f'"quantite":{quantite},', '"quantite":"deux",', 1),
                text.replace('"montant":', '"montant":"EUR ', 1).replace(
                    ',"client_nom"', '","client_nom"', 1
                ),
                text.replace(f'"client_id":{client_id},', f'"client_id":"C-{client_id}",', 1),
                text.replace('"timestamp":"', '"timestamp":"hier ', 1),
            )
        )
    return Message(key, text.encode(), kind)


def unreachable(settings: Settings) -> VentesError:
    return VentesError(f"cannot reach Kafka at {settings.kafka_bootstrap_servers} (is `ventes up` running?)")


def check_reachable(settings: Settings) -> None:
    """Fail in a second, not after the client's 30 s bootstrap timeout, when no broker listens."""
    from ventes.net import port_open

    for server in settings.kafka_bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        if port_open(host or "localhost", int(port or 9092), timeout=2.0):
            return
    raise unreachable(settings)


def kafka_producer(settings: Settings, **overrides: object):
    """An idempotent, batching, compressing producer; one clear error when Kafka is down."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    config = dict(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="ventes-producer",
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        batch_size=256 * 1024,
        compression_type=COMPRESSION,
        bootstrap_timeout_ms=10_000,
    )
    config.update(overrides)
    try:
        return KafkaProducer(**config)
    except KafkaError as exc:
        raise unreachable(settings) from exc


def _partitioner(producer, topic: str):
    """Partition of a key as Kafka's default partitioner computes it, memoised per client."""
    from kafka.partitioner.default import murmur2

    partitions = sorted(producer.partitions_for(topic))
    cache: dict[bytes, int] = {}

    def partition(key: bytes) -> int:
        found = cache.get(key)
        if found is None:
            found = cache[key] = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
        return found

    return partition


def produce(
    settings: Settings,
    count: int,
    seed: int | None = None,
    rate: float | None = None,
    bad_ratio: float = 0.0,
    progress: bool = True,
    start: datetime | None = None,
) -> ProduceReport:
    """Send ``count`` sales to ``settings.kafka_topic``; print and return the throughput."""
    from kafka.errors import KafkaError
    from tqdm import tqdm

    from ventes.kafka_admin import ensure_topic

    check_reachable(settings)
    try:
        ensure_topic(settings)
    except KafkaError as exc:
        raise unreachable(settings) from exc
    producer = kafka_producer(settings)
    failures: list[BaseException] = []
    sent = bad = 0
    topic = settings.kafka_topic
    bar = tqdm(
        total=count,
        unit="ev",
        file=sys.stderr,
        disable=not progress,
        mininterval=0.5,
        desc=f"producing to {topic}",
    )
    try:
        partition_of = _partitioner(producer, topic)
        send = producer.send
        on_error = failures.append
        begin = time.perf_counter()
        for key, value, kind in messages(count, seed=seed, bad_ratio=bad_ratio, start=start):
            if rate:
                ahead = begin + sent / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
            partition = None if key is None else partition_of(key)
            send(topic, value, key=key, partition=partition).add_errback(on_error)
            sent += 1
            bad += kind not in (VALID, LATE)
            if sent % 2048 == 0:
                bar.update(2048)
        producer.flush()
        seconds = time.perf_counter() - begin
        bar.update(sent - bar.n)
    except KafkaError as exc:
        raise VentesError(
            f"producing to {topic} at {settings.kafka_bootstrap_servers} failed: {exc}"
        ) from exc
    finally:
        bar.close()
        producer.close(timeout=10)
    if failures:
        raise VentesError(
            f"{len(failures)} of {sent} events were not acknowledged by Kafka "
            f"({settings.kafka_bootstrap_servers}): {failures[0]}"
        )
    report = ProduceReport(
        sent=sent,
        acknowledged=sent - len(failures),
        seconds=seconds,
        events_per_second=sent / seconds if seconds else float("inf"),
        topic=topic,
        bad=bad,
    )
    print(
        f"produced {report.sent} events to {topic} ({report.bad} bad) in {report.seconds:.2f}s: "
        f"{report.events_per_second:,.0f} events/s, {report.acknowledged} acknowledged"
    )
    return report
