"""The fixed catalogue the producer draws sales from.

Drawn once and deterministically (a fixed seed for Faker and for the draws), so every run,
process and machine sees the same products and clients: a product always has one name,
category and price, a client one name, country and segment, and ``montant = prix × quantite``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from faker import Faker

CATALOGUE_SEED = 20240101
CLIENT_COUNT = 200


@dataclass(frozen=True)
class Product:
    produit_id: int
    produit_nom: str
    categorie: str
    prix: Decimal

    @property
    def prix_cents(self) -> int:
        return int(self.prix * 100)


@dataclass(frozen=True)
class Client:
    client_id: int
    client_nom: str
    pays: str
    segment: str


PRODUCTS: tuple[Product, ...] = tuple(
    Product(produit_id, nom, categorie, Decimal(prix))
    for produit_id, nom, categorie, prix in (
        (101, "Ordinateur portable", "Electronique", "899.99"),
        (102, "Souris sans fil", "Accessoires", "24.90"),
        (103, "Clavier mecanique", "Accessoires", "89.90"),
        (104, "Casque audio", "Electronique", "149.00"),
        (105, "Livre Data Science", "Livres", "39.90"),
        (106, "Ecran 27 pouces", "Electronique", "279.00"),
        (107, "Smartphone", "Electronique", "699.00"),
        (108, "Tablette", "Electronique", "429.00"),
        (109, "Imprimante laser", "Bureautique", "219.00"),
        (110, "Disque SSD 1 To", "Informatique", "109.90"),
        (111, "Cle USB 64 Go", "Informatique", "14.90"),
        (112, "Webcam HD", "Accessoires", "59.90"),
        (113, "Chaise de bureau", "Mobilier", "249.00"),
        (114, "Bureau assis-debout", "Mobilier", "489.00"),
        (115, "Lampe de bureau", "Mobilier", "34.90"),
        (116, "Enceinte Bluetooth", "Electronique", "79.90"),
        (117, "Livre Python avance", "Livres", "44.90"),
        (118, "Routeur Wi-Fi", "Reseau", "129.00"),
        (119, "Cable HDMI", "Accessoires", "12.90"),
        (120, "Sac a dos ordinateur", "Accessoires", "54.90"),
    )
)

# Weights: most clients are in France, most are private buyers.
PAYS = (
    ("France", 55),
    ("Belgique", 12),
    ("Suisse", 10),
    ("Canada", 8),
    ("Luxembourg", 5),
    ("Allemagne", 4),
    ("Espagne", 3),
    ("Italie", 3),
)
SEGMENTS = (("Particulier", 60), ("Professionnel", 25), ("Entreprise", 15))


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    names, weights = zip(*choices, strict=True)
    return rng.choices(names, weights=weights)[0]


@cache
def clients() -> tuple[Client, ...]:
    """The ``CLIENT_COUNT`` clients, ids 1..N, identical on every call and every machine."""
    fake = Faker("fr_FR")
    fake.seed_instance(CATALOGUE_SEED)
    rng = random.Random(CATALOGUE_SEED)
    return tuple(
        Client(
            client_id,
            f"{fake.first_name()} {fake.last_name()}",
            _weighted(rng, PAYS),
            _weighted(rng, SEGMENTS),
        )
        for client_id in range(1, CLIENT_COUNT + 1)
    )


def product(produit_id: int) -> Product:
    for p in PRODUCTS:
        if p.produit_id == produit_id:
            return p
    raise KeyError(produit_id)


def montant(prix: Decimal, quantite: int) -> Decimal:
    """The amount of a sale line, in euros with 2 places."""
    return (prix * quantite).quantize(Decimal("0.01"))
