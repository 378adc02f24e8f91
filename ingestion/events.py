"""The sales events: their ids, the fake sales, and the bad records mixed in on demand.

Events are built from the catalogue's pre-rendered JSON fragments (no per-event ``json.dumps``).

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
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from ingestion.catalogue import PRODUCTS, clients

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SEEDED_START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
SEEDED_MEAN_GAP_S = 1.0
QUANTITES = (1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5)
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
