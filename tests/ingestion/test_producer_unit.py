"""Catalogue, event shape and encoding of the producer; no Kafka needed."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ingestion import catalogue
from ingestion.events import BAD_KINDS, EPOCH_MS, SEEDED_START, VALID, VenteIds, messages
from ingestion.producer import check_reachable, produce
from ventes import settings as settings_module
from ventes.contract import SALE_KEYS
from ventes.errors import VentesError


def _events(count: int, **kwargs) -> list[dict]:
    return [json.loads(m.value, parse_float=Decimal) for m in messages(count, **kwargs)]


def test_catalogue_is_fixed_and_consistent() -> None:
    products = catalogue.PRODUCTS
    assert len(products) == 20
    assert len({p.produit_id for p in products}) == len({p.produit_nom for p in products}) == 20
    assert catalogue.product(101).produit_nom == "Ordinateur portable"
    assert all(p.prix > 0 and p.prix == p.prix.quantize(Decimal("0.01")) for p in products)

    clients = catalogue.clients()
    assert len(clients) == catalogue.CLIENT_COUNT == 200
    assert [c.client_id for c in clients] == list(range(1, 201))
    assert {c.segment for c in clients} == {"Particulier", "Professionnel", "Entreprise"}
    assert {c.pays for c in clients} <= {name for name, _ in catalogue.PAYS}
    # Drawn from fixed seeds: the same catalogue in another process, on another machine.
    catalogue.clients.cache_clear()
    assert catalogue.clients() == clients


def test_event_shape_and_catalogue_consistency() -> None:
    clients = {c.client_id: c for c in catalogue.clients()}
    for message, event in zip(messages(500, seed=7), _events(500, seed=7), strict=True):
        assert message.kind == VALID
        assert tuple(event) == SALE_KEYS
        assert message.key == str(event["client_id"]).encode()
        product = catalogue.product(event["produit_id"])
        client = clients[event["client_id"]]
        assert (event["produit_nom"], event["categorie"]) == (product.produit_nom, product.categorie)
        assert (event["client_nom"], event["pays"], event["segment"]) == (
            client.client_nom,
            client.pays,
            client.segment,
        )
        assert isinstance(event["quantite"], int) and event["quantite"] >= 1
        assert event["montant"] == catalogue.montant(product.prix, event["quantite"])
        assert event["montant"].as_tuple().exponent == -2  # always two places on the wire
        assert event["timestamp"].endswith("Z")
        datetime.fromisoformat(event["timestamp"])


def test_same_seed_same_events_except_vente_id() -> None:
    first, second = _events(300, seed=42, bad_ratio=0.0), _events(300, seed=42, bad_ratio=0.0)
    assert [e["vente_id"] for e in first] != [e["vente_id"] for e in second]
    strip = [{k: v for k, v in e.items() if k != "vente_id"} for e in first]
    assert strip == [{k: v for k, v in e.items() if k != "vente_id"} for e in second]
    assert first[0]["timestamp"].startswith(SEEDED_START.strftime("%Y-%m-%dT%H"))
    assert strip != [{k: v for k, v in e.items() if k != "vente_id"} for e in _events(300, seed=43)]


def test_unseeded_events_carry_the_time_of_production() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    (event,) = _events(1)
    after = datetime.now(UTC)
    stamp = datetime.fromisoformat(event["timestamp"])
    stamp = stamp.replace(tzinfo=stamp.tzinfo or UTC)  # naive means UTC (the data contract)
    assert before <= stamp <= after


def test_vente_ids_unique_increasing_and_time_based() -> None:
    began_ms = int(datetime.now(UTC).timestamp() * 1000)
    ids = VenteIds(instance=5)
    drawn = [ids.next() for _ in range(20_000)]  # more than 4096 per millisecond: borrows ahead
    ended_ms = int(datetime.now(UTC).timestamp() * 1000)
    assert drawn == sorted(drawn) and len(set(drawn)) == len(drawn)
    assert all(0 < i < 2**63 for i in drawn)
    assert all((i >> 12) & 0x3FF == 5 for i in drawn)
    # The time in an id is when it was drawn, or up to one millisecond per 4096 ids ahead of it.
    assert began_ms - 1 <= (drawn[0] >> 22) + EPOCH_MS <= ended_ms + 1
    assert (drawn[-1] >> 22) + EPOCH_MS <= ended_ms + len(drawn) // 4096 + 1
    other = VenteIds(instance=6)
    assert not set(drawn) & {other.next() for _ in range(20_000)}


def test_bad_ratio_mixes_in_every_kind() -> None:
    produced = list(messages(4_000, seed=1, bad_ratio=0.3))
    kinds = Counter(m.kind for m in produced)
    assert set(kinds) == {VALID, *BAD_KINDS}
    assert 0.25 < 1 - kinds[VALID] / len(produced) < 0.35
    sales_ids = {json.loads(m.value)["vente_id"] for m in produced if m.kind in (VALID, "late")}
    for m in produced:
        text = m.value.decode()
        if m.kind == "malformed_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(text)
            continue
        event = json.loads(text)
        if m.kind == "not_an_object":
            assert not isinstance(event, dict)
        elif m.kind == "negative_montant":
            assert Decimal(str(event["montant"])) < 0
        elif m.kind == "null_client_id":
            assert event["client_id"] is None and m.key is None
        elif m.kind == "wrong_type":
            assert (
                any(isinstance(event[f], str) for f in ("quantite", "montant", "client_id"))
                or not event["timestamp"][0].isdigit()
            )
        elif m.kind == "duplicate":
            assert event["vente_id"] in sales_ids  # the same sale, sent again


def test_late_events_are_hours_before_their_neighbours() -> None:
    produced = list(messages(3_000, seed=3, bad_ratio=0.5))
    for before, late in itertools.pairwise(produced):
        if late.kind == "late" and before.kind == VALID:
            gap = datetime.fromisoformat(json.loads(before.value)["timestamp"]) - datetime.fromisoformat(
                json.loads(late.value)["timestamp"]
            )
            assert 3600 * 0.9 < gap.total_seconds() < 6 * 3600 + 60
            return
    pytest.fail("no late event after a valid one")


def test_unreachable_broker_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    settings = settings_module.load()
    with pytest.raises(VentesError, match=r"cannot reach Kafka at 127\.0\.0\.1:1 \(is `ventes up`"):
        check_reachable(settings)
    with pytest.raises(VentesError, match="cannot reach Kafka"):
        produce(settings, 10, progress=False)
