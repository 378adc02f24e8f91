"""The Bronze parse's quicker path (``USUAL_EVENT``): which texts it takes; no Spark needed.

Spark matches ``USUAL_EVENT`` with Java's regular expressions; Python's read it alike once
Java's end-of-input ``\\z`` is spelled ``\\Z``. That both paths give the same rows is the
differential test's business (``test_parse_differential.py``).
"""

from __future__ import annotations

import re

from ingestion.bronze import USUAL_EVENT
from ingestion.events import LATE, VALID, messages

USUAL = re.compile(USUAL_EVENT.replace(r"\z", r"\Z"))


def test_the_producers_sales_take_the_quicker_path() -> None:
    produced = list(messages(2_000, seed=7, bad_ratio=0.5))
    sales = [m for m in produced if m.kind in (VALID, LATE)]
    assert sales and all(USUAL.match(m.value.decode()) for m in sales)


def test_texts_the_quicker_path_leaves_to_the_variant_parse() -> None:
    (sale,) = [m.value.decode() for m in messages(1, seed=7)]
    left = [
        sale.replace('"client_id":', '"client_id":"', 1).replace(',"produit_id"', '","produit_id"', 1),
        sale.replace('"montant":', '"montant":1e', 1),
        sale[:-1] + ',"extra":1}',
        sale.replace('"client_nom":"', '"client_nom":"\\u00e9', 1),
        sale + "\u2028",
        "\x0b" + sale,
        sale.replace('"quantite":', '"quantite":null,"q":', 1),
    ]
    assert USUAL.match(sale)
    assert not [text for text in left if USUAL.match(text)]
